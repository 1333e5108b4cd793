/**
 * Hardware checks a technician runs from the page: speaker test (a tone on the speaker route),
 * microphone loopback (record a few seconds, play them back, report the level), modem details
 * (SIM / IMEI / ICCID masked / operator / registration / signal) and a modem reset through the
 * driver's recovery ladder. They run against hal/types.ts only; a driver without the optional
 * member is reported as "not supported by this driver".
 *
 * A check can take longer than an HTTP request should wait (a modem reset can take a minute), so
 * starting one answers at once with its id and the page polls it. One check at a time, never while a
 * call is up (a test tone in a resident's call is the last thing anyone wants). Each finished check
 * is an audit row and a `technician.action` outbox event with the technician's name. The recorded
 * audio is never stored or sent: only its level is reported.
 */
import { randomUUID } from 'node:crypto';
import type { Audio, AudioRoute, Modem, ModemDetails } from '../../hal/types.js';
import type { Clock } from '../clock.js';
import type { Logger } from '../log.js';
import type { TechnicianAudit } from '../technician/audit.js';
import type { TechnicianAction } from '../technician/events.js';
import { clipLevel } from './audio-level.js';
import { DiagnosticsError } from './errors.js';

export type CheckKind = 'speaker-test' | 'mic-test' | 'modem-details' | 'modem-reset';

export interface Actor {
  name: string;
  tokenId: string | null;
  client: string | null;
}

export interface CheckView {
  id: string;
  kind: CheckKind;
  state: 'running' | 'done' | 'failed';
  technician: string;
  startedAt: string;
  finishedAt: string | null;
  result: Record<string, unknown> | null;
  error: string | null;
}

export interface CheckInput {
  frequencyHz?: number;
  durationMs?: number;
  reason?: string;
}

export interface HardwareChecksDeps {
  modem: Modem;
  audio: Audio;
  /** True while a call is up or being placed. */
  callUp: () => boolean;
  audit: TechnicianAudit;
  clock: Clock;
  logger: Logger;
}

const KEEP_CHECKS = 20;

/** Mask all but the first `head` and last `tail` digits (IMEI, ICCID, IMSI are identifiers). */
export function maskId(v: string | null, head: number, tail: number): string | null {
  if (v === null) return null;
  if (v.length <= head + tail) return '•'.repeat(v.length);
  return v.slice(0, head) + '•'.repeat(v.length - head - tail) + v.slice(v.length - tail);
}

export function maskDetails(d: ModemDetails): Record<string, unknown> {
  return {
    ...d,
    // IMEI: the type allocation code (model) and the last two; ICCID: issuer and the last four
    // (printed on the SIM card, so a technician can match it); IMSI: the network code.
    imei: maskId(d.imei, 8, 2),
    iccid: maskId(d.iccid, 6, 4),
    imsi: maskId(d.imsi, 5, 2),
  };
}

interface Support {
  supported: boolean;
  detail: string | null;
}

export class HardwareChecks {
  private readonly checks = new Map<string, CheckView>();
  private running: CheckView | null = null;
  private readonly log: Logger;

  constructor(private readonly d: HardwareChecksDeps) {
    this.log = d.logger.child({ component: 'diagnostics-checks' });
  }

  /** What this unit's drivers can do, for the page. */
  capabilities(): Record<CheckKind, Support> & { running: CheckView | null } {
    const { modem, audio } = this.d;
    const sup = (ok: boolean, what: string): Support =>
      ok
        ? { supported: true, detail: null }
        : { supported: false, detail: `not supported by this driver (${what})` };
    return {
      'speaker-test': sup(typeof audio.playTone === 'function', `audio ${audio.status().driver}`),
      'mic-test': sup(typeof audio.record === 'function', `audio ${audio.status().driver}`),
      'modem-details': sup(typeof modem.details === 'function', `modem ${modem.status().driver}`),
      'modem-reset': sup(typeof modem.reset === 'function', `modem ${modem.status().driver}`),
      running: this.running,
    };
  }

  get(id: string): CheckView {
    const c = this.checks.get(id);
    if (!c) throw new DiagnosticsError('not_found', `no check with id ${id}`);
    return c;
  }

  list(): CheckView[] {
    return [...this.checks.values()].reverse();
  }

  /** Start a check; refusals (not supported, busy) are audited and thrown. */
  start(kind: CheckKind, actor: Actor, input: CheckInput = {}): CheckView {
    const support = this.capabilities()[kind];
    const refuse = (err: DiagnosticsError): never => {
      this.auditRefusal(kind, actor, err);
      throw err;
    };
    if (!support.supported) refuse(new DiagnosticsError('not_supported', support.detail!));
    if (this.running) {
      refuse(
        new DiagnosticsError('conflict', `another check is running (${this.running.kind})`, {
          running: this.running.id,
        }),
      );
    }
    if (this.d.callUp()) {
      refuse(
        new DiagnosticsError('conflict', 'a call is up; hardware checks wait until it has ended'),
      );
    }
    const now = this.d.clock.now();
    const view: CheckView = {
      id: randomUUID(),
      kind,
      state: 'running',
      technician: actor.name,
      startedAt: new Date(now).toISOString(),
      finishedAt: null,
      result: null,
      error: null,
    };
    this.running = view;
    this.checks.set(view.id, view);
    while (this.checks.size > KEEP_CHECKS) {
      this.checks.delete(this.checks.keys().next().value as string);
    }
    this.log.info({ check: kind, checkId: view.id, by: actor.name }, 'hardware check started');
    void this.run(view, actor, input);
    return { ...view };
  }

  private auditRefusal(kind: CheckKind, actor: Actor, err: DiagnosticsError): void {
    try {
      this.d.audit.record({
        action: kind,
        technician: actor.name,
        tokenId: actor.tokenId,
        client: actor.client,
        outcome: 'refused',
        detail: { error: err.code, message: err.message },
        at: this.d.clock.now(),
      });
    } catch (e) {
      this.log.error({ err: e }, 'technician audit write failed');
    }
  }

  private async run(view: CheckView, actor: Actor, input: CheckInput): Promise<void> {
    const limitMs = this.limitMs(view.kind, input);
    let timer: unknown;
    const late = new Promise<never>((_, reject) => {
      timer = this.d.clock.setTimeout(
        () => reject(new Error(`no answer from the driver within ${Math.round(limitMs / 1000)} s`)),
        limitMs,
      );
    });
    try {
      view.result = await Promise.race([this.perform(view.kind, actor, input), late]);
      view.state = 'done';
    } catch (err) {
      view.state = 'failed';
      view.error = (err as Error).message;
    } finally {
      this.d.clock.clearTimeout(timer);
    }
    const at = this.d.clock.now();
    view.finishedAt = new Date(at).toISOString();
    if (this.running === view) this.running = null;
    try {
      this.d.audit.record({
        action: view.kind satisfies TechnicianAction,
        technician: actor.name,
        tokenId: actor.tokenId,
        client: actor.client,
        // A reset that ran but did not bring the modem back is a failure too.
        outcome: view.state === 'done' && view.result?.ok !== false ? 'ok' : 'failed',
        detail: {
          checkId: view.id,
          ...(view.result ?? {}),
          ...(view.error ? { error: view.error } : {}),
        },
        at,
      });
    } catch (err) {
      // The check itself is over; a failed audit write is loud in the log and the check says so.
      view.error = `${view.error ? `${view.error}; ` : ''}audit not written: ${(err as Error).message}`;
      this.log.error({ err, checkId: view.id }, 'technician audit write failed');
    }
    this.log.info(
      { check: view.kind, checkId: view.id, by: actor.name, state: view.state, error: view.error },
      'hardware check finished',
    );
  }

  private limitMs(kind: CheckKind, input: CheckInput): number {
    const d = input.durationMs ?? 0;
    if (kind === 'speaker-test') return d + 15_000;
    if (kind === 'mic-test') return 2 * d + 15_000;
    if (kind === 'modem-details') return 30_000;
    return 180_000;
  }

  private async perform(
    kind: CheckKind,
    actor: Actor,
    input: CheckInput,
  ): Promise<Record<string, unknown>> {
    const { modem, audio } = this.d;
    switch (kind) {
      case 'speaker-test': {
        const tone = {
          frequencyHz: input.frequencyHz ?? 1000,
          durationMs: input.durationMs ?? 2000,
        };
        return this.onSpeaker(async (before) => {
          await audio.playTone!(tone);
          return { ...tone, ...audioFacts(before) };
        });
      }
      case 'mic-test': {
        const durationMs = input.durationMs ?? 3000;
        return this.onSpeaker(async (before) => {
          const clip = await audio.record!(durationMs);
          const level = clipLevel(clip);
          let playedBack: boolean | string = false;
          if (typeof audio.playClip === 'function') {
            await audio.playClip(clip);
            playedBack = true;
          } else {
            playedBack = 'not supported by this driver';
          }
          // The clip goes out of scope here: recorded audio is never kept or sent.
          return { ...level, playedBack, ...audioFacts(before) };
        });
      }
      case 'modem-details':
        return maskDetails(await modem.details!());
      case 'modem-reset': {
        const reason = input.reason ?? 'technician request';
        const report = await modem.reset!(`${reason} (by ${actor.name})`);
        const after = modem.status();
        return {
          ...report,
          reason,
          after: {
            state: after.state,
            registration: after.registration,
            recoveries: after.recoveries,
          },
        };
      }
    }
  }

  /** Route audio to the speaker for a check, and back to where it was afterwards. */
  private async onSpeaker(
    fn: (before: ReturnType<Audio['status']>) => Promise<Record<string, unknown>>,
  ): Promise<Record<string, unknown>> {
    const { audio } = this.d;
    const before = audio.status();
    const previous: AudioRoute = before.route;
    if (previous !== 'speaker') await audio.setRoute('speaker');
    try {
      return { ...(await fn(before)), restoredRoute: previous };
    } finally {
      if (previous !== 'speaker') await audio.setRoute(previous).catch(() => undefined);
    }
  }
}

function audioFacts(s: ReturnType<Audio['status']>): Record<string, unknown> {
  const warnings: string[] = [];
  if (s.muted) warnings.push('audio is muted: nothing will be heard');
  else if (s.volume === 0) warnings.push('volume is 0: nothing will be heard');
  if (!s.ok) warnings.push(`audio reports a problem: ${s.reason ?? 'unknown'}`);
  return { route: 'speaker', volume: s.volume, muted: s.muted, audioDriver: s.driver, warnings };
}
