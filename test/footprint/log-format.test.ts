/**
 * Human-readable logs on a terminal, JSON everywhere else, and no pino-pretty in a production
 * process (issue 14, item 6). Real child processes of the built logger; stdout is a pipe here, so
 * `auto` must mean JSON, and `pretty` is asked for explicitly (what a terminal gets).
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const LOG = join(process.cwd(), 'dist', 'agent', 'log.js');

function logOnce(format: string) {
  const code = `
    const { createLogger } = await import(${JSON.stringify(LOG)});
    const log = createLogger({ format: ${JSON.stringify(format)} });
    log.info({ callee: '+4915123456789' }, 'hello from the agent');
    log.flush?.();
    const { createRequire } = await import('node:module');
    const loaded = Object.keys(createRequire(import.meta.url).cache).some((k) => k.includes('pino-pretty'));
    setTimeout(() => process.stderr.write(loaded ? 'pretty-loaded' : 'pretty-absent'), 50);`;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', code], { encoding: 'utf8' });
  expect(r.status, r.stderr).toBe(0);
  return { out: r.stdout, loaded: r.stderr.includes('pretty-loaded') };
}

describe('log format', () => {
  it('auto on a pipe writes JSON lines and never loads pino-pretty', () => {
    const { out, loaded } = logOnce('auto');
    const line = JSON.parse(out.trim()) as Record<string, unknown>;
    expect(line).toMatchObject({ level: 30, msg: 'hello from the agent' });
    expect(JSON.stringify(line)).not.toContain('5123456789');
    expect(loaded).toBe(false);
  });

  it('pretty writes human-readable lines, still masked', () => {
    const { out, loaded } = logOnce('pretty');
    expect(() => JSON.parse(out.trim())).toThrow();
    expect(out).toContain('INFO');
    expect(out).toContain('hello from the agent');
    expect(out).not.toContain('5123456789');
    expect(loaded).toBe(true);
  });
});
