import type { Audio, AudioClip, AudioRoute, AudioStatus, HalTimers } from '../types.js';

export interface SimulatorAudioOptions {
  timers: HalTimers;
  /** How long play() takes, in ms (default 0: resolves at once). */
  playDurationMs?: number;
  /** Prompt names that exist; play() of any other name rejects. Omitted = every name exists. */
  prompts?: string[];
}

/** What the simulated microphone hears when record() runs (technician checks). */
export type SimMicrophone =
  | { kind: 'silence' }
  /** A sine at `amplitude` (0..1 of full scale). */
  | { kind: 'tone'; frequencyHz: number; amplitude: number };

type Member = 'playTone' | 'record' | 'playClip';

const RATE_HZ = 8000;

/** Audio that remembers what it was told, for development and tests. */
export class SimulatorAudio implements Audio {
  /** Every prompt played, in order. */
  readonly played: string[] = [];
  /** Tones played (speaker test), with the route they went to. */
  readonly tones: { frequencyHz: number; durationMs: number; route: AudioRoute; at: number }[] = [];
  /** Recordings made (microphone test): duration and when. The audio itself is not kept. */
  readonly recordings: { durationMs: number; at: number }[] = [];
  /** Clips played back, with their length in samples per channel and the route. */
  readonly clipsPlayed: { samples: number; rateHz: number; route: AudioRoute; at: number }[] = [];
  /** By default someone speaks at an ordinary level near the unit. */
  private microphone: SimMicrophone = { kind: 'tone', frequencyHz: 300, amplitude: 0.2 };
  private readonly failures = new Map<Member, string[]>();
  private current: AudioStatus = {
    driver: 'simulator',
    ok: false,
    reason: 'not started',
    route: 'off',
    volume: 70,
    muted: false,
  };

  constructor(private readonly opts: SimulatorAudioOptions) {}

  // ---- scripting API (tests and dev config) ----

  setMicrophone(mic: SimMicrophone): void {
    this.microphone = mic;
  }

  /** The next call of `member` rejects with this message (FIFO per member). */
  failNext(member: Member, message: string): void {
    const q = this.failures.get(member) ?? [];
    q.push(message);
    this.failures.set(member, q);
  }

  // ---- Audio ----

  async start(): Promise<void> {
    this.current = { ...this.current, ok: true, reason: null };
  }

  async stop(): Promise<void> {
    this.current = { ...this.current, ok: false, reason: 'stopped', route: 'off' };
  }

  async setRoute(route: AudioRoute): Promise<void> {
    this.current = { ...this.current, route };
  }

  async setVolume(percent: number): Promise<void> {
    if (!Number.isFinite(percent)) throw new RangeError('volume must be a number');
    this.current = { ...this.current, volume: Math.round(Math.min(100, Math.max(0, percent))) };
  }

  async setMute(muted: boolean): Promise<void> {
    this.current = { ...this.current, muted };
  }

  async play(name: string): Promise<void> {
    if (this.opts.prompts && !this.opts.prompts.includes(name)) {
      throw new Error(`unknown prompt "${name}"`);
    }
    this.played.push(name);
    const ms = this.opts.playDurationMs ?? 0;
    if (ms <= 0) return;
    await this.sleep(ms);
  }

  status(): AudioStatus {
    return { ...this.current };
  }

  async playTone(tone: { frequencyHz: number; durationMs: number }): Promise<void> {
    this.maybeFail('playTone');
    this.tones.push({ ...tone, route: this.current.route, at: this.opts.timers.now() });
    await this.sleep(tone.durationMs);
  }

  async record(durationMs: number): Promise<AudioClip> {
    this.maybeFail('record');
    this.recordings.push({ durationMs, at: this.opts.timers.now() });
    await this.sleep(durationMs);
    return { format: 'S16_LE', rateHz: RATE_HZ, channels: 1, data: this.hear(durationMs) };
  }

  async playClip(clip: AudioClip): Promise<void> {
    this.maybeFail('playClip');
    const samples = clip.data.length / 2 / clip.channels;
    this.clipsPlayed.push({
      samples,
      rateHz: clip.rateHz,
      route: this.current.route,
      at: this.opts.timers.now(),
    });
    await this.sleep((samples / clip.rateHz) * 1000);
  }

  private hear(durationMs: number): Buffer {
    const n = Math.round((RATE_HZ * durationMs) / 1000);
    const out = Buffer.alloc(n * 2);
    const mic = this.microphone;
    const freq = mic.kind === 'tone' ? mic.frequencyHz : 0;
    const amp = mic.kind === 'tone' ? mic.amplitude : 0;
    for (let i = 0; i < n; i++) {
      const v = Math.round(Math.sin((2 * Math.PI * freq * i) / RATE_HZ) * amp * 32767);
      out.writeInt16LE(Math.max(-32768, Math.min(32767, v)), i * 2);
    }
    return out;
  }

  private maybeFail(member: Member): void {
    const msg = this.failures.get(member)?.shift();
    if (msg !== undefined) throw new Error(msg);
  }

  private sleep(ms: number): Promise<void> {
    if (ms <= 0) return Promise.resolve();
    return new Promise<void>((resolve) => this.opts.timers.setTimeout(resolve, ms));
  }
}
