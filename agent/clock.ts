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
  at: number;
  fn: () => void;
}

/**
 * A clock whose time only moves when the test says so. `advance` fires due timers in time order
 * and lets promise continuations run between them, so async code reacts as it would for real.
 */
export class FakeClock implements Clock {
  private t: number;
  private mono = 0;
  private nextId = 1;
  private timers: FakeTimer[] = [];

  constructor(start: number | Date = Date.UTC(2026, 0, 5, 8, 0, 0)) {
    this.t = typeof start === 'number' ? start : start.getTime();
  }
  now(): number {
    return this.t;
  }
  monotonic(): number {
    return this.mono;
  }
  setTimeout(fn: () => void, ms: number): unknown {
    const timer = { id: this.nextId++, at: this.t + Math.max(0, ms), fn };
    this.timers.push(timer);
    return timer.id;
  }
  clearTimeout(handle: unknown): void {
    this.timers = this.timers.filter((x) => x.id !== handle);
  }
  pendingTimers(): number {
    return this.timers.length;
  }
  /** Jump the wall clock without firing timers (an NTP step, a wrong RTC). */
  setWallTime(ms: number): void {
    this.t = ms;
  }
  /** Move time forward by ms, firing every timer that falls due, in order. */
  async advance(ms: number): Promise<void> {
    const end = this.t + ms;
    const monoEnd = this.mono + ms;
    const startT = this.t;
    for (;;) {
      await flushMicrotasks();
      this.timers.sort((a, b) => a.at - b.at || a.id - b.id);
      const next = this.timers[0];
      if (!next || next.at > end) break;
      this.timers.shift();
      this.mono += Math.max(0, next.at - this.t);
      this.t = Math.max(this.t, next.at);
      next.fn();
    }
    this.t = end;
    this.mono = monoEnd - (end - startT - ms);
    await flushMicrotasks();
  }
  /** Let pending promise continuations (and setImmediate work, e.g. SQLite callbacks) run. */
  async settle(): Promise<void> {
    await flushMicrotasks();
  }
}

async function flushMicrotasks(): Promise<void> {
  for (let i = 0; i < 5; i++) {
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
}
