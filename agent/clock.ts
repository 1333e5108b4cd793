/**
 * Time as a dependency. Production uses SystemClock; tests use FakeClock and move time themselves.
 * Structurally satisfies hal/types HalTimers.
 */
export interface Clock {
  /** Wall-clock epoch milliseconds (may jump: NTP, RTC-less boots, manual changes). */
  now(): number;
  /** Monotonic milliseconds, for measuring durations. */
  monotonic(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export class SystemClock implements Clock {
  /** offsetMs lets the chaos harness and crash tests shift the agent's wall clock without faketime. */
  constructor(private readonly offsetMs = 0) {}
  now(): number {
    return Date.now() + this.offsetMs;
  }
  monotonic(): number {
    return performance.now();
  }
  setTimeout(fn: () => void, ms: number): unknown {
    const t = setTimeout(fn, Math.max(0, ms));
    return t;
  }
  clearTimeout(handle: unknown): void {
    clearTimeout(handle as NodeJS.Timeout);
  }
}

interface FakeTimer {
  id: number;
  /** Monotonic due time: like real timers, a wall-clock step does not move them. */
  at: number;
  fn: () => void;
}

/**
 * A clock whose time only moves when the test says so. `advance` fires due timers in time order
 * and lets promise continuations run between them, so async code reacts as it would for real.
 * Timers run on monotonic time; `setWallTime` steps only the wall clock (an NTP step, a bad RTC).
 */
export class FakeClock implements Clock {
  private mono = 0;
  private wallOffset: number;
  private nextId = 1;
  private timers: FakeTimer[] = [];

  constructor(start: number | Date = Date.UTC(2026, 11, 1, 8, 0, 0)) {
    this.wallOffset = typeof start === 'number' ? start : start.getTime();
  }
  now(): number {
    return this.mono + this.wallOffset;
  }
  monotonic(): number {
    return this.mono;
  }
  setTimeout(fn: () => void, ms: number): unknown {
    const timer = { id: this.nextId++, at: this.mono + Math.max(0, ms), fn };
    this.timers.push(timer);
    return timer.id;
  }
  clearTimeout(handle: unknown): void {
    this.timers = this.timers.filter((x) => x.id !== handle);
  }
  pendingTimers(): number {
    return this.timers.length;
  }
  /** Step the wall clock to `ms` without moving monotonic time or timers. */
  setWallTime(ms: number): void {
    this.wallOffset = ms - this.mono;
  }
  /** Move time forward by ms, firing every timer that falls due, in order. */
  async advance(ms: number): Promise<void> {
    const end = this.mono + ms;
    for (;;) {
      await flushMicrotasks();
      this.timers.sort((a, b) => a.at - b.at || a.id - b.id);
      const next = this.timers[0];
      if (!next || next.at > end) break;
      this.timers.shift();
      this.mono = Math.max(this.mono, next.at);
      next.fn();
    }
    this.mono = end;
    await flushMicrotasks();
  }
  /** Let pending promise continuations (and setImmediate work) run. */
  async settle(): Promise<void> {
    await flushMicrotasks();
  }
}

async function flushMicrotasks(): Promise<void> {
  for (let i = 0; i < 5; i++) {
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
}
