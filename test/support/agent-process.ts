/**
 * Runs the real agent (`node dist/agent/cli/main.js run`) as a child process, for crash tests:
 * started, waited on until ready, SIGKILLed. Every child is tracked and killed in `killAll`, which
 * tests call from afterAll/afterEach so nothing outlives a failing test.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';

export const CLI = join(process.cwd(), 'dist', 'agent', 'cli', 'main.js');

const live = new Set<ChildProcess>();

export function assertBuilt(): void {
  if (!existsSync(CLI)) {
    throw new Error(`${CLI} is missing: run "npm run build" first (npm test does it for you)`);
  }
}

export interface AgentProcess {
  child: ChildProcess;
  output: () => string;
  /** Resolves when the agent logged that it is ready (or rejects if it exits first). */
  ready: Promise<void>;
  exited: Promise<number | null>;
}

export function startAgentProcess(configPath: string, env: NodeJS.ProcessEnv = {}): AgentProcess {
  assertBuilt();
  const child = spawn(process.execPath, [CLI, 'run', '--config', configPath], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  live.add(child);
  let out = '';
  const exited = new Promise<number | null>((resolve) => {
    child.once('exit', (code) => {
      live.delete(child);
      resolve(code);
    });
  });
  const ready = new Promise<void>((resolve, reject) => {
    const onData = (b: Buffer) => {
      out += b.toString();
      if (out.includes('"msg":"ready"')) resolve();
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', (b: Buffer) => (out += b.toString()));
    void exited.then((code) =>
      reject(new Error(`agent exited (${code}) before ready:\n${out.slice(-3000)}`)),
    );
  });
  ready.catch(() => undefined);
  return { child, output: () => out, ready, exited };
}

export async function sigkill(p: AgentProcess): Promise<void> {
  if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGKILL');
  await p.exited;
}

export async function killAll(): Promise<void> {
  await Promise.all(
    [...live].map(
      (c) =>
        new Promise<void>((resolve) => {
          c.once('exit', () => resolve());
          c.kill('SIGKILL');
        }),
    ),
  );
}

/** A small deterministic PRNG so a failing crash run can be replayed with the same seed. */
export function prng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}
