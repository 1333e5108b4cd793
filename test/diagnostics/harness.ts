/**
 * A running agent with its diagnostics server for HTTP and browser tests: real clock (so the
 * server, the scheduler and the runner interact for real), real SQLite in a temp dir, the simulator
 * modem scripted to answer and hang up within a fraction of a second, and a real HTTP port.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent } from '../../agent/app.js';
import { SystemClock } from '../../agent/clock.js';
import { parseConfig, type ConfigInput } from '../../agent/config/config.js';
import { createLogger, LogRing } from '../../agent/log.js';
import type { DialPolicy } from '../../agent/policy/dial-policy.js';
import { DiagnosticsMetrics, DiagnosticsService } from '../../agent/diagnostics/index.js';
import type { DiagnosticsLink } from '../../agent/diagnostics/actions.js';
import { SimulatorAudio, SimulatorModem } from '../../hal/simulator/index.js';
import { LogSink, permissivePolicy } from '../support/engine.js';

export const TOKEN = 'test-token-0123456789abcdef';
/** A number the permissive test policy allows; the simulator answers it. */
export const GOOD_NUMBER = '+4915123456789';

export interface DiagOptions {
  config?: ConfigInput;
  link?: DiagnosticsLink | null;
  policy?: DialPolicy;
  /** Leave the token unset so the service generates one. */
  noToken?: boolean;
  dir?: string;
}

export async function startDiagnostics(opts: DiagOptions = {}) {
  const dir = opts.dir ?? mkdtempSync(join(tmpdir(), 'companion-diag-'));
  const given = (opts.config ?? {}) as Record<string, unknown>;
  const config = parseConfig({
    ...given,
    dataDir: dir,
    diagnostics: {
      port: 0,
      // The tests poll; the 429 test sets its own small bucket.
      rateLimit: { perSecond: 1000, burst: 1000 },
      ...(opts.noToken ? {} : { token: TOKEN }),
      ...((given.diagnostics as object | undefined) ?? {}),
    },
  });
  const clock = new SystemClock(config.clock.offsetMs);
  const ring = new LogRing(config.diagnostics.logBufferLines);
  const sink = new LogSink();
  const logger = createLogger({ level: 'debug', destination: sink, ring });
  const modem = new SimulatorModem({
    timers: clock,
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
  const service = new DiagnosticsService({
    config: config.diagnostics,
    dataDir: dir,
    agent,
    clock,
    logger,
    dialGuard: policy,
    metrics,
    logRing: ring,
    link: opts.link ?? null,
  });
  await service.start();
  const url = service.url;
  let stopped = false;

  async function request(
    method: string,
    path: string,
    o: { body?: unknown; rawBody?: string; token?: string | null; contentType?: string } = {},
  ) {
    const headers: Record<string, string> = {};
    const token = o.token === undefined ? TOKEN : o.token;
    if (token !== null) headers.authorization = `Bearer ${token}`;
    let body: string | undefined;
    if (o.rawBody !== undefined) body = o.rawBody;
    else if (o.body !== undefined) body = JSON.stringify(o.body);
    if (body !== undefined) headers['content-type'] = o.contentType ?? 'application/json';
    const res = await fetch(url + path, {
      method,
      headers,
      ...(body !== undefined ? { body } : {}),
    });
    const text = await res.text();
    let json: Record<string, unknown> | null = null;
    try {
      json = JSON.parse(text) as Record<string, unknown>;
    } catch {
      json = null;
    }
    return { status: res.status, headers: res.headers, text, json: json as never };
  }

  return {
    agent,
    modem,
    clock,
    config,
    dir,
    sink,
    ring,
    metrics,
    service,
    url,
    request,
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

export type Diag = Awaited<ReturnType<typeof startDiagnostics>>;

export { until } from '../support/until.js';
