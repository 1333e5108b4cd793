/**
 * `companion-agent doctor` on real temp directories, files, a real TCP listener and a real SQLite
 * database: each check's OK/WARN/FAIL and its fix, --json, and the exit code.
 */
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { main } from '../../agent/cli/main.js';
import type { ConfigInput } from '../../agent/config/config.js';
import { defaultDoctorEnv, runDoctor, type DoctorReport } from '../../agent/doctor/run.js';
import type { DoctorEnv } from '../../agent/doctor/types.js';
import { loadMigrations, openDb } from '../../agent/store/db.js';
import { tempDir } from './support.js';

const AFTER_FLOOR = Date.parse('2027-03-01T10:00:00Z');
const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0)) await c();
});

function unit(config: ConfigInput = {}) {
  const root = tempDir('doctor');
  const dataDir = join(root, 'data');
  mkdirSync(dataDir);
  const path = join(root, 'config.json');
  writeFileSync(path, JSON.stringify({ dataDir, ...config }));
  return { root, dataDir, path };
}

const env = (over: Partial<DoctorEnv> = {}): DoctorEnv => ({
  ...defaultDoctorEnv(),
  now: () => AFTER_FLOOR,
  connectTimeoutMs: 2000,
  ...over,
});

const doctor = (path: string, over: Partial<DoctorEnv> = {}) =>
  runDoctor({ path, env: {} }, env(over));

function check(r: DoctorReport, name: string) {
  const c = r.checks.find((x) => x.name === name);
  if (!c) throw new Error(`no check named ${name}: ${JSON.stringify(r.checks)}`);
  return c;
}

describe('doctor', () => {
  it('a fresh simulator unit passes, with a warning that the database is not there yet', async () => {
    const u = unit();
    const r = await doctor(u.path);
    expect(r.ok).toBe(true);
    expect(check(r, 'config').status).toBe('ok');
    expect(check(r, 'data dir').status).toBe('ok');
    expect(check(r, 'database')).toMatchObject({
      status: 'warn',
      fix: expect.stringContaining('start the agent'),
    });
    expect(check(r, 'serial device').status).toBe('skip');
    expect(check(r, 'broker').status).toBe('skip');
    expect(check(r, 'disk space').status).toBe('ok');
  });

  it('an invalid config FAILs and stops there', async () => {
    const u = unit({ unitId: 'has spaces' } as ConfigInput);
    const r = await doctor(u.path);
    expect(r.ok).toBe(false);
    expect(r.checks).toHaveLength(1);
    expect(check(r, 'config')).toMatchObject({
      status: 'fail',
      detail: expect.stringContaining('unitId'),
    });
  });

  it('a missing data dir FAILs with the command that creates it', async () => {
    const u = unit({ dataDir: '/nonexistent/companion-data' });
    const r = await doctor(u.path);
    expect(check(r, 'data dir')).toMatchObject({
      status: 'fail',
      fix: expect.stringContaining('install -d -o companion'),
    });
    expect(r.ok).toBe(false);
  });

  it('a current database is OK; one from a newer agent FAILs; a 1970 clock FAILs', async () => {
    const u = unit();
    openDb(join(u.dataDir, 'companion.db')).close();
    const good = await doctor(u.path);
    expect(check(good, 'database').status).toBe('ok');
    expect(check(good, 'clock').status).toBe('ok');

    const early = await doctor(u.path, { now: () => 0 });
    expect(check(early, 'clock')).toMatchObject({
      status: 'fail',
      detail: expect.stringContaining('1970'),
    });

    const db = openDb(join(u.dataDir, 'companion.db'));
    db.pragma(`user_version = ${loadMigrations().at(-1)!.version + 1}`);
    db.close();
    const newer = await doctor(u.path);
    expect(check(newer, 'database')).toMatchObject({
      status: 'fail',
      detail: expect.stringContaining('newer'),
    });
  });

  it('the modem serial device: missing FAILs, a character device it can open is OK', async () => {
    const missing = unit({ hal: { modem: { driver: 'at', at: { path: '/dev/ttyUSB-none' } } } });
    expect(check(await doctor(missing.path), 'serial device')).toMatchObject({
      status: 'fail',
      fix: expect.stringContaining('hal.modem.at.path'),
    });
    const plainFile = unit();
    writeFileSync(join(plainFile.root, 'tty'), '');
    writeFileSync(
      plainFile.path,
      JSON.stringify({
        dataDir: plainFile.dataDir,
        hal: { modem: { driver: 'at', at: { path: join(plainFile.root, 'tty') } } },
      }),
    );
    expect(check(await doctor(plainFile.path), 'serial device').detail).toContain(
      'not a character device',
    );
    // /dev/null stands in for a tty: a character device the test can read and write.
    const present = unit({ hal: { modem: { driver: 'at', at: { path: '/dev/null' } } } });
    expect(check(await doctor(present.path), 'serial device').status).toBe('ok');
  });

  it('the ALSA card: looked up in /proc/asound, by index or id', async () => {
    const u = unit({ hal: { audio: { driver: 'alsa', alsa: { card: '1' } } } });
    const proc = join(u.root, 'proc');
    const dev = join(u.root, 'dev');
    mkdirSync(join(proc, 'asound', 'card0'), { recursive: true });
    mkdirSync(join(dev, 'snd'), { recursive: true });
    expect(
      check(await doctor(u.path, { procDir: proc, devDir: dev }), 'audio device'),
    ).toMatchObject({
      status: 'fail',
      fix: expect.stringContaining('aplay -l'),
    });
    mkdirSync(join(proc, 'asound', 'card1'));
    expect(check(await doctor(u.path, { procDir: proc, devDir: dev }), 'audio device').status).toBe(
      'ok',
    );
  });

  it('the broker: a listening port is OK, a closed one FAILs (only when mqtt is enabled)', async () => {
    const server = createServer((s) => s.destroy());
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    cleanups.push(() => new Promise<void>((r) => server.close(() => r())));
    const port = (server.address() as AddressInfo).port;
    const mqtt = (url: string) => ({
      mqtt: { enabled: true, url, signature: { required: false } },
    });

    const up = unit(mqtt(`mqtt://127.0.0.1:${port}`));
    expect(check(await doctor(up.path), 'broker').status).toBe('ok');

    // A port that was free a moment ago: nothing listens there.
    const probe = createServer();
    await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
    const closedPort = (probe.address() as AddressInfo).port;
    await new Promise<void>((r) => probe.close(() => r()));
    const down = unit(mqtt(`mqtt://127.0.0.1:${closedPort}`));
    const r = await doctor(down.path);
    expect(check(r, 'broker')).toMatchObject({
      status: 'fail',
      detail: expect.stringContaining('ECONNREFUSED'),
    });
    // Unencrypted MQTT is worth a warning.
    expect(check(r, 'certificates').status).toBe('warn');
  });

  it('certificates: a world-readable key FAILs with the chmod, 0600 and 0400 are OK', async () => {
    const u = unit();
    const files = {
      caFile: join(u.root, 'ca.pem'),
      certFile: join(u.root, 'unit.pem'),
      keyFile: join(u.root, 'unit.key'),
    };
    for (const f of Object.values(files)) writeFileSync(f, '-----BEGIN TEST-----\n');
    writeFileSync(
      u.path,
      JSON.stringify({ dataDir: u.dataDir, mqtt: { url: 'mqtts://broker.invalid', tls: files } }),
    );

    chmodSync(files.keyFile, 0o644);
    expect(check(await doctor(u.path), 'certificates')).toMatchObject({
      status: 'fail',
      detail: expect.stringContaining('0644'),
      fix: `chmod 0600 ${files.keyFile} (or 0640 owned by root:companion)`,
    });
    for (const mode of [0o600, 0o400, 0o640]) {
      chmodSync(files.keyFile, mode);
      expect(check(await doctor(u.path), 'certificates').status).toBe('ok');
    }
    chmodSync(files.keyFile, 0o660);
    expect(check(await doctor(u.path), 'certificates').status).toBe('fail');

    writeFileSync(
      u.path,
      JSON.stringify({
        dataDir: u.dataDir,
        mqtt: { tls: { ...files, caFile: join(u.root, 'gone.pem') } },
      }),
    );
    expect(check(await doctor(u.path), 'certificates').detail).toContain('gone.pem does not exist');
  });

  it('disk space below the thresholds WARNs, then FAILs', async () => {
    const u = unit();
    const huge = Number.MAX_SAFE_INTEGER;
    expect(check(await doctor(u.path, { diskWarnBytes: huge }), 'disk space').status).toBe('warn');
    expect(check(await doctor(u.path, { diskFailBytes: huge }), 'disk space').status).toBe('fail');
  });

  it('the CLI prints OK/WARN/FAIL lines with fixes, --json, and exits 1 on FAIL', async () => {
    const run = async (args: string[], envVars: NodeJS.ProcessEnv = {}) => {
      const out: string[] = [];
      const code = await main(args, {
        out: (s: string) => out.push(s) > 0,
        err: (s: string) => out.push(s) > 0,
        env: envVars,
      });
      return { code, text: out.join('\n') };
    };
    const good = unit();
    const ok = await run(['doctor', '--config', good.path]);
    expect(ok.code).toBe(0);
    expect(ok.text).toMatch(/^OK {4}config/m);
    expect(ok.text).toMatch(/^WARN {2}database/m);
    expect(ok.text).toMatch(/^ +fix: start the agent once/m);

    const bad = unit({ hal: { modem: { driver: 'at', at: { path: '/dev/ttyUSB-none' } } } });
    const failed = await run(['doctor', '--json', '--config', bad.path]);
    expect(failed.code).toBe(1);
    const report = JSON.parse(failed.text) as DoctorReport;
    expect(report.ok).toBe(false);
    expect(check(report, 'serial device').status).toBe('fail');
  });
});
