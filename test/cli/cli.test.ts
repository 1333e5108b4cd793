/** The CLI as a user runs it: a real child process per command, real files. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { assertBuilt, CLI } from '../support/agent-process.js';

let dir: string;
let configPath: string;

function cli(args: string[], env: NodeJS.ProcessEnv = {}) {
  const r = spawnSync(process.execPath, [CLI, ...args], {
    env: { ...process.env, ...env },
    encoding: 'utf8',
  });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

beforeAll(() => {
  assertBuilt();
  dir = mkdtempSync(join(tmpdir(), 'companion-cli-'));
  configPath = join(dir, 'config.json');
  writeFileSync(
    configPath,
    JSON.stringify({ unitId: 'cli-unit', dataDir: dir, mqtt: { password: 'hunter2' } }),
  );
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('companion-agent CLI', () => {
  it('prints usage and the version', () => {
    expect(cli(['--help']).out).toMatch(/Usage: companion-agent <command>/);
    expect(cli(['version']).out.trim()).toMatch(/^\d+\.\d+\.\d+/);
    const unknown = cli(['frobnicate']);
    expect(unknown.code).toBe(2);
    expect(unknown.err).toMatch(/unknown command "frobnicate"/);
  });

  it('config check validates, redacts secrets, and lists every error with its path', () => {
    const ok = cli(['config', 'check', '--config', configPath]);
    expect(ok.code).toBe(0);
    expect(ok.out).toContain('config OK');
    expect(ok.out).not.toContain('hunter2');
    const bad = join(dir, 'bad.json');
    writeFileSync(
      bad,
      JSON.stringify({ unitId: 'no spaces allowed', runner: { hangGraceSec: -1 }, typo: 1 }),
    );
    const r = cli(['config', 'check', '--config', bad]);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/unitId/);
    expect(r.err).toMatch(/runner\.hangGraceSec/);
    expect(r.err).toMatch(/typo/);
    const env = cli(['config', 'check', '--config', configPath], {
      COMPANION_SCHEDULER__MAX_SLEEP_SEC: '600',
    });
    expect(env.code).toBe(2);
    expect(env.err).toMatch(/scheduler\.maxSleepSec/);
    expect(cli(['config', 'check', '--config', join(dir, 'missing.json')]).err).toMatch(
      /not found/,
    );
  });

  it('apply provisions bookings offline through the same validation, then lists them masked', () => {
    const file = join(dir, 'bookings.json');
    writeFileSync(
      file,
      JSON.stringify({
        commands: [
          {
            type: 'booking.upsert',
            commandId: 'cli-1',
            booking: {
              id: 'mum-weekly',
              version: 1,
              callee: '+4915123456789',
              agentId: 'companion',
              schedule: {
                kind: 'weekly',
                days: ['mon', 'thu'],
                time: '16:00',
                zone: 'Europe/Berlin',
              },
            },
          },
          { type: 'booking.upsert', commandId: 'cli-2', booking: { id: 'broken', version: 1 } },
        ],
      }),
    );
    const r = cli(['apply', file, '--config', configPath]);
    expect(r.code).toBe(1); // one command was rejected
    expect(r.out).toMatch(/1 accepted, 1 rejected/);
    expect(r.out).toMatch(/booking\.callee/);
    const list = cli(['bookings', '--config', configPath]);
    expect(list.out).toContain('mum-weekly');
    expect(list.out).toContain('+49 151 ••• ••89');
    expect(list.out).not.toContain('+4915123456789');
    const json = JSON.parse(cli(['bookings', '--config', configPath, '--json']).out) as {
      bookingId: string;
      nextSlotAt: string;
    }[];
    expect(json[0]).toMatchObject({ bookingId: 'mum-weekly' });
    expect(Date.parse(json[0]!.nextSlotAt)).toBeGreaterThan(Date.now());
    const status = JSON.parse(cli(['status', '--config', configPath, '--json']).out) as {
      bookings: { active: number };
    };
    expect(status.bookings.active).toBe(1);
    expect(cli(['runs', '--config', configPath]).out).toContain('Upcoming');
  });

  it('explains a missing database and an unknown dead letter', () => {
    const other = join(dir, 'other.json');
    writeFileSync(other, JSON.stringify({ dataDir: join(dir, 'nothing-here') }));
    const r = cli(['status', '--config', other]);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/no database at .*has not run/);
    const replay = cli(['dead-letter', 'replay', 'no-such-run', '--config', configPath]);
    expect(replay.code).toBe(3);
    expect(replay.err).toMatch(/no run with id no-such-run/);
  });
});
