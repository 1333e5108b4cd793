import type { CallAudioConfig } from './config.js';
import { type HalLogger, silentLogger } from './logger.js';
import type {
  ActiveCall,
  Audio,
  AudioStatus,
  CallStateEvent,
  DialRequest,
  HalTimers,
  Modem,
  ModemDetails,
  ModemEvent,
  ModemResetReport,
  ModemStatus,
} from './types.js';

/** One audio step around a call. */
export type CallAudioStep = 'route' | 'volume' | 'unmute' | 'announcement';

export interface CallAudioFailure {
  /** `prepare`: before the dial (the call still went out); `restore`: after it ended. */
  phase: 'prepare' | 'restore';
  step: CallAudioStep;
  detail: string;
  /** Epoch ms. */
  at: number;
}

export type CallAudioEvent =
  | { type: 'audio_failed'; failure: CallAudioFailure; callId: string | null }
  | { type: 'audio_restored'; callId: string | null; failures: number };

export interface CallAudioStatus {
  /** The audio driver's own view (route, volume, muted, ok). */
  audio: AudioStatus;
  policy: { volume: number; unmute: boolean; announcement: string | null };
  /** Failures since the agent started, by phase. */
  failures: { prepare: number; restore: number };
  /** The last call's audio, or null before the first call. */
  lastCall: {
    callId: string | null;
    announcement: string | null;
    preparedAt: number;
    restoredAt: number | null;
    failures: CallAudioFailure[];
  } | null;
}

export interface AudioRoutedModemOptions {
  modem: Modem;
  audio: Audio;
  policy: CallAudioConfig;
  timers: HalTimers;
  logger?: HalLogger;
}

/**
 * A Modem whose every call has its audio set up and put back, whatever the outcome: before the
 * dial the audio is routed to the call path, set to the call volume and unmuted, and the optional
 * announcement (a chime or spoken prompt) is played so the resident knows a call is coming; once
 * the call ends (or the dial fails) route, volume and mute go back to what they were before.
 *
 * Audio never stops a call: a failing step is recorded, reported as an `audio_failed` event and
 * the call goes out anyway (a call the resident may not hear is still better than no call, and the
 * family on the other end hears the failure for themselves). The next call's set-up waits for the
 * last one's restore, so the two never interleave on the mixer.
 *
 * It owns the call's audio lifecycle at the one place every call passes through, so the agent's
 * runner needs to know nothing about audio.
 */
export class AudioRoutedModem implements Modem {
  private readonly log: HalLogger;
  private readonly listeners = new Set<(e: CallAudioEvent) => void>();
  private restoring: Promise<void> = Promise.resolve();
  /**
   * Ends the wait for the current call's end: a wedged call never reports one, and clearing the
   * line (hangupAll, stop) is then the end. Without it the next dial would wait forever.
   */
  private lineCleared: (() => void) | null = null;
  private failureCounts = { prepare: 0, restore: 0 };
  private last: CallAudioStatus['lastCall'] = null;
  readonly details?: () => Promise<ModemDetails>;
  readonly reset?: (reason: string) => Promise<ModemResetReport>;

  constructor(private readonly o: AudioRoutedModemOptions) {
    this.log = o.logger ?? silentLogger;
    const { modem } = o;
    if (modem.details) this.details = () => modem.details!();
    if (modem.reset) this.reset = (reason) => modem.reset!(reason);
  }

  /** The modem this one wraps (e.g. for driver-specific tests). */
  get inner(): Modem {
    return this.o.modem;
  }

  start(): Promise<void> {
    return this.o.modem.start();
  }

  async stop(): Promise<void> {
    try {
      await this.o.modem.stop();
    } finally {
      this.lineCleared?.();
    }
  }

  async hangupAll(): Promise<void> {
    try {
      await this.o.modem.hangupAll();
    } finally {
      this.lineCleared?.();
    }
  }

  status(): ModemStatus {
    return this.o.modem.status();
  }

  onEvent(listener: (e: ModemEvent) => void): () => void {
    return this.o.modem.onEvent(listener);
  }

  onAudioEvent(listener: (e: CallAudioEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  callAudioStatus(): CallAudioStatus {
    const p = this.o.policy;
    return {
      audio: this.o.audio.status(),
      policy: { volume: p.volume, unmute: p.unmute, announcement: p.announcement },
      failures: { ...this.failureCounts },
      lastCall: this.last && { ...this.last, failures: [...this.last.failures] },
    };
  }

  async dial(req: DialRequest, onState?: (e: CallStateEvent) => void): Promise<ActiveCall> {
    await this.restoring; // the previous call's audio is back before this one's is set up
    const before = this.o.audio.status();
    const announcement =
      req.announcement === undefined ? this.o.policy.announcement : req.announcement;
    const record: NonNullable<CallAudioStatus['lastCall']> = {
      callId: null,
      announcement,
      preparedAt: this.o.timers.now(),
      restoredAt: null,
      failures: [],
    };
    this.last = record;
    await this.prepare(record, announcement);
    let call: ActiveCall;
    try {
      call = await this.o.modem.dial(req, onState);
    } catch (err) {
      this.restoring = this.restore(record, before);
      throw err;
    }
    record.callId = call.callId;
    // Restored when the call ends — or when the line is cleared, if its end never comes.
    const cleared = new Promise<void>((resolve) => (this.lineCleared = resolve));
    const ended = call.done.then(
      () => undefined,
      () => undefined,
    );
    this.restoring = Promise.race([ended, cleared]).then(() => {
      this.lineCleared = null;
      return this.restore(record, before);
    });
    return call;
  }

  private async prepare(
    record: NonNullable<CallAudioStatus['lastCall']>,
    announcement: string | null,
  ): Promise<void> {
    const { audio, policy } = this.o;
    await this.step(record, 'prepare', 'route', () => audio.setRoute('call'));
    await this.step(record, 'prepare', 'volume', () => audio.setVolume(policy.volume));
    if (policy.unmute) await this.step(record, 'prepare', 'unmute', () => audio.setMute(false));
    if (announcement !== null) {
      await this.step(record, 'prepare', 'announcement', () =>
        this.within(audio.play(announcement), policy.announcementTimeoutMs, 'announcement'),
      );
    }
  }

  private async restore(
    record: NonNullable<CallAudioStatus['lastCall']>,
    before: AudioStatus,
  ): Promise<void> {
    const { audio } = this.o;
    await this.step(record, 'restore', 'route', () => audio.setRoute(before.route));
    await this.step(record, 'restore', 'volume', () => audio.setVolume(before.volume));
    if (this.o.policy.unmute) {
      await this.step(record, 'restore', 'unmute', () => audio.setMute(before.muted));
    }
    record.restoredAt = this.o.timers.now();
    const failures = record.failures.length;
    this.emit({ type: 'audio_restored', callId: record.callId, failures });
  }

  /** Rejects when `p` takes longer than `ms` (the step is then reported; `p` is left to finish). */
  private within(p: Promise<void>, ms: number, what: string): Promise<void> {
    return new Promise((resolve, reject) => {
      const timer = this.o.timers.setTimeout(
        () => reject(new Error(`${what} still playing after ${ms} ms; dialling anyway`)),
        ms,
      );
      p.then(
        () => {
          this.o.timers.clearTimeout(timer);
          resolve();
        },
        (err: unknown) => {
          this.o.timers.clearTimeout(timer);
          reject(err as Error);
        },
      );
    });
  }

  /** Runs one step; a failure is recorded and reported, never thrown. */
  private async step(
    record: NonNullable<CallAudioStatus['lastCall']>,
    phase: CallAudioFailure['phase'],
    step: CallAudioStep,
    run: () => Promise<void>,
  ): Promise<void> {
    try {
      await run();
    } catch (err) {
      const failure: CallAudioFailure = {
        phase,
        step,
        detail: (err as Error).message,
        at: this.o.timers.now(),
      };
      record.failures.push(failure);
      this.failureCounts[phase]++;
      this.log.warn({ phase, step, detail: failure.detail }, 'call audio step failed');
      this.emit({ type: 'audio_failed', failure, callId: record.callId });
    }
  }

  private emit(e: CallAudioEvent): void {
    for (const l of [...this.listeners]) {
      try {
        l(e);
      } catch (err) {
        this.log.warn({ err }, 'call audio listener threw');
      }
    }
  }
}
