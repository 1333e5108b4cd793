/** The companion-cloud CLI as an operator runs it: keygen, book against a live unit, clear errors. */
import { execFile } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { startBroker, stopAllBrokers } from '../support/mosquitto.js';
import { startUnit, until } from './unit-harness.js';

const CLI = fileURLToPath(new URL('../../sync/cloud/cli.ts', import.meta.url));
const run = (args: string[]) =>
  promisify(execFile)(process.execPath, ['--import', 'tsx', CLI, ...args]).then(
    (r) => ({ code: 0, ...r }),
    (e: { code: number; stdout: string; stderr: string }) => e,
  );

afterAll(async () => {
  await stopAllBrokers();
});

describe('companion-cloud CLI', () => {
  it('keygen, then book a call on a unit pinned to that key', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'companion-cli-'));
    const kg = await run(['keygen', '--out', dir]);
    expect(kg.code).toBe(0);
    const { publicKey, privateKeyFile } = JSON.parse(kg.stdout) as {
      publicKey: string;
      privateKeyFile: string;
    };
    const broker = await startBroker();
    const unit = startUnit(broker.url, {
      unitId: 'unit-cli',
      mqtt: { signature: { publicKeys: [publicKey] } },
    });
    await unit.start();
    try {
      await until(() => unit.link.state().connected, 'connected');
      const common = [
        '--url',
        broker.url,
        '--sign-key',
        privateKeyFile,
        '--state',
        join(dir, 'seq.json'),
      ];
      const booked = await run([
        'book',
        'unit-cli',
        '--callee',
        '+4930123456',
        '--at',
        '2030-01-01T10:00:00Z',
        '--id',
        'cli-1',
        ...common,
      ]);
      expect(booked.code).toBe(0);
      expect(JSON.parse(booked.stdout)).toMatchObject({ status: 'accepted', bookingId: 'cli-1' });
      const bad = await run([
        'book',
        'unit-cli',
        '--callee',
        '12',
        '--at',
        '2030-01-01T10:00:00Z',
        ...common,
      ]);
      expect(bad.code).toBe(1);
      expect(JSON.parse(bad.stdout).reasons[0].code).toBe('invalid_callee');
      const cancelled = await run(['cancel', 'unit-cli', 'cli-1', '--version', '2', ...common]);
      expect(JSON.parse(cancelled.stdout)).toMatchObject({ status: 'accepted' });
      expect(unit.lastSeq()).toBe(3);
    } finally {
      await unit.stop();
    }
  });

  it('explains what is missing', async () => {
    const r = await run(['book', 'unit-x', '--unsigned', '--url', 'mqtt://127.0.0.1:1']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('missing --callee');
    const k = await run([
      'book',
      'unit-x',
      '--callee',
      '+4930123456',
      '--at',
      '2030-01-01T10:00:00Z',
    ]);
    expect(k.stderr).toContain('no signing key');
  });
});
