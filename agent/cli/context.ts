/** What every CLI command gets: parsed flags, config loading, store opening, and output helpers. */
import { existsSync } from 'node:fs';
import { loadConfig, type Config } from '../config/config.js';
import { Store } from '../store/store.js';
import { dbPathOf } from '../app.js';

export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode = 1,
  ) {
    super(message);
    this.name = 'CliError';
  }
}

export interface CliContext {
  args: string[];
  flags: { config: string | null; json: boolean; [k: string]: string | boolean | null };
  out: (s: string) => void;
  err: (s: string) => void;
  env: NodeJS.ProcessEnv;
}

export function configOf(ctx: CliContext): Config {
  return loadConfig({ path: ctx.flags.config, env: ctx.env });
}

/** Open the unit's store for a one-shot command. `create` applies migrations if needed. */
export function openStore(config: Config, create = false): Store {
  const path = dbPathOf(config);
  if (!create && !existsSync(path)) {
    throw new CliError(
      `no database at ${path}: the agent has not run with this data dir yet ` +
        `(start it with "companion-agent run", or pass --config / COMPANION_DATA_DIR)`,
    );
  }
  // A one-shot command may wait for the running agent's write lock (it is not an event loop).
  return Store.open(path, { busyTimeoutMs: CLI_BUSY_TIMEOUT_MS });
}

/** How long a CLI command waits for the agent's write lock before it reports the store busy. */
export const CLI_BUSY_TIMEOUT_MS = 5_000;

export function printJson(ctx: CliContext, v: unknown): void {
  ctx.out(JSON.stringify(v, null, 2));
}

/** A plain aligned table; empty input prints a "(none)" line so the output never looks broken. */
export function table(rows: Record<string, unknown>[], columns: string[]): string {
  if (rows.length === 0) return '(none)';
  const cell = (v: unknown) => (v === null || v === undefined ? '-' : String(v));
  const widths = columns.map((c) => Math.max(c.length, ...rows.map((r) => cell(r[c]).length)));
  const line = (vals: string[]) =>
    vals
      .map((v, i) => v.padEnd(widths[i]!))
      .join('  ')
      .trimEnd();
  return [line(columns), ...rows.map((r) => line(columns.map((c) => cell(r[c]))))].join('\n');
}
