import { join } from 'node:path';
import { type AlsaAudioConfig, alsaAudioConfigSchema } from '../config.js';
import { type HalLogger, silentLogger } from '../logger.js';
import type { Audio, AudioRoute, AudioStatus } from '../types.js';
import { type CommandRunner, describeFailure, execCommandRunner } from './command-runner.js';

export interface AlsaAudioOptions {
  config: Partial<AlsaAudioConfig>;
  logger?: HalLogger;
  /** Defaults to execFile; tests inject a recorder, so no sound hardware is needed. */
  run?: CommandRunner;
}

/** Prompt names become file names: no paths, no dots, nothing a shell or a traversal could use. */
const PROMPT_NAME = /^[A-Za-z0-9_-]{1,64}$/;

/**
 * ALSA audio through the standard tools: amixer for routing, volume and mute, aplay for prompts.
 * Every child runs with a timeout. A failing mixer command rejects and is reflected in status, so
 * the runner can record "no audio" against the call instead of guessing.
 */
export class AlsaAudio implements Audio {
  private readonly cfg: AlsaAudioConfig;
  private readonly run: CommandRunner;
  private readonly log: HalLogger;
  private current: AudioStatus;

  constructor(opts: AlsaAudioOptions) {
    this.cfg = alsaAudioConfigSchema().parse(opts.config);
    this.run = opts.run ?? execCommandRunner;
    this.log = opts.logger ?? silentLogger;
    this.current = {
      driver: 'alsa',
      ok: false,
      reason: 'not started',
      route: 'off',
      volume: this.cfg.initialVolume,
      muted: false,
    };
  }

  async start(): Promise<void> {
    // Start must not throw for missing hardware: report it in status instead.
    try {
      await this.setVolume(this.cfg.initialVolume);
      await this.setRoute('off');
      this.current = { ...this.current, ok: true, reason: null };
    } catch (err) {
      this.log.warn({ err: (err as Error).message }, 'ALSA audio not available');
    }
  }

  async stop(): Promise<void> {
    await this.setRoute('off').catch(() => {});
    this.current = { ...this.current, ok: false, reason: 'stopped' };
  }

  async setRoute(route: AudioRoute): Promise<void> {
    for (const [control, value] of Object.entries(this.cfg.routes[route])) {
      await this.amixer(['sset', control, value]);
    }
    this.current = { ...this.current, route };
  }

  async setVolume(percent: number): Promise<void> {
    if (!Number.isFinite(percent)) throw new RangeError('volume must be a number');
    const volume = Math.round(Math.min(100, Math.max(0, percent)));
    await this.amixer(['sset', this.cfg.volumeControl, `${volume}%`]);
    this.current = { ...this.current, volume };
  }

  async setMute(muted: boolean): Promise<void> {
    const control = this.cfg.muteControl ?? this.cfg.volumeControl;
    await this.amixer(['sset', control, muted ? 'mute' : 'unmute']);
    this.current = { ...this.current, muted };
  }

  async play(name: string): Promise<void> {
    if (!PROMPT_NAME.test(name)) throw new Error(`invalid prompt name "${name}"`);
    const file = join(this.cfg.promptsDir, `${name}.wav`);
    const r = await this.run('aplay', ['-q', '-D', this.cfg.playbackDevice, file], {
      timeoutMs: this.cfg.playTimeoutMs,
    });
    if (r.code !== 0) {
      const reason = describeFailure('aplay', r);
      this.log.warn({ prompt: name, reason }, 'prompt playback failed');
      throw new Error(reason);
    }
  }

  status(): AudioStatus {
    return { ...this.current };
  }

  private async amixer(args: string[]): Promise<void> {
    const target = this.cfg.mixerDevice ? ['-D', this.cfg.mixerDevice] : ['-c', this.cfg.card];
    const r = await this.run('amixer', [...target, '-q', ...args], {
      timeoutMs: this.cfg.mixerTimeoutMs,
    });
    if (r.code !== 0) {
      const reason = describeFailure('amixer', r);
      this.current = { ...this.current, ok: false, reason };
      throw new Error(reason);
    }
    if (
      !this.current.ok &&
      this.current.reason !== 'not started' &&
      this.current.reason !== 'stopped'
    ) {
      this.current = { ...this.current, ok: true, reason: null }; // the mixer answers again
    }
  }
}
