/**
 * The unit's recent history at a glance: one sample a minute (signal, registration, modem usable,
 * cloud link) for the last 24 h, plus the call outcomes from runs/attempts, for the page's chart.
 *
 * Flash wear: samples are kept in memory and written in ONE transaction every `flushMinutes`
 * (default 60) and when the agent stops, so the history costs one small commit an hour (measured in
 * docs/diagnostics.md). A crash loses at most the unflushed samples — diagnostics, not bookings.
 * Within a minute the worst reading wins (weakest signal, any moment the modem could not call, any
 * moment offline), so a short drop is not averaged away.
 */
import type { Modem, ModemStatus } from '../../hal/types.js';
import type { Clock } from '../clock.js';
import type { Logger } from '../log.js';
import { modemView } from '../status.js';
import type { HistoryCall, HistoryRepo, HistorySample } from './history-repo.js';

const MINUTE_MS = 60_000;
/** Below this the page calls the signal weak (1 bar or none: calls may fail). */
export const WEAK_SIGNAL_DBM = -105;

export interface LinkSample {
  enabled: boolean;
  connected: boolean;
  connectedSince: number | null;
}

export interface HistoryDeps {
  clock: Clock;
  modem: Modem;
  /** The cloud link's state, or null when the unit has no link. */
  link: () => LinkSample | null;
  repo: HistoryRepo;
  /**
   * False while the clock is untrusted (an RTC-less boot in 1970): minutes keyed by a wrong time
   * are not recorded, and nothing is pruned against it (the real history is kept).
   */
  clockTrusted?: () => boolean;
  flushMinutes: number;
  keepHours: number;
  logger: Logger;
}

interface Acc {
  minute: number;
  signalDbm: number | null;
  registration: string | null;
  modemUsable: boolean | null;
}

export interface Period {
  from: string;
  to: string;
  minutes: number;
  minDbm?: number | null;
}

export interface HistoryView {
  from: string;
  to: string;
  sampleMinutes: 1;
  samples: {
    at: string;
    signalDbm: number | null;
    registration: string | null;
    modemUsable: boolean | null;
    link: boolean | null;
  }[];
  calls: (Omit<HistoryCall, 'at'> & { at: string })[];
  summary: {
    signal: { minDbm: number | null; minAt: string | null; medianDbm: number | null };
    weakSignal: Period[];
    linkOffline: Period[];
    modemUnusable: Period[];
    noData: Period[];
    calls: Record<string, number>;
  };
  /** Samples not written to disk yet (they are in the view already). */
  unflushed: number;
}

export class HistoryRecorder {
  private pending: HistorySample[] = [];
  private acc: Acc | null = null;
  private timer: unknown = null;
  private off: (() => void) | null = null;
  private readonly log: Logger;

  constructor(private readonly d: HistoryDeps) {
    this.log = d.logger.child({ component: 'diagnostics-history' });
  }

  start(): void {
    if (this.off) return;
    this.fold(this.d.modem.status());
    this.off = this.d.modem.onEvent((e) => {
      if (e.type === 'status') this.fold(e.status);
    });
    this.schedule();
  }

  /** Stop sampling and write what is in memory. */
  stop(): void {
    this.off?.();
    this.off = null;
    if (this.timer !== null) this.d.clock.clearTimeout(this.timer);
    this.timer = null;
    this.flush();
  }

  /** Close the current minute now (tests; the timer calls it at each minute boundary). */
  tick(): void {
    const now = this.d.clock.now();
    const acc = this.acc;
    if (acc && acc.minute !== Math.floor(now / MINUTE_MS)) {
      if (this.trusted()) this.pending.push({ ...acc, link: this.linkOver(acc.minute) });
      this.acc = null;
      this.fold(this.d.modem.status());
    }
    // Bounded even if the disk refuses every flush.
    const cap = this.d.keepHours * 60;
    if (this.pending.length > cap) this.pending.splice(0, this.pending.length - cap);
    if (this.pending.length >= this.d.flushMinutes) this.flush();
  }

  flush(): void {
    if (this.pending.length === 0 || !this.trusted()) return;
    const batch = this.pending;
    try {
      this.d.repo.write(batch, Math.floor(this.d.clock.now() / MINUTE_MS), this.d.keepHours * 60);
      this.pending = this.pending.slice(batch.length);
    } catch (err) {
      // A full disk: keep the samples in memory and try again at the next flush.
      this.log.warn({ err, samples: batch.length }, 'history samples not written; kept in memory');
    }
  }

  read(hours: number): HistoryView {
    const now = this.d.clock.now();
    const fromMinute = Math.floor((now - hours * 3_600_000) / MINUTE_MS);
    const byMinute = new Map<number, HistorySample>();
    for (const s of this.d.repo.samplesSince(fromMinute)) byMinute.set(s.minute, s);
    for (const s of this.pending) if (s.minute >= fromMinute) byMinute.set(s.minute, s);
    const samples = [...byMinute.values()].sort((a, b) => a.minute - b.minute);
    const calls = this.d.repo.callsSince(fromMinute * MINUTE_MS);
    return {
      from: iso(fromMinute * MINUTE_MS),
      to: iso(now),
      sampleMinutes: 1,
      samples: samples.map((s) => ({
        at: iso(s.minute * MINUTE_MS),
        signalDbm: s.signalDbm,
        registration: s.registration,
        modemUsable: s.modemUsable,
        link: s.link,
      })),
      calls: calls.map((c) => ({ ...c, at: iso(c.at) })),
      summary: summarize(samples, calls, fromMinute, Math.floor(now / MINUTE_MS)),
      unflushed: this.pending.length,
    };
  }

  private trusted(): boolean {
    return this.d.clockTrusted?.() ?? true;
  }

  private fold(status: ModemStatus): void {
    const minute = Math.floor(this.d.clock.now() / MINUTE_MS);
    if (this.acc && this.acc.minute !== minute) this.tick();
    const usable = modemView(status).usable;
    const a = (this.acc ??= { minute, signalDbm: null, registration: null, modemUsable: null });
    if (status.signalDbm !== null) {
      a.signalDbm =
        a.signalDbm === null ? status.signalDbm : Math.min(a.signalDbm, status.signalDbm);
    }
    a.registration = status.registration;
    a.modemUsable = a.modemUsable === null ? usable : a.modemUsable && usable;
  }

  /** Connected for the whole minute (the link says since when), offline, or no link at all. */
  private linkOver(minute: number): boolean | null {
    const l = this.d.link();
    if (!l || !l.enabled) return null;
    return l.connected && (l.connectedSince ?? 0) <= minute * MINUTE_MS;
  }

  private schedule(): void {
    const now = this.d.clock.now();
    // Just after the next minute boundary; re-aimed every time, so it never drifts.
    const wait = MINUTE_MS - (now % MINUTE_MS) + 50;
    this.timer = this.d.clock.setTimeout(() => {
      this.timer = null;
      this.tick();
      if (this.off) this.schedule();
    }, wait);
    (this.timer as { unref?: () => void } | null)?.unref?.();
  }
}

const iso = (ms: number) => new Date(ms).toISOString();

function periods(
  samples: HistorySample[],
  hit: (s: HistorySample) => boolean,
  withMin = false,
): Period[] {
  const out: Period[] = [];
  let start: HistorySample | null = null;
  let last: HistorySample | null = null;
  let min: number | null = null;
  const close = () => {
    if (start && last) {
      out.push({
        from: iso(start.minute * MINUTE_MS),
        to: iso((last.minute + 1) * MINUTE_MS),
        minutes: last.minute - start.minute + 1,
        ...(withMin ? { minDbm: min } : {}),
      });
    }
    start = last = null;
    min = null;
  };
  for (const s of samples) {
    // Two minutes apart still count as one period (one missed sample does not split it).
    if (start && last && s.minute - last.minute > 2) close();
    if (hit(s)) {
      start ??= s;
      last = s;
      if (s.signalDbm !== null) min = min === null ? s.signalDbm : Math.min(min, s.signalDbm);
    } else if (start) {
      close();
    }
  }
  close();
  return out;
}

function gaps(samples: HistorySample[], fromMinute: number, toMinute: number): Period[] {
  const out: Period[] = [];
  let prev = fromMinute - 1;
  for (const m of [...samples.map((s) => s.minute), toMinute]) {
    if (m - prev > 5) {
      out.push({
        from: iso((prev + 1) * MINUTE_MS),
        to: iso(m * MINUTE_MS),
        minutes: m - prev - 1,
      });
    }
    prev = m;
  }
  return out;
}

export function summarize(
  samples: HistorySample[],
  calls: HistoryCall[],
  fromMinute: number,
  toMinute: number,
): HistoryView['summary'] {
  const sig = samples.filter((s) => s.signalDbm !== null) as (HistorySample & {
    signalDbm: number;
  })[];
  const weakest = sig.reduce<(typeof sig)[number] | null>(
    (w, s) => (w === null || s.signalDbm < w.signalDbm ? s : w),
    null,
  );
  const sorted = sig.map((s) => s.signalDbm).sort((a, b) => a - b);
  const byOutcome: Record<string, number> = {};
  for (const c of calls) byOutcome[c.outcome] = (byOutcome[c.outcome] ?? 0) + 1;
  return {
    signal: {
      minDbm: weakest?.signalDbm ?? null,
      minAt: weakest ? iso(weakest.minute * MINUTE_MS) : null,
      medianDbm: sorted.length ? sorted[Math.floor(sorted.length / 2)]! : null,
    },
    weakSignal: periods(
      samples,
      (s) => s.signalDbm !== null && s.signalDbm < WEAK_SIGNAL_DBM,
      true,
    ),
    linkOffline: periods(samples, (s) => s.link === false),
    modemUnusable: periods(samples, (s) => s.modemUsable === false),
    noData: gaps(samples, fromMinute, toMinute),
    calls: byOutcome,
  };
}
