/**
 * The two judgements a technician needs first: can this unit fire calls now (readiness), and the
 * one-word verdict for the page — green (all good), amber (calls go out, but something needs a
 * look), red (calls cannot go out) — each with its reasons in plain words.
 */
import type { TrustState } from '../clock-trust.js';
import type { ModemView, UnitStatus } from '../status.js';

export interface Check {
  ok: boolean;
  detail: string | null;
}

export interface Readiness {
  ready: boolean;
  reasons: string[];
  checks: { store: Check; clock: Check; modem: Check };
}

export function judgeReadiness(
  store: Check,
  clock: TrustState | null,
  modem: ModemView,
): Readiness {
  const checks = {
    store,
    clock: clock
      ? { ok: clock.trusted, detail: clock.trusted ? null : `clock untrusted: ${clock.message}` }
      : { ok: false, detail: 'clock not judged yet (agent starting)' },
    modem: { ok: modem.usable, detail: modem.problem },
  };
  const reasons = Object.values(checks)
    .filter((c) => !c.ok)
    .map((c) => c.detail ?? 'failed');
  return { ready: reasons.length === 0, reasons, checks };
}

export type VerdictLevel = 'green' | 'amber' | 'red';

export interface Verdict {
  level: VerdictLevel;
  headline: string;
  reasons: string[];
}

const HOUR_MS = 3_600_000;

export function judgeVerdict(ready: Readiness, s: UnitStatus): Verdict {
  if (!ready.ready) {
    return { level: 'red', headline: 'Calls cannot go out right now', reasons: ready.reasons };
  }
  const warn: string[] = [];
  const mqtt = s.mqtt as { enabled?: boolean; connected?: boolean; lastError?: string | null };
  if (mqtt.enabled === false) {
    warn.push('The cloud link is switched off: new bookings and outcomes are not synced.');
  } else if (mqtt.connected === false) {
    warn.push(
      `Offline from the cloud${mqtt.lastError ? ` (${mqtt.lastError})` : ''}: booked calls still go out; ` +
        'changes sync when the link returns.',
    );
  }
  if (s.deadLetters > 0) {
    warn.push(`${s.deadLetters} call(s) failed after all retries and can be replayed.`);
  }
  if ((s.outbox.oldestUnsentAgeMs ?? 0) > HOUR_MS) {
    warn.push(`${s.outbox.backlog} event(s) have waited over an hour to reach the cloud.`);
  }
  if (s.modem && s.modem.signal.bars <= 1) {
    warn.push(`Mobile signal is ${s.modem.signal.quality} (${s.modem.signal.dbm ?? '?'} dBm).`);
  }
  if (warn.length > 0) {
    return { level: 'amber', headline: 'Calls go out, but something needs a look', reasons: warn };
  }
  return { level: 'green', headline: 'Healthy: booked calls will go out on time', reasons: [] };
}
