/**
 * The reference model of the lifecycle test: what the cloud asked for, in commit order. Small on
 * purpose (STYLE: the model is the specification): bookings with their versions, the changes that
 * were committed, and the windows of time in which a retry may legitimately be late.
 */
import type { BookingInput } from '../../../agent/bookings/schema.js';

export type BookingStatus = 'active' | 'paused' | 'cancelled';

export interface ModelBooking {
  id: string;
  version: number;
  status: BookingStatus;
  spec: BookingInput;
}

export interface Change {
  step: number;
  wall: number;
  bookingId: string;
  version: number;
  status: BookingStatus;
  callee: string;
}

/** A span of wall time in which the unit could not fire on time (held lock, full disk, jumps...). */
export interface Disturbance {
  from: number;
  to: number;
  why: string;
}

export class LifecycleModel {
  step = 0;
  readonly bookings = new Map<string, ModelBooking>();
  readonly changes: Change[] = [];
  readonly disturbances: Disturbance[] = [];
  /** Test calls requested, by the run id the unit gave them. */
  readonly testCalls = new Map<string, string>();
  /** Calls that were up (not answered) when a cancel or pause of their booking committed. */
  readonly ringingAtCancel: { attemptId: string; wall: number }[] = [];
  /** The largest maxAttempts any version of a booking had (a budget bound per replay window). */
  readonly maxAttempts = new Map<string, number>();

  nextVersion(id: string): number {
    return (this.bookings.get(id)?.version ?? 0) + 1;
  }

  commit(b: ModelBooking, wall: number): void {
    this.bookings.set(b.id, b);
    this.changes.push({
      step: this.step,
      wall,
      bookingId: b.id,
      version: b.version,
      status: b.status,
      callee: b.spec.callee as string,
    });
    const m = b.spec.retry?.maxAttempts ?? 3;
    this.maxAttempts.set(b.id, Math.max(m, this.maxAttempts.get(b.id) ?? 0));
  }

  /** The committed state of a booking at a version (null if never committed). */
  atVersion(id: string, version: number): Change | null {
    return this.changes.find((c) => c.bookingId === id && c.version === version) ?? null;
  }

  disturb(from: number, to: number, why: string): void {
    this.disturbances.push({ from, to, why });
  }

  disturbedBetween(from: number, to: number): Disturbance | null {
    return this.disturbances.find((d) => d.from <= to && d.to >= from) ?? null;
  }
}

/** What the runs exercised, summed over all of them (the test asserts the interplay was reached). */
export class Coverage {
  readonly counts = new Map<string, number>();
  add(what: string, n = 1): void {
    if (n > 0) this.counts.set(what, (this.counts.get(what) ?? 0) + n);
  }
  get(what: string): number {
    return this.counts.get(what) ?? 0;
  }
  toString(): string {
    return [...this.counts].map(([k, v]) => `${k}=${v}`).join(' ');
  }
}
