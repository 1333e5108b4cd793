import type {
  ActiveCall,
  CallOutcome,
  CallResult,
  CallState,
  CallStateEvent,
  HalTimers,
} from './types.js';

export interface CallEnd {
  result: CallResult;
  endedBy: CallOutcome['endedBy'];
  detail?: string;
}

/**
 * The life of one call as every driver must present it: states only move forward, `ended` is
 * reported once, `done` resolves exactly once and never rejects, and timers the driver armed for
 * the call (ring timeout, max duration, polls) die with it. Drivers decide *when* things happen;
 * this class makes sure the promises they give the agent stay honest.
 */
export class CallSession {
  private current: CallState = 'dialing';
  private answeredAtMs: number | null = null;
  private resolveDone!: (o: CallOutcome) => void;
  private readonly handles = new Set<unknown>();
  readonly done: Promise<CallOutcome>;

  constructor(
    readonly callId: string,
    private readonly timers: HalTimers,
    private readonly notify: (e: CallStateEvent) => void,
  ) {
    this.done = new Promise<CallOutcome>((resolve) => (this.resolveDone = resolve));
  }

  get state(): CallState {
    return this.current;
  }
  get ended(): boolean {
    return this.current === 'ended';
  }
  get answered(): boolean {
    return this.answeredAtMs !== null;
  }

  /** Reports the initial `dialing` state; called once the device accepted the dial. */
  announceDialing(): void {
    this.emit('dialing');
  }

  /** Moves to alerting/active. Ignored when it would go backwards or the call has ended. */
  advance(state: 'alerting' | 'active'): void {
    if (this.ended || this.current === state) return;
    if (this.current === 'active') return; // active never goes back to alerting
    this.current = state;
    if (state === 'active') this.answeredAtMs = this.timers.now();
    this.emit(state);
  }

  /** Ends the call. Returns false when it had already ended (the first reason wins). */
  finish(end: CallEnd): boolean {
    if (this.ended) return false;
    this.current = 'ended';
    for (const h of this.handles) this.timers.clearTimeout(h);
    this.handles.clear();
    const endedAt = this.timers.now();
    const outcome: CallOutcome = {
      result: end.result,
      answered: this.answeredAtMs !== null,
      answeredAt: this.answeredAtMs,
      endedAt,
      endedBy: end.endedBy,
      ...(end.detail !== undefined ? { detail: end.detail } : {}),
    };
    this.emit('ended');
    this.resolveDone(outcome);
    return true;
  }

  /** A timer that belongs to this call: cleared automatically when the call ends. */
  after(ms: number, fn: () => void): unknown {
    const handle = this.timers.setTimeout(() => {
      this.handles.delete(handle);
      if (!this.ended) fn();
    }, ms);
    this.handles.add(handle);
    return handle;
  }

  cancel(handle: unknown): void {
    if (this.handles.delete(handle)) this.timers.clearTimeout(handle);
  }

  /** Cancels every timer of the call without ending it (e.g. the modem went silent). */
  cancelAll(): void {
    for (const h of this.handles) this.timers.clearTimeout(h);
    this.handles.clear();
  }

  toActiveCall(
    hangup: () => Promise<void>,
    sendDtmf?: (digits: string) => Promise<void>,
  ): ActiveCall {
    return { callId: this.callId, hangup, done: this.done, ...(sendDtmf ? { sendDtmf } : {}) };
  }

  private emit(state: CallState): void {
    this.notify({ callId: this.callId, state, at: this.timers.now() });
  }
}
