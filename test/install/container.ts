/**
 * A minimal Debian root from debootstrap (cached between runs on one machine), copied fresh for
 * each run, and booted with systemd-nspawn. Everything started here is registered for cleanup:
 * `Cleanup.run()` stops every container and removes every work tree, also after a failure or a
 * signal.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  openSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
} from 'node:fs';
import { join } from 'node:path';

export interface RunResult {
  code: number | null;
  out: string;
  err: string;
}

/** Run a command to completion (no shell), with a time limit; never throws on a non-zero exit. */
export function run(
  cmd: string,
  args: string[],
  opts: { timeoutMs?: number; input?: string; env?: NodeJS.ProcessEnv } = {},
): RunResult {
  const r = spawnSync(cmd, args, {
    encoding: 'utf8',
    timeout: opts.timeoutMs ?? 120_000,
    input: opts.input ?? '',
    env: opts.env ?? process.env,
    maxBuffer: 64 * 1024 * 1024,
    killSignal: 'SIGKILL',
  });
  if (r.error && (r.error as NodeJS.ErrnoException).code === 'ETIMEDOUT') {
    return { code: null, out: r.stdout ?? '', err: `${r.stderr ?? ''}\n(timed out)` };
  }
  if (r.error) throw r.error;
  return { code: r.status, out: r.stdout, err: r.stderr };
}

/** Everything to undo, newest first. */
export class Cleanup {
  private readonly steps: { what: string; fn: () => Promise<void> | void }[] = [];
  add(what: string, fn: () => Promise<void> | void): void {
    this.steps.push({ what, fn });
  }
  async run(): Promise<void> {
    while (this.steps.length > 0) {
      const s = this.steps.pop()!;
      try {
        await s.fn();
      } catch (err) {
        process.stderr.write(`cleanup: ${s.what}: ${(err as Error).message}\n`);
      }
    }
  }
}

const CLEAN_ENV = { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', LANG: 'C.UTF-8', HOME: '/root' };

export interface RootOptions {
  suite: string;
  cacheDir: string;
  /** Extra packages in the cached root: what booting needs, nothing of ours. */
  include: string[];
  mirror?: string;
  log: (s: string) => void;
}

/**
 * The cached pristine root for a suite, made by debootstrap on first use. Built under a temporary
 * name and renamed into place, so a run killed half-way never leaves a broken cache.
 */
export function cachedRoot(o: RootOptions): string {
  const arch = run('dpkg', ['--print-architecture']).out.trim();
  // The key changes whenever what goes into the root changes.
  const key = `${o.suite}-${arch}-minbase-${o.include.join('+')}`;
  const dir = join(o.cacheDir, key);
  if (existsSync(join(dir, 'etc', 'os-release'))) {
    o.log(`debian root: cached ${dir}`);
    return dir;
  }
  mkdirSync(o.cacheDir, { recursive: true });
  const tmp = `${dir}.partial-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  o.log(`debian root: debootstrap ${o.suite} (${arch}) into ${tmp} (first run on this machine)`);
  const args = ['--variant=minbase', `--include=${o.include.join(',')}`, o.suite, tmp];
  if (o.mirror) args.push(o.mirror);
  const r = run('debootstrap', args, { timeoutMs: 15 * 60_000 });
  if (r.code !== 0) {
    rmSync(tmp, { recursive: true, force: true });
    throw new Error(`debootstrap failed (${r.code}):\n${tail(r.out + r.err, 30)}`);
  }
  // Downloaded .debs are not part of a root; package lists stay (apt-get update refreshes them).
  rmSync(join(tmp, 'var', 'cache', 'apt', 'archives'), { recursive: true, force: true });
  mkdirSync(join(tmp, 'var', 'cache', 'apt', 'archives', 'partial'), { recursive: true });
  try {
    renameSync(tmp, dir);
  } catch {
    // Another run finished first: use its root.
    rmSync(tmp, { recursive: true, force: true });
  }
  return dir;
}

/** A private copy of the cached root for one run; removed by the cleanup. */
export function freshRoot(cached: string, work: string, cleanup: Cleanup): string {
  const root = join(work, 'root');
  const r = run('cp', ['-a', '--reflink=auto', cached, root], { timeoutMs: 5 * 60_000 });
  if (r.code !== 0) throw new Error(`copying the root failed: ${r.err}`);
  cleanup.add(`remove ${root}`, () => rmSync(root, { recursive: true, force: true }));
  return root;
}

/** `systemd-nspawn -D root -- cmd`: the root as an image build sees it (no systemd running). */
export function inImage(root: string, binds: string[], script: string, timeoutMs = 10 * 60_000) {
  return run(
    'systemd-nspawn',
    [
      '--quiet',
      '--register=no',
      '--keep-unit',
      `--directory=${root}`,
      ...binds.map((b) => `--bind-ro=${b}`),
      '--setenv=DEBIAN_FRONTEND=noninteractive',
      '/bin/sh',
      '-ec',
      script,
    ],
    { timeoutMs },
  );
}

/** A booted container: systemd as PID 1 in its own namespaces, commands run in it with nsenter. */
export class BootedContainer {
  private child: ChildProcess | null = null;
  private initPid = 0;
  private exited: Promise<void> = Promise.resolve();
  readonly consoleLog: string;

  constructor(
    private readonly root: string,
    private readonly opts: { name: string; binds: string[]; work: string },
  ) {
    this.consoleLog = join(opts.work, 'console.log');
  }

  /** Boot and wait until systemd says start-up is over; registers its own stop with `cleanup`. */
  async boot(cleanup: Cleanup): Promise<void> {
    const log = openSync(this.consoleLog, 'a');
    this.child = spawn(
      'systemd-nspawn',
      [
        '--boot',
        '--register=no',
        '--keep-unit',
        // Its own loopback only: an offline unit, and nothing it opens meets the host's ports.
        '--private-network',
        `--machine=${this.opts.name}`,
        `--directory=${this.root}`,
        ...this.opts.binds.map((b) => `--bind-ro=${b}`),
      ],
      { stdio: ['ignore', log, log], detached: false },
    );
    this.exited = new Promise((resolve) => this.child!.once('exit', () => resolve()));
    cleanup.add(`stop container ${this.opts.name}`, () => this.stop());
    const deadline = Date.now() + 120_000;
    while (!this.initPid) {
      if (this.child.exitCode !== null) throw new Error(`nspawn exited:\n${this.console(30)}`);
      if (Date.now() > deadline) throw new Error(`container did not start:\n${this.console(30)}`);
      this.initPid = this.findInit();
      if (!this.initPid) await sleep(100);
    }
    // PID 1 may not answer yet right after it appears: ask again until it does.
    let state = '';
    while (state !== 'running' && state !== 'degraded') {
      const r = this.exec('systemctl is-system-running --wait', 120_000);
      state = r.out.trim();
      if (['stopping', 'maintenance'].includes(state) || Date.now() > deadline) {
        throw new Error(`boot ended "${state}" (${r.err.trim()}):\n${this.console(40)}`);
      }
      if (state !== 'running' && state !== 'degraded') await sleep(200);
    }
    if (state === 'degraded') {
      const failed = this.exec('systemctl --failed --no-legend --plain').out.trim();
      throw new Error(`boot degraded, failed units:\n${failed}`);
    }
  }

  /** The container's PID 1: nspawn's child whose command is systemd. */
  private findInit(): number {
    const pid = this.child?.pid;
    if (!pid) return 0;
    const kids = run('pgrep', ['-P', String(pid)])
      .out.split('\n')
      .filter(Boolean);
    for (const k of kids) {
      let comm: string;
      try {
        comm = readFileSync(`/proc/${k}/comm`, 'utf8').trim();
      } catch {
        continue; // a short-lived child of nspawn that exited since pgrep listed it
      }
      if (comm === 'systemd') return Number(k);
    }
    return 0;
  }

  /** Run a shell script inside the booted container, as root, with a clean environment. */
  exec(script: string, timeoutMs = 120_000): RunResult {
    if (!this.initPid) throw new Error('container is not running');
    return run(
      'nsenter',
      [
        `--target=${this.initPid}`,
        '--mount',
        '--uts',
        '--ipc',
        '--net',
        '--pid',
        '--root',
        '--wd=/',
        'env',
        '-i',
        ...Object.entries(CLEAN_ENV).map(([k, v]) => `${k}=${v}`),
        '/bin/sh',
        '-c',
        script,
      ],
      { timeoutMs },
    );
  }

  /** `systemctl show` properties as an object. */
  show(unit: string, props: string[]): Record<string, string> {
    const r = this.exec(`systemctl show ${unit} ${props.map((p) => `-p ${p}`).join(' ')}`);
    const out: Record<string, string> = {};
    for (const line of r.out.split('\n')) {
      const i = line.indexOf('=');
      if (i > 0) out[line.slice(0, i)] = line.slice(i + 1);
    }
    return out;
  }

  console(lines: number): string {
    return existsSync(this.consoleLog) ? tail(readFileSync(this.consoleLog, 'utf8'), lines) : '';
  }

  /** Orderly shutdown (nspawn turns SIGTERM into a halt of the container), then force. */
  async stop(): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    if (await Promise.race([this.exited.then(() => true), sleep(30_000).then(() => false)])) return;
    process.stderr.write(`container ${this.opts.name}: no orderly halt in 30 s, killing it\n`);
    // Killing a PID namespace's init kills everything in it.
    if (this.initPid) spawnSync('kill', ['-KILL', String(this.initPid)]);
    child.kill('SIGKILL');
    await Promise.race([this.exited, sleep(10_000)]);
  }
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export function tail(s: string, lines: number): string {
  return s.split('\n').slice(-lines).join('\n');
}

export function fileAgeDays(path: string): number {
  return (Date.now() - statSync(path).mtimeMs) / 86_400_000;
}
