/**
 * The diagnostics endpoint as one component the wiring starts after the agent and stops before it:
 * resolves the local token and the TLS identity, builds technician access (token verifier, audit
 * trail, hardware checks, history), starts the system-readings cache and the HTTP(S) server, and
 * feeds the metrics.
 */
import type { KeyObject } from 'node:crypto';
import type { Agent } from '../app.js';
import type { Clock } from '../clock.js';
import type { Logger, LogRing } from '../log.js';
import type { DialGuard } from '../lifecycle/lifecycle.js';
import type { Audio } from '../../hal/types.js';
import { loadPublicKey } from '../../sync/contract/signing.js';
import { technicianKeyId } from '../../sync/contract/technician-scopes.js';
import { TechnicianAudit } from '../technician/audit.js';
import { TechnicianRevocations } from '../technician/revocations.js';
import type { TechnicianVerifier } from '../technician/verify.js';
import { VERSION } from '../version.js';
import { DiagnosticsActions, type DiagnosticsLink } from './actions.js';
import { Authenticator, type Principal } from './auth.js';
import { CallAudioWatch } from './call-audio-watch.js';
import type { HardwareChecks } from './checks.js';
import { servesTls, type DiagnosticsConfig } from './config.js';
import { HistoryRepo } from './history-repo.js';
import { HistoryRecorder, type LinkSample } from './history.js';
import { HostGuard } from './host-check.js';
import type { DiagnosticsMetrics } from './metrics.js';
import { loadPage, type Page } from './page.js';
import { buildRoutes } from './routes.js';
import { buildTechnicianRoutes } from './routes-technician.js';
import { DiagnosticsHttpServer } from './server.js';
import { SystemInfoCache } from './system-info.js';
import { loadOrCreateTlsIdentity, tlsFacts, type TlsIdentity } from './tls-identity.js';
import { resolveToken } from './token.js';

export interface DiagnosticsServiceDeps {
  config: DiagnosticsConfig;
  dataDir: string;
  agent: Agent;
  audio: Audio;
  clock: Clock;
  logger: Logger;
  dialGuard: DialGuard;
  metrics: DiagnosticsMetrics;
  logRing?: LogRing | null;
  link?: DiagnosticsLink | null;
  /** The revocation list the cloud pushes (shared with the control handler); made here if absent. */
  revocations?: TechnicianRevocations | null;
  version?: string;
}

interface Running {
  http: DiagnosticsHttpServer;
  system: SystemInfoCache;
  history: HistoryRecorder | null;
  callAudio: CallAudioWatch;
}

export class DiagnosticsService {
  private r: Running | null = null;
  private baseUrl: string | null = null;
  private tls: TlsIdentity | null = null;
  private readonly signedIn = new Set<string>();
  private readonly log: Logger;

  constructor(private readonly d: DiagnosticsServiceDeps) {
    this.log = d.logger.child({ component: 'diagnostics' });
  }

  async start(): Promise<void> {
    const { config, logger, agent, clock } = this.d;
    if (!config.enabled || this.r) return;
    const token = resolveToken(config, this.d.dataDir);
    if (token.warning) this.log.warn(token.warning);
    if (servesTls(config)) {
      this.tls = await loadOrCreateTlsIdentity({
        dataDir: this.d.dataDir,
        certFile: config.tls.certFile,
        keyFile: config.tls.keyFile,
        unitId: agent.config.unitId,
        names: config.names,
      });
      if (this.tls.warning) this.log.warn(this.tls.warning);
    }
    const store = agent.store;
    const revocations = this.d.revocations ?? new TechnicianRevocations(store);
    const tc = config.technician;
    const keys: KeyObject[] = tc.authorityKeys.map((k) => loadPublicKey(k));
    const floor = Date.parse(agent.config.clock.floor);
    const keyIds = keys.map((k) => technicianKeyId(k));
    // Only technicians need the token schemas and the checks: both load on first use.
    let verifier: Promise<TechnicianVerifier> | null = null;
    const loadVerifier = () =>
      (verifier ??= import('../technician/verify.js').then(
        ({ TechnicianVerifier }) =>
          new TechnicianVerifier({
            keys,
            unitId: agent.config.unitId,
            sites: tc.sites,
            maxTtlSec: tc.maxTtlHours * 3600,
            skewSec: tc.clockSkewSec,
            revocations,
            time: () => ({
              now: clock.now(),
              trusted: agent.clockState()?.trusted === true,
              atLeast: Math.max(floor, agent.trust.highestSeen()),
            }),
          }),
      ));
    const auth = new Authenticator({
      localToken: token.token,
      localTokenPolicy: tc.localToken,
      verifier: loadVerifier,
      failures: { burst: tc.failureBurst, refillSec: tc.failureRefillSec },
    });
    const audit = new TechnicianAudit(store);
    const callUp = () => agent.runner.busy() !== null || agent.modem.status().state === 'in_call';
    let checks: Promise<HardwareChecks> | null = null;
    const loadChecks = () =>
      (checks ??= import('./checks.js').then(
        ({ HardwareChecks }) =>
          new HardwareChecks({
            modem: agent.modem,
            audio: this.d.audio,
            callUp,
            audit,
            clock,
            logger,
          }),
      ));
    const callAudio = new CallAudioWatch({
      modem: agent.modem,
      audio: this.d.audio,
      currentRun: () => agent.runner.busy()?.runId ?? null,
    });
    const history = config.history.enabled
      ? new HistoryRecorder({
          clock,
          modem: agent.modem,
          link: () => {
            const l = this.d.link;
            return linkSample(l ? (l.connection ? l.connection() : l.state()) : undefined);
          },
          repo: new HistoryRepo(store),
          clockTrusted: () => agent.clockState()?.trusted !== false,
          flushMinutes: config.history.flushMinutes,
          keepHours: config.history.keepHours,
          logger,
        })
      : null;
    const system = new SystemInfoCache({
      clock,
      logger,
      refreshMs: config.system.refreshSec * 1000,
      callTimeoutMs: config.system.callTimeoutMs,
      paths: [this.d.dataDir, '/'],
    });
    const access = () => ({
      tls: this.tls ? tlsFacts(this.tls) : null,
      technician: {
        authorityKeys: keyIds,
        sites: tc.sites,
        localToken: tc.localToken,
        revocations: revocationFacts(revocations),
      },
    });
    const actions = new DiagnosticsActions({
      agent,
      clock,
      logger,
      dialGuard: this.d.dialGuard,
      system,
      logRing: this.d.logRing ?? null,
      link: this.d.link ?? null,
      version: this.d.version ?? VERSION,
      audit,
      access,
    });
    // The page is read on its first request (a unit nobody visits never holds it).
    let page: Page | null = null;
    const http = new DiagnosticsHttpServer({
      config,
      auth,
      hosts: new HostGuard({
        unitId: agent.config.unitId,
        names: config.names,
        bindHost: config.host,
      }),
      tls: this.tls,
      logger,
      routes: [
        ...buildRoutes({ actions, metrics: this.d.metrics, page: () => (page ??= loadPage()) }),
        ...buildTechnicianRoutes({
          agent,
          checks: loadChecks,
          history,
          audit,
          callAudio,
          unit: () => ({ unitId: agent.config.unitId, ...access() }),
        }),
      ],
      onPrincipal: (p, client) => this.recordSignIn(audit, p, client),
    });
    const addr = await http.start();
    this.d.metrics.attach(() => actions.metricReadings());
    system.start();
    callAudio.start();
    history?.start();
    this.r = { http, system, history, callAudio };
    const host = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
    this.baseUrl = `${this.tls ? 'https' : 'http'}://${host}:${addr.port}`;
    this.log.info(
      {
        url: this.baseUrl,
        tokenSource: token.source,
        tokenFile: token.path,
        tls: this.tls
          ? { source: this.tls.source, sha256: this.tls.sha256, spkiSha256: this.tls.spkiSha256 }
          : null,
        technicianKeys: keyIds,
      },
      token.source === 'generated'
        ? `diagnostics listening; a new token was written to ${token.path}`
        : 'diagnostics listening',
    );
  }

  async stop(): Promise<void> {
    const r = this.r;
    if (!r) return;
    this.r = null;
    r.system.stop();
    r.callAudio.stop();
    this.d.metrics.detach();
    await r.http.stop();
    // Last: the samples still in memory are written while the store is open.
    r.history?.stop();
  }

  /** http(s)://host:port once started (tests use it with port 0). */
  get url(): string {
    if (!this.baseUrl) throw new Error('diagnostics not started');
    return this.baseUrl;
  }

  /** The TLS identity's public facts (null: plain HTTP on loopback, or not started). */
  tlsIdentity(): ReturnType<typeof tlsFacts> | null {
    return this.tls ? tlsFacts(this.tls) : null;
  }

  /** The history recorder (tests drive it with a fake clock). */
  get history(): HistoryRecorder | null {
    return this.r?.history ?? null;
  }

  /** A technician token's first use in this run is an audit entry and an outbox event. */
  private recordSignIn(audit: TechnicianAudit, p: Principal, client: string): void {
    if (p.kind !== 'technician' || this.signedIn.has(p.tokenId)) return;
    this.signedIn.add(p.tokenId);
    if (this.signedIn.size > 1000) this.signedIn.clear();
    audit.record({
      action: 'sign-in',
      technician: p.name,
      tokenId: p.tokenId,
      client,
      outcome: 'ok',
      detail: { scopes: p.scopes, expiresAt: new Date(p.expiresAt).toISOString() },
      at: this.d.clock.now(),
    });
    this.log.info({ by: p.name, tokenId: p.tokenId, client }, 'technician signed in');
  }
}

function linkSample(state: unknown): LinkSample | null {
  if (state === null || typeof state !== 'object') return null;
  const s = state as { enabled?: unknown; connected?: unknown; connectedSince?: unknown };
  return {
    enabled: s.enabled !== false,
    connected: s.connected === true,
    connectedSince: typeof s.connectedSince === 'number' ? s.connectedSince : null,
  };
}

function revocationFacts(r: TechnicianRevocations): Record<string, unknown> | null {
  const h = r.current();
  return h
    ? {
        version: h.version,
        issuedAt: new Date(h.issuedAt).toISOString(),
        receivedAt: new Date(h.receivedAt).toISOString(),
        tokens: h.tokens.size,
        technicians: h.technicians.size,
      }
    : null;
}
