/**
 * Starts bench/cloud-peer.ts as a child process and calls its operations. The child runs with plain
 * node (the cloud is not the agent: no launcher flags) and is killed on dispose, also when a
 * benchmark fails.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

interface Reply {
  id?: number;
  ok?: boolean;
  value?: unknown;
  error?: string;
  ready?: boolean;
}

export interface CloudPeer {
  call<T>(op: string, args?: Record<string, unknown>): Promise<T>;
  dispose(): Promise<void>;
}

export async function startCloudPeer(): Promise<CloudPeer> {
  const path = fileURLToPath(new URL('./cloud-peer.js', import.meta.url));
  const child: ChildProcess = fork(path, [], {
    execArgv: [],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  let nextId = 1;
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  child.once('exit', (code) => {
    for (const p of pending.values()) p.reject(new Error(`cloud peer exited (${code})`));
    pending.clear();
  });
  await new Promise<void>((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`cloud peer exited before ready (${code})`)));
    child.on('message', (m: Reply) => {
      if (m.ready) return resolve();
      const p = m.id === undefined ? undefined : pending.get(m.id);
      if (!p) return;
      pending.delete(m.id!);
      if (m.ok) p.resolve(m.value);
      else p.reject(new Error(m.error ?? 'cloud peer failed'));
    });
  });
  return {
    call<T>(op: string, args: Record<string, unknown> = {}): Promise<T> {
      const id = nextId++;
      return new Promise<T>((resolve, reject) => {
        pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
        child.send({ id, op, args });
      });
    },
    async dispose() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    },
  };
}
