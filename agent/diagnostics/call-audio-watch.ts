/**
 * What the audio path looked like during recent calls, so a test call reports "audio routed to the
 * call, volume 80 %, not muted" next to its outcome. It only watches: at the moment a call is
 * answered it reads Audio.status() (which the call-audio policy around every call has set by then).
 */
import type { Audio, AudioStatus, Modem } from '../../hal/types.js';

export interface CallAudioSeen {
  /** Audio when the modem reported the call dialing and when it was answered (null: never). */
  atDial: AudioStatus | null;
  atAnswer: AudioStatus | null;
  /** Plain words: is the call's audio where it should be. */
  verdict: string;
}

const KEEP = 20;

function judge(a: AudioStatus | null): string {
  if (!a) return 'the call was not answered, so its audio path was not checked';
  if (!a.ok) return `audio problem during the call: ${a.reason ?? 'unknown'}`;
  if (a.route !== 'call') return `audio was routed to "${a.route}", not to the call`;
  if (a.muted) return 'audio was routed to the call but muted';
  return `audio routed to the call at volume ${a.volume} %`;
}

export class CallAudioWatch {
  private readonly seen = new Map<string, CallAudioSeen>();
  private off: (() => void) | null = null;

  constructor(
    private readonly d: {
      modem: Modem;
      audio: Audio;
      /** The run the runner is placing now. */
      currentRun: () => string | null;
    },
  ) {}

  start(): void {
    this.off ??= this.d.modem.onEvent((e) => {
      if (e.type !== 'call') return;
      const runId = this.d.currentRun();
      if (!runId) return;
      if (e.event.state === 'dialing') {
        this.remember(runId, {
          atDial: this.d.audio.status(),
          atAnswer: null,
          verdict: judge(null),
        });
      } else if (e.event.state === 'active') {
        const prior = this.seen.get(runId);
        const atAnswer = this.d.audio.status();
        this.remember(runId, { atDial: prior?.atDial ?? null, atAnswer, verdict: judge(atAnswer) });
      }
    });
  }

  stop(): void {
    this.off?.();
    this.off = null;
  }

  of(runId: string): CallAudioSeen | null {
    return this.seen.get(runId) ?? null;
  }

  private remember(runId: string, s: CallAudioSeen): void {
    this.seen.delete(runId);
    this.seen.set(runId, s);
    while (this.seen.size > KEEP) this.seen.delete(this.seen.keys().next().value as string);
  }
}
