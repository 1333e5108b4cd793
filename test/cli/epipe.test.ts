/**
 * CLI commands in a pipeline whose reader stops early (`companion-agent status | head -4`): the
 * real CLI as a child process whose stdout pipe is closed by the reader before it writes. It ends
 * quietly with exit 0, no EPIPE stack trace; a real shell pipeline does the same.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { assertBuilt, CLI } from '../support/agent-process.js';

const BOOKINGS = JSON.stringify({
  commands: [
    {
      type: 'booking.upsert',
      commandId: 'owner-1',
      booking: {
        id: 'mum-weekly',
        version: 1,
        callee: '+4915123456789',
        agentId: 'companion',
        schedule: { kind: 'weekly', days: ['mon'], time: '16:00', zone: 'Europe/Berlin' },
      },
    },
  ],
});

let dir: string;
const env = () => ({
  PATH: process.env.PATH,
  COMPANION_DATA_DIR: dir,
  COMPANION_DIAGNOSTICS__ENABLED: 'false',
});

beforeAll(() => {
  assertBuilt();
  dir = mkdtempSync(join(tmpdir(), 'companion-epipe-'));
  const r = spawnSync(process.execPath, [CLI, 'apply', '-'], {
    env: env(),
    encoding: 'utf8',
    input: BOOKINGS,
  });
  expect(r.status, r.stderr).toBe(0);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Run the CLI with its stdout's reading end already closed. */
function withClosedReader(args: string[]): Promise<{ code: number | null; err: string }> {
  const child = spawn(process.execPath, [CLI, ...args], {
    env: env(),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout.destroy();
  let err = '';
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  return new Promise((resolve) => child.once('close', (code) => resolve({ code, err })));
}

describe('CLI output into a closed pipe', () => {
  it.each(['status', 'bookings', 'runs', 'config check', 'doctor --json', '--help'])(
    '%s ends quietly with exit 0',
    async (cmd) => {
      const r = await withClosedReader(cmd.split(' '));
      expect(r.err).toBe('');
      expect(r.code).toBe(0);
    },
  );

  it('in a shell pipeline: bookings | head -1 prints one line, exit 0 on both sides', () => {
    const r = spawnSync(
      'bash',
      ['--norc', '-o', 'pipefail', '-c', `"${process.execPath}" "${CLI}" bookings | head -1`],
      { env: env(), encoding: 'utf8' },
    );
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout.trim().split('\n')).toHaveLength(1);
  });
});
