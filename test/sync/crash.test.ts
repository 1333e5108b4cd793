/**
 * Crash and broker-loss recovery with real processes: a unit SIGKILLed between commit and PUBACK
 * gets the command again and answers "duplicate"; a broker restarted without persistence loses what
 * was queued, and the unit notices and is healed by a snapshot.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { Store } from '../../agent/store/store.js';
import { CloudClient, type UnitMessage } from '../../sync/cloud/client.js';
import { MemorySequences } from '../../sync/cloud/sequences.js';
import { startBroker, stopAllBrokers } from '../support/mosquitto.js';
import { booking, KEYS, startUnit, until, type Unit } from './unit-harness.js';

const FIXTURE = fileURLToPath(new URL('./fixtures/unit-process.ts', import.meta.url));
const children: ChildProcess[] = [];
const cleanups: (() => Promise<void>)[] = [];

afterEach(async () => {
  for (const c of children.splice(0))
    if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
});
afterAll(async () => {
  await stopAllBrokers();
});

function spawnUnit(env: Record<string, string>): {
  proc: ChildProcess;
  exited: Promise<NodeJS.Signals | number | null>;
  connected: Promise<void>;
} {
  const proc = spawn(process.execPath, ['--import', 'tsx', FIXTURE], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(proc);
  let err = '';
  proc.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<NodeJS.Signals | number | null>((resolve) =>
    proc.once('exit', (code, signal) => resolve(signal ?? code)),
  );
  const connected = new Promise<void>((resolve, reject) => {
    proc.stdout!.on('data', (d: Buffer) => {
      if (d.toString().includes('connected')) resolve();
    });
    void exited.then((why) =>
      reject(new Error(`unit process exited (${String(why)}) before connecting: ${err}`)),
    );
  });
  connected.catch(() => undefined);
  return { proc, exited, connected };
}

const resultsOf = (seen: UnitMessage[], commandId: string) =>
  seen
    .filter((m) => m.channel === 'results')
    .map((m) => (m.envelope!.body as { payload: { commandId: string; status: string } }).payload)
    .filter((p) => p.commandId === commandId);

describe('crash and broker loss', () => {
  it('a unit SIGKILLed between commit and PUBACK answers the redelivery as a duplicate', async () => {
    const broker = await startBroker();
    const dir = mkdtempSync(join(tmpdir(), 'companion-crash-'));
    const env = {
      UNIT_DIR: dir,
      BROKER_URL: broker.url,
      UNIT_ID: 'unit-crash',
      PUBKEY: KEYS.publicKeyBase64,
    };
    const cloud = new CloudClient({ url: broker.url, signingKey: KEYS.privateKeyPem });
    await cloud.start();
    cleanups.push(() => cloud.stop());
    const seen: UnitMessage[] = [];
    await cloud.watch('unit-crash', (m) => seen.push(m), { channels: ['results', 'events'] });

    const first = spawnUnit({ ...env, CRASH_AFTER_COMMIT: '1' });
    await first.connected;
    await cloud.sendCommands('unit-crash', [
      { type: 'booking.upsert', commandId: 'crash-cmd', booking: booking('crash-b', 1) },
    ]);
    expect(await first.exited).toBe('SIGKILL');
    // Committed before the kill: the booking and the command's result are on disk.
    const peek = Store.open(join(dir, 'companion.db'));
    expect(peek.bookings.get('crash-b')?.version).toBe(1);
    peek.close();

    const second = spawnUnit(env);
    await second.connected;
    // The broker redelivers (no PUBACK was ever sent); the unit recognises the command id.
    await until(
      () => resultsOf(seen, 'crash-cmd').some((r) => r.status === 'duplicate'),
      'duplicate',
    );
    await until(
      () => resultsOf(seen, 'crash-cmd').some((r) => r.status === 'accepted'),
      'original result',
    );
    second.proc.kill('SIGTERM');
    await second.exited;
    const store = Store.open(join(dir, 'companion.db'));
    const n = (sql: string) => (store.db.prepare(sql).get() as { n: number }).n;
    expect(n("SELECT count(*) AS n FROM commands WHERE command_id = 'crash-cmd'")).toBe(1);
    expect(n("SELECT count(*) AS n FROM outbox WHERE type = 'booking.state'")).toBe(1);
    expect(store.bookings.get('crash-b')?.version).toBe(1);
    store.close();
  });

  it('a broker restarted without persistence loses queued commands; the unit asks and a snapshot heals it', async () => {
    const broker = await startBroker({ persistence: false });
    const unit: Unit = startUnit(broker.url, { unitId: 'unit-heal' });
    await unit.start();
    cleanups.push(() => unit.stop());
    const sequences = new MemorySequences();
    const cloud = new CloudClient({ url: broker.url, signingKey: KEYS.privateKeyPem, sequences });
    await cloud.start();
    cleanups.push(() => cloud.stop());
    const requests: Record<string, unknown>[] = [];
    await cloud.watch(
      'unit-heal',
      (m) => requests.push(m.envelope!.body as Record<string, unknown>),
      {
        channels: ['sync-request'],
      },
    );
    await until(() => unit.link.state().connected, 'connected');
    expect(await cloud.book('unit-heal', booking('h1', 1))).toMatchObject({ status: 'accepted' });

    // The unit goes away; the cloud's change is queued in the unit's session at the broker...
    await unit.link.stop();
    await cloud.sendCommands('unit-heal', [
      { type: 'booking.upsert', commandId: 'lost', booking: booking('h2', 1) },
    ]);
    // ...and the broker restarts without persistence: the queued command is gone.
    await broker.restart();
    await until(async () => {
      try {
        await cloud.publishRaw('companion/v1/ping', 'x');
        return true;
      } catch {
        return false;
      }
    }, 'cloud reconnected');
    await unit.link.start();
    const req = await until(
      () => requests.find((r) => r.reason === 'session_lost'),
      'session_lost request',
    );
    expect(req).toMatchObject({ haveSeq: 1 });
    expect(unit.bookings()).toEqual({ h1: { version: 1, status: 'active' } });

    // The next command reveals where the gap is: the open request says so; the cloud answers with a
    // snapshot of its truth.
    await cloud.book('unit-heal', booking('h3', 1));
    await until(
      () => requests.find((r) => r.reason === 'session_lost' && r.gotSeq === 3),
      'the request, now with the gap',
    );
    const snap = await cloud.snapshot(
      'unit-heal',
      [booking('h1', 1), booking('h2', 1), booking('h3', 1)],
      {
        wait: true,
      },
    );
    expect(snap.applied).toMatchObject({ bookings: 3, rejected: 0 });
    expect(unit.lastSeq()).toBe(3);
    expect(unit.bookings()).toEqual({
      h1: { version: 1, status: 'active' },
      h2: { version: 1, status: 'active' },
      h3: { version: 1, status: 'active' },
    });
  });
});
