/**
 * A private PulseAudio server for tests, so ALSA's real userspace (amixer, aplay) has a mixer and
 * a sink on a machine without a sound card: `pulseaudio` with a null sink on its own unix socket
 * in a temp dir, reached through alsa-plugins' `pulse` PCM and control devices (`amixer -D pulse`,
 * `aplay -D pulse`). Children find it through PULSE_SERVER in `env`. `stop()` kills it; every
 * server started here is also killed by stopAllPulse() and on process exit.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const live = new Set<PulseServer>();

export class PulseServer {
  readonly dir = mkdtempSync(join(tmpdir(), 'companion-pulse-'));
  private proc: ChildProcess | null = null;
  private output = '';

  get socket(): string {
    return join(this.dir, 'native');
  }

  /** What a child (amixer, aplay, the agent) needs in its environment to use this server. */
  get env(): Record<string, string> {
    return {
      PULSE_SERVER: `unix:${this.socket}`,
      PULSE_RUNTIME_PATH: join(this.dir, 'runtime'),
      PULSE_STATE_PATH: join(this.dir, 'state'),
      PULSE_COOKIE: join(this.dir, 'cookie'),
    };
  }

  async start(): Promise<void> {
    for (const d of ['runtime', 'state']) mkdirSync(join(this.dir, d), { recursive: true });
    const proc = spawn(
      'pulseaudio',
      [
        '-n', // no default.pa: only the modules below
        '--daemonize=no',
        '--exit-idle-time=-1',
        '--use-pid-file=no',
        '--log-target=stderr',
        '-L',
        'module-null-sink sink_name=companion_test',
        '-L',
        `module-native-protocol-unix socket=${this.socket} auth-anonymous=1`,
      ],
      { env: { ...process.env, ...this.env, HOME: this.dir }, stdio: ['ignore', 'ignore', 'pipe'] },
    );
    this.proc = proc;
    live.add(this);
    proc.stderr!.on('data', (b: Buffer) => (this.output += b.toString()));
    const deadline = Date.now() + 10_000;
    while (!existsSync(this.socket) || !this.answers()) {
      if (proc.exitCode !== null) throw new Error(`pulseaudio exited: ${this.output}`);
      if (Date.now() > deadline) throw new Error(`pulseaudio did not start: ${this.output}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** Reads a simple mixer control through ALSA's pulse control device: volume % and switch. */
  mixer(control: string): { percent: number; on: boolean } {
    const out = execFileSync('amixer', ['-D', 'pulse', 'sget', control], {
      env: { ...process.env, ...this.env },
      encoding: 'utf8',
    });
    const m = /\[(\d+)%\](?: \[(on|off)\])?/.exec(out);
    const sw = /\[(on|off)\]/.exec(out);
    if (!m) throw new Error(`no volume in amixer output: ${out}`);
    return { percent: Number(m[1]), on: sw?.[1] === 'on' };
  }

  async stop(): Promise<void> {
    const proc = this.proc;
    this.proc = null;
    live.delete(this);
    if (proc && proc.exitCode === null && proc.signalCode === null) {
      const exited = new Promise<void>((r) => proc.once('exit', () => r()));
      proc.kill('SIGKILL');
      await exited;
    }
    rmSync(this.dir, { recursive: true, force: true });
  }

  /** Synchronous last resort (process exit). */
  killNow(): void {
    this.proc?.kill('SIGKILL');
  }

  private answers(): boolean {
    try {
      execFileSync('pactl', ['info'], { env: { ...process.env, ...this.env }, stdio: 'ignore' });
      return true;
    } catch {
      return false;
    }
  }
}

export async function stopAllPulse(): Promise<void> {
  await Promise.all([...live].map((p) => p.stop()));
}

process.on('exit', () => {
  for (const p of live) p.killNow();
});
