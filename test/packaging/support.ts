/**
 * Helpers for the packaging tests: temp dirs, a content dump that compares databases by what they
 * hold, and the agent CLI run from source as a real child process.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';

export const tempDir = (prefix: string) => mkdtempSync(join(tmpdir(), `companion-${prefix}-`));

/** Schema, user_version and every row of every table, in a stable order. */
export function dumpDb(path: string): string {
  const db = new Database(path, { readonly: true });
  try {
    const objects = db
      .prepare<[], { type: string; name: string; sql: string | null }>(
        "SELECT type, name, sql FROM sqlite_master WHERE name NOT LIKE 'sqlite_%' ORDER BY type, name",
      )
      .all();
    const out: unknown[] = [db.pragma('user_version', { simple: true }), objects];
    for (const t of objects.filter((o) => o.type === 'table')) {
      out.push([t.name, db.prepare(`SELECT * FROM "${t.name}" ORDER BY rowid`).raw().all()]);
    }
    return JSON.stringify(out);
  } finally {
    db.close();
  }
}

export interface Child {
  child: ChildProcess;
  output: () => string;
  exited: Promise<number | null>;
  /** Resolves once the output contains `text` (rejects if the process exits first). */
  waitFor: (text: string) => Promise<void>;
  /** Resolves once `pred(output)` holds, checked on every new chunk of output. */
  waitUntil: (pred: (out: string) => boolean, what?: string) => Promise<void>;
}

const CLI = join(process.cwd(), 'agent', 'cli', 'main.ts');

/** `companion-agent <args>` from source (tsx), with only the environment given plus PATH. */
export function runCli(args: string[], env: NodeJS.ProcessEnv): Child {
  const child = spawn(process.execPath, ['--import', 'tsx', CLI, ...args], {
    env: { PATH: process.env.PATH, COMPANION_DIAGNOSTICS__ENABLED: 'false', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  return watch(child);
}

export function watch(child: ChildProcess): Child {
  let out = '';
  const listeners = new Set<() => void>();
  const onData = (b: Buffer) => {
    out += b.toString();
    for (const l of listeners) l();
  };
  child.stdout?.on('data', onData);
  child.stderr?.on('data', onData);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
  const waitUntil = (pred: (out: string) => boolean, what = 'condition') =>
    new Promise<void>((resolve, reject) => {
      const check = () => {
        if (pred(out)) {
          listeners.delete(check);
          resolve();
        }
      };
      listeners.add(check);
      check();
      void exited.then((code) => {
        if (!pred(out)) reject(new Error(`exited (${code}) before ${what}:\n${out}`));
      });
    });
  const waitFor = (text: string) => waitUntil((o) => o.includes(text), `"${text}"`);
  return { child, output: () => out, exited, waitFor, waitUntil };
}
