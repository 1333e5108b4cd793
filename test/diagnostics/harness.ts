/**
 * A running agent with its diagnostics server for HTTP and browser tests: real clock (so the
 * server, the scheduler and the runner interact for real), real SQLite in a temp dir, the simulator
 * modem scripted to answer and hang up within a fraction of a second, and a real HTTP(S) port.
 * Requests go through node:http / node:https, so tests can pin the unit's certificate and forge a
 * Host header the way a rebinding page would.
 */
import { createHash, createPublicKey, randomBytes, X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { checkServerIdentity, type PeerCertificate } from 'node:tls';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent } from '../../agent/app.js';
import { SystemClock } from '../../agent/clock.js';
import { parseConfig, type ConfigInput } from '../../agent/config/config.js';
import { createLogger, LogRing } from '../../agent/log.js';
import type { DialPolicy } from '../../agent/policy/dial-policy.js';
import { DiagnosticsMetrics, DiagnosticsService } from '../../agent/diagnostics/index.js';
import type { DiagnosticsLink } from '../../agent/diagnostics/actions.js';
import { TechnicianRevocations } from '../../agent/technician/revocations.js';
import { tlsDir } from '../../agent/diagnostics/tls-identity.js';
import { generateSigningKeyPair, loadPrivateKey } from '../../sync/contract/signing.js';
import {
  encodeTechnicianToken,
  technicianKeyId,
  type TechnicianClaimsInput,
} from '../../sync/contract/technician.js';
import { SimulatorAudio, SimulatorModem } from '../../hal/simulator/index.js';
import { LogSink, permissivePolicy } from '../support/engine.js';

export const TOKEN = 'test-token-0123456789abcdef';
/** A number the permissive test policy allows; the simulator answers it. */
export const GOOD_NUMBER = '+4915123456789';

/** The technician authority of the tests: its public key is pinned in every test unit's config. */
export const AUTHORITY = generateSigningKeyPair();
const authorityKey = loadPrivateKey(AUTHORITY.privateKeyPem);
export const AUTHORITY_KID = technicianKeyId(createPublicKey(authorityKey));

/** A token signed by the test authority: good for `unit` for 8 h from now, unless overridden. */
export function technicianToken(
  over: Partial<TechnicianClaimsInput> & { unit?: string } = {},
  key = authorityKey,
): string {
  const now = Math.floor(Date.now() / 1000);
  const { unit, ...rest } = over;
  return encodeTechnicianToken(
    {
      typ: 'companion.technician',
      kid: technicianKeyId(createPublicKey(key)),
      tid: randomBytes(12).toString('base64url'),
      name: 'anna',
      units: [unit ?? 'dev-unit'],
      allow: ['read', 'test-call', 'replay', 'resync', 'modem-reset', 'speaker-test', 'mic-test'],
      iat: now - 60,
      exp: now + 8 * 3600,
      ...rest,
    },
    key,
  );
}

export interface DiagOptions {
  config?: ConfigInput;
  link?: DiagnosticsLink | null;
  policy?: DialPolicy;
  /** Leave the token unset so the service generates one. */
  noToken?: boolean;
  dir?: string;
  modem?: SimulatorModem;
}

export interface RequestOptions {
  body?: unknown;
  rawBody?: string;
  token?: string | null;
  contentType?: string;
  /** Override the Host header. */
  host?: string;
}

export interface Answer {
  status: number;
  headers: Headers;
  text: string;
  json: never;
}

/** One HTTP(S) request; with `ca` the server's certificate must chain to it (pinning). */
export function rawRequest(
  url: string,
  method: string,
  o: RequestOptions & {
    ca?: string;
    /** Accept the server by the SHA-256 of its public key (base64) instead of its names. */
    pinSpki?: string;
  } = {},
): Promise<Answer> {
  const headers: Record<string, string> = {};
  if (o.token !== undefined && o.token !== null) headers.authorization = `Bearer ${o.token}`;
  let body: string | undefined;
  if (o.rawBody !== undefined) body = o.rawBody;
  else if (o.body !== undefined) body = JSON.stringify(o.body);
  if (body !== undefined) {
    headers['content-type'] = o.contentType ?? 'application/json';
    headers['content-length'] = String(Buffer.byteLength(body));
  }
  if (o.host !== undefined) headers.host = o.host;
  const u = new URL(url);
  const send = u.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const req = send(
      u,
      {
        method,
        headers,
        ...(u.protocol === 'https:' && o.ca
          ? {
              ca: o.ca,
              // Verify against the address dialled (not a forged Host header), or by the pin.
              checkServerIdentity: (_host: string, cert: PeerCertificate) =>
                o.pinSpki
                  ? spkiOf(cert) === o.pinSpki
                    ? undefined
                    : new Error('certificate public key does not match the pin')
                  : checkServerIdentity(u.hostname.replace(/^\[|\]$/g, ''), cert),
            }
          : {}),
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let json: unknown = null;
          try {
            json = JSON.parse(text);
          } catch {
            json = null;
          }
          resolve({
            status: res.statusCode ?? 0,
            headers: toHeaders(res.headers),
            text,
            json: json as never,
          });
        });
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

function spkiOf(cert: PeerCertificate): string {
  const spki = new X509Certificate(cert.raw).publicKey.export({ type: 'spki', format: 'der' });
  return createHash('sha256').update(spki).digest('base64');
}

function toHeaders(h: IncomingHttpHeaders): Headers {
  const out = new Headers();
  for (const [k, v] of Object.entries(h)) {
    if (v !== undefined) out.set(k, Array.isArray(v) ? v.join(', ') : v);
  }
  return out;
}

export async function startDiagnostics(opts: DiagOptions = {}) {
  const dir = opts.dir ?? mkdtempSync(join(tmpdir(), 'companion-diag-'));
  const given = (opts.config ?? {}) as Record<string, unknown>;
  const givenDiag = (given.diagnostics as Record<string, unknown> | undefined) ?? {};
  const config = parseConfig({
    ...given,
    dataDir: dir,
    diagnostics: {
      port: 0,
      // The tests poll; the 429 tests set their own small buckets.
      rateLimit: { perSecond: 1000, burst: 1000 },
      ...(opts.noToken ? {} : { token: TOKEN }),
      ...givenDiag,
      technician: {
        authorityKeys: [AUTHORITY.publicKeyBase64],
        failureBurst: 1000,
        ...((givenDiag.technician as object | undefined) ?? {}),
      },
    },
  });
  const clock = new SystemClock(config.clock.offsetMs);
  const ring = new LogRing(config.diagnostics.logBufferLines);
  const sink = new LogSink();
  const logger = createLogger({ level: 'debug', destination: sink, ring });
  const modem =
    opts.modem ??
    new SimulatorModem({
      timers: clock,
      recoveryMs: 200,
      defaultRule: { outcome: 'answer', alertAfterMs: 10, answerAfterMs: 40, hangupAfterMs: 120 },
    });
  const audio = new SimulatorAudio({ timers: clock });
  const policy = opts.policy ?? permissivePolicy();
  const metrics = new DiagnosticsMetrics();
  const agent = new Agent({
    config,
    clock,
    logger,
    modem,
    audio,
    dialGuard: policy,
    observe: metrics.observers(),
  });
  await agent.start();
  const revocations = new TechnicianRevocations(agent.store);
  const service = new DiagnosticsService({
    config: config.diagnostics,
    dataDir: dir,
    agent,
    audio,
    revocations,
    clock,
    logger,
    dialGuard: policy,
    metrics,
    logRing: ring,
    link: opts.link ?? null,
  });
  try {
    await service.start();
  } catch (err) {
    await agent.stop();
    if (!opts.dir) rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  const url = service.url;
  let stopped = false;
  const ca = (): string | undefined => {
    const t = service.tlsIdentity();
    return t ? readCert(dir, config.diagnostics.tls.certFile) : undefined;
  };

  function request(method: string, path: string, o: RequestOptions = {}) {
    return rawRequest(url + path, method, {
      ...o,
      token: o.token === undefined ? TOKEN : o.token,
      ca: ca(),
    });
  }

  return {
    agent,
    modem,
    audio,
    clock,
    config,
    dir,
    sink,
    ring,
    metrics,
    service,
    revocations,
    url,
    request,
    /** The served certificate (PEM), when TLS is on. */
    ca,
    /** What a refused request must not change: runs, outbox, dials. */
    fingerprint() {
      const store = agent.store;
      return JSON.stringify({
        runs: store.runs.statusCounts(),
        outbox: store.outbox.recent(1)[0]?.seq ?? 0,
        dials: modem.dials.length,
      });
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      await service.stop();
      await agent.stop();
      if (!opts.dir) rmSync(dir, { recursive: true, force: true });
    },
  };
}

function readCert(dir: string, provisioned: string | undefined): string {
  return readFileSync(provisioned ?? join(tlsDir(dir), 'cert.pem'), 'utf8');
}

export type Diag = Awaited<ReturnType<typeof startDiagnostics>>;

export { until } from '../support/until.js';
