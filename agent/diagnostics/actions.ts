/**
 * What the technician can read and do, as plain functions over the running agent. Nothing here
 * knows about HTTP: inputs are already parsed, failures are DiagnosticsError with a domain code
 * (errors.ts maps them to status codes). Every action is logged and reported through the outbox.
 */
import type { CallAudioStatus } from '../../hal/call-audio.js';
import type { Agent } from '../app.js';
import type { Clock } from '../clock.js';
import type { RestartHoldState } from '../restart-hold.js';

/** The restart hold as the technician reads it: its state, and since/until as ISO instants. */
export interface RestartHoldView {
  state: RestartHoldState['state'];
  since?: string;
  until?: string;
}

function restartHoldView(h: RestartHoldState | null): RestartHoldView | null {
  if (!h) return null;
  const iso = (t: number) => new Date(t).toISOString();
  if (h.state === 'open') return { state: 'open' };
  if (h.state === 'waiting') return { state: 'waiting', since: iso(h.since) };
  return { state: 'held', since: iso(h.since), until: iso(h.until) };
}
import type { Logger, LogRing } from '../log.js';
import type { DialGuard } from '../lifecycle/lifecycle.js';
import { maskPhone } from '../policy/phone.js';
import {
  linkView,
  modemView,
  nextCalls,
  recentOutcomes,
  runView,
  unitStatus,
  type RunView,
  type UnitStatus,
} from '../status.js';
import type { TechnicianAudit } from '../technician/audit.js';
import type { Actor } from './checks.js';
import { DiagnosticsError } from './errors.js';
import { judgeReadiness, judgeVerdict, type Readiness, type Verdict } from './health.js';
import type { SystemInfoCache, SystemSnapshot } from './system-info.js';
import type { MetricReadings } from './metrics.js';

/** Payload of the `operator.action` event an action writes (one builder, STYLE 11). */
export function operatorActionPayload(
  action: 'resync',
  requestedBy: string,
  at: number,
): Record<string, unknown> {
  return { action, requestedBy, via: 'diagnostics', at: new Date(at).toISOString() };
}

/** The MQTT link as diagnostics sees it (sync/ provides it; absent when MQTT is off). */
export interface DiagnosticsLink {
  state(): unknown;
  /** Connected and since when only, without the store's counts (the per-minute history sample). */
  connection?(): unknown;
  requestResync(): Promise<void> | void;
}

export interface ActionDeps {
  agent: Agent;
  clock: Clock;
  logger: Logger;
  dialGuard: DialGuard;
  system: SystemInfoCache;
  logRing: LogRing | null;
  link: DiagnosticsLink | null;
  version: string;
  audit: TechnicianAudit;
  /** Facts about technician access for /v1/status (TLS fingerprint, trusted keys, revocations). */
  access: () => Record<string, unknown>;
}

export interface TestCallInput {
  callee: string;
}

const HOUR_MS = 3_600_000;
const LEVELS: Record<string, number> = {
  trace: 10,
  debug: 20,
  info: 30,
  warn: 40,
  error: 50,
  fatal: 60,
};

export class DiagnosticsActions {
  private readonly log: Logger;

  constructor(private readonly d: ActionDeps) {
    this.log = d.logger.child({ component: 'diagnostics' });
  }

  /** The event loop answered (we are running) and the database answers a query. */
  liveness(): { alive: true; store: 'ok' } {
    const err = this.storeCheck().detail;
    if (err) throw new DiagnosticsError('unavailable', err);
    return { alive: true, store: 'ok' };
  }

  readiness(): Readiness {
    const { agent } = this.d;
    return judgeReadiness(this.storeCheck(), agent.clockState(), modemView(agent.modem.status()));
  }

  status(): UnitStatus & {
    verdict: Verdict;
    ready: Readiness;
    audio: CallAudioStatus | null;
    access: Record<string, unknown>;
    restartHold: RestartHoldView | null;
  } {
    const { agent, clock } = this.d;
    const s = unitStatus(agent.store, {
      unitId: agent.config.unitId,
      version: this.d.version,
      now: clock.now(),
      clock: agent.clockState(),
      uptimeMs: agent.uptimeMs(),
      modem: agent.modem.status(),
      mqtt: this.mqtt(),
    });
    const ready = this.readiness();
    const audio = agent.callAudio(); // issue 12: audio state and the last call's audio
    return {
      ...s,
      bootEpoch: agent.bootEpoch,
      audio,
      // An upgrade waiting for the call in progress, then holding new calls (agent/restart-hold.ts).
      restartHold: restartHoldView(agent.restartHold()),
      verdict: judgeVerdict(ready, s),
      ready,
      access: this.d.access(),
    };
  }

  /** Audio driver state, the call-audio policy and what the last call's audio did (issue 12). */
  audio() {
    return (
      this.d.agent.callAudio() ?? { audio: null, policy: null, failures: null, lastCall: null }
    );
  }

  system(): SystemSnapshot {
    return this.d.system.snapshot();
  }

  modem() {
    return modemView(this.d.agent.modem.status());
  }

  calls(horizonHours: number, limit: number) {
    const { agent, clock } = this.d;
    const now = clock.now();
    return {
      horizonHours,
      nextCalls: nextCalls(agent.store, now, horizonHours * HOUR_MS, limit),
      recent: recentOutcomes(agent.store, limit),
      inProgress: agent.runner.busy(),
    };
  }

  deadLetters(limit: number): RunView[] {
    const store = this.d.agent.store;
    return store.runs.withStatus('dead', limit).map((r) => runView(store, r, true));
  }

  logs(limit: number, minLevel: string) {
    const ring = this.d.logRing;
    const lines = ring ? ring.lines(limit, LEVELS[minLevel] ?? 0) : [];
    return { buffered: ring !== null, capacity: ring?.capacity ?? 0, lines };
  }

  /** Queue a test call after the dial policy said yes; the runner dials it at once. */
  testCall(input: TestCallInput, actor: Actor): RunView {
    const { agent, clock, dialGuard, audit } = this.d;
    const now = clock.now();
    const store = agent.store;
    const verdict = dialGuard.check(input.callee, {
      now,
      callsLastHour: store.runs.dialsSince(now - HOUR_MS),
      callsLastDay: store.runs.dialsSince(now - 24 * HOUR_MS),
      allowQuietHours: true,
    });
    const masked = maskPhone(input.callee);
    if (!verdict.ok) {
      this.log.warn(
        { action: 'test-call', callee: masked, reason: verdict.reason, by: actor.name },
        `test call refused by the dial policy: ${verdict.message}`,
      );
      audit.record({
        ...this.auditOf('test-call', actor, now),
        outcome: 'refused',
        detail: { callee: masked, reason: verdict.reason },
      });
      throw new DiagnosticsError('refused_by_policy', verdict.message, {
        reason: verdict.reason,
      });
    }
    const run = store.tx(() => {
      const r = agent.lifecycle.requestTestCall(
        { callee: input.callee, requestedBy: actor.name },
        now,
      );
      audit.record({
        ...this.auditOf('test-call', actor, now),
        outcome: 'ok',
        detail: { runId: r.id, callee: masked },
      });
      return r;
    });
    this.log.info(
      { action: 'test-call', runId: run.id, callee: masked, by: actor.name },
      'test call requested',
    );
    agent.poke();
    agent.runner.kick();
    return runView(store, run);
  }

  replay(runId: string, actor: Actor): RunView {
    const { agent, clock, audit } = this.d;
    const now = clock.now();
    let run;
    try {
      run = agent.store.tx(() => {
        const r = agent.lifecycle.replay(runId, actor.name, now);
        audit.record({ ...this.auditOf('replay', actor, now), outcome: 'ok', detail: { runId } });
        return r;
      });
    } catch (err) {
      audit.record({
        ...this.auditOf('replay', actor, now),
        outcome: 'refused',
        detail: { runId, error: (err as Error).message },
      });
      throw err;
    }
    this.log.info({ action: 'replay', runId, by: actor.name }, 'dead-lettered run replayed');
    agent.poke();
    agent.runner.kick();
    return runView(agent.store, run);
  }

  /** Ask the cloud for a full snapshot over the link; recorded in the outbox first. */
  async resync(actor: Actor): Promise<{ requested: true; eventId: string }> {
    const { agent, clock, link, audit } = this.d;
    if (!link) {
      throw new DiagnosticsError(
        'conflict',
        'the MQTT link is not enabled on this unit (mqtt.enabled is false), so there is nothing to resync',
      );
    }
    const now = clock.now();
    const eventId = agent.store.tx(() => {
      audit.record({ ...this.auditOf('resync', actor, now), outcome: 'ok', detail: {} });
      return agent.store.outbox.add(
        'operator.action',
        operatorActionPayload('resync', actor.name, now),
        now,
      );
    });
    await link.requestResync();
    this.log.info({ action: 'resync', by: actor.name, eventId }, 'resync requested');
    return { requested: true, eventId };
  }

  private auditOf(action: 'test-call' | 'replay' | 'resync', actor: Actor, at: number) {
    return { action, technician: actor.name, tokenId: actor.tokenId, client: actor.client, at };
  }

  /** Values the Prometheus gauges read at scrape time. */
  metricReadings(): MetricReadings {
    const { agent, clock } = this.d;
    const store = agent.store;
    const now = clock.now();
    const backlog = store.outbox.backlog();
    const counts = store.runs.statusCounts();
    const modem = agent.modem.status();
    const mqtt = this.mqtt();
    return {
      queue: counts as Record<string, number>,
      outboxBacklog: backlog.count,
      outboxOldestAgeSec:
        backlog.oldestCreatedAt === null ? null : (now - backlog.oldestCreatedAt) / 1000,
      deadLetters: counts.dead ?? 0,
      storeBytes: store.sizeBytes(),
      clockTrusted: agent.clockState()?.trusted === true,
      modemUsable: modemView(modem).usable,
      modemSignalDbm: modem.signalDbm,
      audioOk: agent.callAudio()?.audio.ok ?? null,
      linkEnabled: mqtt.enabled !== false,
      linkConnected: mqtt.connected === true,
      uptimeSec: agent.uptimeMs() / 1000,
    };
  }

  private mqtt(): Record<string, unknown> {
    return this.d.link ? linkView(this.d.link.state()) : { enabled: false };
  }

  private storeCheck(): { ok: boolean; detail: string | null } {
    try {
      return this.d.agent.store.ping()
        ? { ok: true, detail: null }
        : { ok: false, detail: 'store did not answer' };
    } catch (err) {
      return { ok: false, detail: `store not answering: ${(err as Error).message}` };
    }
  }
}
