/**
 * The unit's link against a real Mosquitto, a real SQLite file and the real applier: results,
 * batches, duplicates, version rules, status birth/will, gaps healed by snapshots.
 */
import { randomUUID } from 'node:crypto';
import url from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { CloudClient, type UnitMessage } from '../../sync/cloud/client.js';
import { MemorySequences } from '../../sync/cloud/sequences.js';
import { startBroker, stopAllBrokers, type MosquittoBroker } from '../support/mosquitto.js';
import { booking, KEYS, startUnit, until } from './unit-harness.js';

let broker: MosquittoBroker;
const cleanups: (() => Promise<void>)[] = [];

beforeAll(async () => {
  broker = await startBroker();
});
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
});
afterAll(async () => {
  await stopAllBrokers();
});

async function setup(unitId = `u-${randomUUID().slice(0, 8)}`) {
  const unit = startUnit(broker.url, { unitId });
  await unit.start();
  cleanups.push(() => unit.stop());
  const sequences = new MemorySequences();
  const cloud = new CloudClient({ url: broker.url, signingKey: KEYS.privateKeyPem, sequences });
  await cloud.start();
  cleanups.push(() => cloud.stop());
  const seen: UnitMessage[] = [];
  await cloud.watch(unitId, (m) => seen.push(m));
  await until(() => unit.link.state().connected, 'unit connected');
  return { unit, cloud, seen, unitId, sequences };
}

const bodies = (seen: UnitMessage[], channel: string) =>
  seen.filter((m) => m.channel === channel).map((m) => m.envelope?.body as Record<string, unknown>);

describe('sync link', () => {
  it('connects (unit and cloud) without url.parse(), which Node 24 reports deprecated (DEP0169)', async () => {
    const parse = vi.spyOn(url, 'parse');
    try {
      const { unit, cloud } = await setup();
      expect(await cloud.book(unit.unitId, booking('b0', 1))).toMatchObject({ status: 'accepted' });
      expect(parse).not.toHaveBeenCalled();
    } finally {
      parse.mockRestore();
    }
  });

  it('accepts a signed booking, commits it, and answers with the result', async () => {
    const { unit, cloud } = await setup();
    const r = await cloud.book(unit.unitId, booking('b1', 1));
    expect(r).toMatchObject({ status: 'accepted', bookingId: 'b1', currentVersion: 1 });
    expect(unit.bookings()).toEqual({ b1: { version: 1, status: 'active' } });
    expect(unit.lastSeq()).toBe(1);
  });

  it('applies a batch of many changes in one message, each with its own result', async () => {
    const { unit, cloud } = await setup();
    const cmds = Array.from({ length: 200 }, (_, i) => ({
      type: 'booking.upsert' as const,
      commandId: `c-${i}`,
      booking: booking(`batch-${i}`, 1),
    }));
    cmds[7] = { ...cmds[7]!, booking: { ...cmds[7]!.booking, callee: 'not-a-number' } };
    const results = await cloud.batch(unit.unitId, cmds);
    expect(results.filter((r) => r.status === 'accepted')).toHaveLength(199);
    expect(results[7]).toMatchObject({ status: 'rejected', commandId: 'c-7' });
    expect(results[7]!.reasons[0]).toMatchObject({ code: 'invalid_callee' });
    expect(Object.keys(unit.bookings())).toHaveLength(199);
  });

  it('answers a redelivered command with its original result, not a second change', async () => {
    const { unit, cloud } = await setup();
    const cmd = {
      type: 'booking.upsert' as const,
      commandId: 'same-id',
      booking: booking('dup', 1),
    };
    const [first] = await cloud.batch(unit.unitId, [cmd]);
    const [again] = await cloud.batch(unit.unitId, [cmd]);
    expect(first).toMatchObject({ status: 'accepted', commandId: 'same-id' });
    expect(again).toMatchObject({ status: 'duplicate', commandId: 'same-id', currentVersion: 1 });
    expect(unit.link.state().duplicates).toBe(1);
  });

  it('keeps version rules: out-of-order and replayed versions, cancellation before upsert', async () => {
    const { unit, cloud } = await setup();
    expect(await cloud.book(unit.unitId, booking('v', 3))).toMatchObject({ status: 'accepted' });
    const older = await cloud.book(unit.unitId, booking('v', 2));
    expect(older).toMatchObject({ status: 'ignored_stale', currentVersion: 3 });
    expect(older.reasons[0]).toMatchObject({ code: 'stale_version' });
    const replay = await cloud.book(unit.unitId, booking('v', 3));
    expect(replay).toMatchObject({ status: 'ignored_stale' });
    // Cancel arrives before its upsert: a tombstone stops the late upsert from creating it.
    expect(await cloud.cancel(unit.unitId, 'early', 2)).toMatchObject({ status: 'accepted' });
    const late = await cloud.book(unit.unitId, booking('early', 1));
    expect(late).toMatchObject({ status: 'ignored_stale' });
    expect(late.reasons[0]).toMatchObject({ code: 'tombstoned' });
    expect(unit.bookings()).toEqual({
      early: { version: 2, status: 'cancelled' },
      v: { version: 3, status: 'active' },
    });
  });

  it('publishes a retained online status with a connect counter that rises on every connect', async () => {
    const { unit, seen } = await setup();
    const online = await until(
      () => bodies(seen, 'status').find((b) => b.state === 'online'),
      'online status',
    );
    expect(online.connectCount).toBe(1);
    await unit.link.stop();
    await until(() => bodies(seen, 'status').some((b) => b.state === 'offline'), 'offline status');
    await unit.link.start();
    await until(
      () => bodies(seen, 'status').some((b) => b.state === 'online' && b.connectCount === 2),
      'second online with connectCount 2',
    );
    // A late watcher sees the retained last state at once.
    const late = new CloudClient({ url: broker.url });
    await late.start();
    cleanups.push(() => late.stop());
    const got: UnitMessage[] = [];
    await late.watch(unit.unitId, (m) => got.push(m), { channels: ['status'] });
    const retained = await until(() => got.find((m) => m.retained), 'retained status');
    expect(retained.envelope?.body).toMatchObject({ state: 'online', connectCount: 2 });
  });

  it('detects a sequence gap, asks for a snapshot, and is healed by it', async () => {
    const { unit, cloud, seen, sequences } = await setup();
    // A unit that never had the full picture asks first; the cloud answers with its (empty) set.
    await until(
      () => bodies(seen, 'sync-request').find((b) => b.reason === 'never_synced'),
      'never_synced request',
    );
    await cloud.snapshot(unit.unitId, [], { wait: true });
    expect(unit.sink.snapshotNeeded()).toBeNull();
    await cloud.book(unit.unitId, booking('keep', 1));
    await cloud.book(unit.unitId, booking('drop', 1));
    // A command the unit never receives (lost in flight): the cloud's sequence moves on.
    sequences.next(unit.unitId);
    const r = await cloud.book(unit.unitId, booking('after-gap', 1));
    expect(r.status).toBe('accepted');
    const req = await until(
      () => bodies(seen, 'sync-request').find((b) => b.reason === 'gap'),
      'gap sync request',
    );
    expect(req).toMatchObject({ haveSeq: 2, gotSeq: 4 });
    // The gap keeps lastSeq where the contiguous sequence ended until a snapshot heals it.
    expect(unit.lastSeq()).toBe(2);
    const snap = await cloud.snapshot(
      unit.unitId,
      [booking('keep', 1), booking('after-gap', 1), booking('new', 1)],
      { wait: true, chunkSize: 2 },
    );
    expect(snap.applied).toMatchObject({ bookings: 3 });
    expect(unit.lastSeq()).toBe(4);
    expect(unit.bookings()).toEqual({
      'after-gap': { version: 1, status: 'active' },
      drop: { version: 1, status: 'cancelled' },
      keep: { version: 1, status: 'active' },
      new: { version: 1, status: 'active' },
    });
  });

  it('answers a resync control with a sync request', async () => {
    const { unit, cloud, seen } = await setup();
    const res = await cloud.control(unit.unitId, { action: 'resync' });
    expect(res).toMatchObject({ action: 'resync', status: 'accepted' });
    await until(
      () => bodies(seen, 'sync-request').find((b) => b.reason === 'resync'),
      'resync sync request',
    );
  });
});
