import type { Audio, AudioRoute, AudioStatus, HalTimers } from '../types.js';

export interface SimulatorAudioOptions {
  timers: HalTimers;
  /** How long play() takes, in ms (default 0: resolves at once). */
  playDurationMs?: number;
  /** Prompt names that exist; play() of any other name rejects. Omitted = every name exists. */
  prompts?: string[];
}

/** Audio that remembers what it was told, for development and tests. */
export class SimulatorAudio implements Audio {
  /** Every prompt played, in order. */
  readonly played: string[] = [];
  private current: AudioStatus = {
    driver: 'simulator',
    ok: false,
    reason: 'not started',
    route: 'off',
    volume: 70,
    muted: false,
  };

  constructor(private readonly opts: SimulatorAudioOptions) {}

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
    await new Promise<void>((resolve) => this.opts.timers.setTimeout(resolve, ms));
  }

  status(): AudioStatus {
    return { ...this.current };
  }
}
