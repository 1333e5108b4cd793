/**
 * Named regressions for what a backend team found in the sync contract (issue 11), each through a
 * real Mosquitto, a real unit (store, sink, link) and the project's cloud client.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { CloudClient, type UnitMessage } from '../../sync/cloud/client.js';
import { MemorySequences } from '../../sync/cloud/sequences.js';
import { topicFor } from '../../sync/contract/topics.js';
import { mqttConfigSchema } from '../../sync/config.js';
import { TEST_PUBLIC_KEY_BASE64 as FIXED } from '../../sync/contract/test-key.js';
import { TEST_PUBLIC_KEY_BASE64 } from '../../sync/contract/vectors.js';
import { startBroker, stopAllBrokers, type MosquittoBroker } from '../support/mosquitto.js';
import { booking, KEYS, startUnit, until, type Unit } from './unit-harness.js';
import { holdWriteLock } from '../support/write-lock.js';
import { join } from 'node:path';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';

let broker: MosquittoBroker;
const cleanups: (() => Promise<void>)[] = [];
beforeAll(async () => {
  broker = await startBroker({ persistence: true });
});
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
});
afterAll(async () => {
  await stopAllBrokers();
});

type Body = Record<string, unknown> & { type?: string; payload?: Record<string, unknown> };

async function setup(
  o: { unitId?: string; dir?: string; mqtt?: Record<string, unknown>; receipts?: boolean } = {},
) {
  const unitId = o.unitId ?? `u-${randomUUID().slice(0, 8)}`;
  const unit: Unit = startUnit(broker.url, {
    unitId,
    ...(o.dir ? { dir: o.dir } : {}),
    mqtt: { snapshotRequest: { minSec: 1, maxSec: 2, chunkTimeoutSec: 2 }, ...o.mqtt },
  });
  await unit.start();
  cleanups.push(() => unit.stop());
  const sequences = new MemorySequences();
  const cloud = new CloudClient({
    url: broker.url,
    signingKey: KEYS.privateKeyPem,
    sequences,
    ...(o.receipts === false ? { receipts: false } : {}),
  });
  await cloud.start();
  cleanups.push(() => cloud.stop());
  const seen: UnitMessage[] = [];
  await cloud.watch(unitId, (m) => seen.push(m));
  await until(() => unit.link.state().connected, 'connected');
  // A fresh unit asks for the full picture first; answer it, so each test starts in step.
  await cloud.snapshot(unitId, [], { wait: true });
  return { unit, cloud, seen, unitId, sequences };
}

const bodies = (seen: UnitMessage[], channel: string): Body[] =>
  seen.filter((m) => m.channel === channel).map((m) => m.envelope?.body as Body);
const results = (seen: UnitMessage[]) =>
  bodies(seen, 'results')
    .filter((b) => b.type === 'command.result' || b.type === 'control.result')
    .map((b) => b.payload!);

describe('snapshots that converge', () => {
  it('a snapshot as of 20 arriving after cmd 22 never cancels what cmd 22 created', async () => {
    const { unit, cloud, unitId } = await setup();
    await cloud.book(unitId, booking('old', 1));
    const asOf = cloud.nextSeq(unitId); // lost in flight: a gap
    expect((await cloud.book(unitId, booking('newer', 1))).status).toBe('accepted');
    const snap = await cloud.snapshot(unitId, [booking('old', 1)], { wait: true, asOf });
    expect(snap.applied).toMatchObject({ cancelled: 0, keptNewer: ['newer'] });
    expect(unit.bookings()).toMatchObject({
      newer: { status: 'active' },
      old: { status: 'active' },
    });
    expect(unit.lastSeq()).toBe(asOf + 1);
  });

  it('a booking cancelled for being absent is created again by the next snapshot that has it, and the report says so', async () => {
    const { unit, cloud, unitId } = await setup();
    await cloud.book(unitId, booking('gone', 1));
    const first = await cloud.snapshot(unitId, [], { wait: true });
    expect(first.applied).toMatchObject({ cancelled: 1 });
    expect(unit.bookings().gone).toMatchObject({ status: 'cancelled', version: 1 });
    const again = await cloud.snapshot(unitId, [booking('gone', 1)], { wait: true });
    expect(again.applied).toMatchObject({ accepted: 1, rejected: 0, notApplied: [] });
    expect(unit.bookings().gone).toMatchObject({ status: 'active', version: 1 });
  });

  it('an invalid item in a snapshot counts as present: it never cancels the booking held, and is reported', async () => {
    const { unit, cloud, unitId } = await setup();
    await cloud.book(unitId, booking('held', 1));
    const snap = await cloud.snapshot(unitId, [{ ...booking('held', 2), callee: 'not-a-number' }], {
      wait: true,
    });
    expect(snap.applied).toMatchObject({ cancelled: 0, rejected: 1, notAppliedCount: 1 });
    expect((snap.applied!.notApplied as { bookingId: string; status: string }[])[0]).toMatchObject({
      bookingId: 'held',
      status: 'rejected',
    });
    expect(unit.bookings().held).toEqual({ version: 1, status: 'active' });
  });

  it('a snapshot without asOf is refused; replaying a snapshot\u2019s bytes later undoes nothing', async () => {
    const { unit, cloud, unitId, seen } = await setup();
    const env = cloud.envelope(unitId, 'snapshot', {
      snapshotId: 's-no-seq',
      chunk: 0,
      chunks: 1,
      bookings: [],
    });
    await cloud.publishEnvelope(unitId, 'snapshot', env);
    await until(
      () => results(seen).find((r) => r.commandId === `rejected:${env.msgId}`),
      'refusal',
    );
    // A captured snapshot (empty set as of now), replayed after a booking was made since.
    const captured = cloud.envelope(unitId, 'snapshot', {
      snapshotId: 's-captured',
      asOf: cloud.nextSeq(unitId) - 1,
      chunk: 0,
      chunks: 1,
      bookings: [],
    });
    await cloud.publishEnvelope(unitId, 'snapshot', captured);
    await until(
      () =>
        bodies(seen, 'events').find(
          (b) => b.type === 'snapshot.applied' && b.payload!.snapshotId === 's-captured',
        ),
      'applied once',
    );
    await cloud.book(unitId, booking('made-since', 1));
    await cloud.publishEnvelope(unitId, 'snapshot', captured); // the same bytes again
    await until(() => unit.link.state().duplicates > 0, 'the replay is a duplicate');
    expect(unit.bookings()['made-since']).toMatchObject({ status: 'active' });
  });

  it('a late seq 23 after 24–26 moves lastSeq to 26, not 23', async () => {
    const { unit, cloud, unitId } = await setup();
    const base = unit.lastSeq() ?? 0;
    const envs = [1, 2, 3, 4].map((i) =>
      cloud.envelope(
        unitId,
        'cmd',
        {
          commands: [
            { type: 'booking.upsert', commandId: `late-${i}`, booking: booking(`late-${i}`, 1) },
          ],
        },
        cloud.nextSeq(unitId),
      ),
    );
    for (const e of [envs[1]!, envs[2]!, envs[3]!]) await cloud.publishEnvelope(unitId, 'cmd', e);
    await until(() => Object.keys(unit.bookings()).length >= 3, 'three applied');
    expect(unit.lastSeq()).toBe(base);
    await cloud.publishEnvelope(unitId, 'cmd', envs[0]!);
    await until(() => unit.lastSeq() === base + 4, 'lastSeq at the end of the range');
  });
});

describe('ids with one meaning each', () => {
  it('a test call whose msgId equals an earlier command id is carried out; a booking whose commandId equals a control msgId is created', async () => {
    const { unit, cloud, unitId, seen } = await setup();
    await cloud.book(unitId, booking('ns-1', 1));
    const commandId = `shared-${randomUUID().slice(0, 6)}`;
    await cloud.batch(unitId, [{ type: 'booking.upsert', commandId, booking: booking('ns-2', 1) }]);
    const control = {
      ...cloud.envelope(unitId, 'control', { action: 'test-call', callee: '+4915123456789' }),
      msgId: commandId,
    };
    const signed = (await import('../../sync/contract/signing.js')).signEnvelope(
      { ...control, sig: undefined } as unknown as Record<string, unknown>,
      (await import('../../sync/contract/signing.js')).loadPrivateKey(KEYS.privateKeyPem),
    );
    await cloud.publishRaw(topicFor(unitId, 'control'), JSON.stringify(signed));
    const r = await until(
      () => results(seen).find((x) => x.inReplyTo === commandId && x.action === 'test-call'),
      'control result',
    );
    expect(r.status).toBe('accepted');
    // And the other way round: a command id equal to that control's msgId is its own command.
    const c2 = await cloud.batch(unitId, [
      { type: 'booking.upsert', commandId: control.msgId + '-x', booking: booking('ns-3', 1) },
    ]);
    expect(c2[0]!.status).toBe('accepted');
    expect(unit.bookings()['ns-3']).toMatchObject({ status: 'active' });
  });

  it('a signed resync replayed 200 times asks for one snapshot, not 200', async () => {
    const { unit, cloud, unitId } = await setup();
    const env = cloud.envelope(unitId, 'control', { action: 'resync' });
    const before = unit.link.state().syncRequests;
    for (let i = 0; i < 200; i++) await cloud.publishEnvelope(unitId, 'control', env);
    await until(() => unit.link.state().duplicates >= 199, 'all replays seen');
    expect(unit.link.state().syncRequests - before).toBe(1);
  });

  it('a captured test call is refused once it is minutes old — also after the unit lost its store', async () => {
    const { unit, cloud, unitId, seen } = await setup();
    const sentAt = new Date(Date.now() - 20 * 60_000).toISOString();
    const env = cloud.envelope(
      unitId,
      'control',
      { action: 'test-call', callee: '+4915123456789' },
      undefined,
      sentAt,
    );
    await cloud.publishEnvelope(unitId, 'control', env);
    const r = await until(
      () => results(seen).find((x) => x.commandId === `rejected:${env.msgId}`),
      'refusal',
    );
    expect((r.reasons as { code: string }[])[0]!.code).toBe('stale_message');
    // A store reset (corruption recovery, re-provisioning) forgets message ids; freshness does not.
    unit.store.db.prepare('DELETE FROM messages').run();
    await cloud.publishEnvelope(unitId, 'control', env);
    await until(
      () => results(seen).filter((x) => x.commandId === `rejected:${env.msgId}`).length === 2,
      'refused again',
    );
    expect(unit.store.runs.upcoming()).toHaveLength(0);
  });
});

describe('a poison message never wedges the link', () => {
  it('1e999 and 20,000-deep nesting are refused with a reason and acknowledged; the next command applies', async () => {
    const { cloud, unitId, seen } = await setup();
    await cloud.publishRaw(
      topicFor(unitId, 'cmd'),
      `{"v":1,"msgId":"inf","unitId":"${unitId}","seq":1,"sentAt":"${new Date().toISOString()}","body":{"commands":[{"x":1e999}]}}`,
    );
    await cloud.publishRaw(topicFor(unitId, 'cmd'), '['.repeat(20_000) + ']'.repeat(20_000));
    await until(
      () =>
        results(seen).filter((r) =>
          (r.reasons as { code: string }[] | undefined)?.some((x) => x.code === 'invalid_json'),
        ).length >= 2,
      'two refusals',
    );
    expect((await cloud.book(unitId, booking('after-poison', 1))).status).toBe('accepted');
  });
});

describe('answers that are durable and receipted', () => {
  it('results are outbox rows: a unit offline when it applies a command still answers after it reconnects', async () => {
    const { unit, cloud, unitId, seen } = await setup();
    const env = cloud.envelope(
      unitId,
      'cmd',
      {
        commands: [
          { type: 'booking.upsert', commandId: 'durable-1', booking: booking('durable', 1) },
        ],
      },
      cloud.nextSeq(unitId),
    );
    // Applied through the unit's sink while its link is away (what a crash between commit and
    // publish leaves): the answer waits in the outbox, and goes out once the link is back.
    await unit.link.stop();
    const { InboundProcessor } = await import('../../sync/link/inbound.js');
    await new InboundProcessor(unit.sink, {
      unitId,
      maxPayloadBytes: 1 << 20,
      signatureRequired: true,
      publicKeys: [
        (await import('../../sync/contract/signing.js')).loadPublicKey(KEYS.publicKeyBase64),
      ],
      freshness: { maxAgeMs: 86_400_000, maxFutureMs: 300_000, controlMaxAgeMs: 600_000 },
    }).handle(topicFor(unitId, 'cmd'), Buffer.from(JSON.stringify(env)));
    expect(results(seen).find((r) => r.commandId === 'durable-1')).toBeUndefined();
    await unit.link.start();
    const r = await until(
      () => results(seen).find((x) => x.commandId === 'durable-1'),
      'the answer after reconnect',
    );
    expect(r).toMatchObject({ status: 'accepted', inReplyTo: env.msgId });
  });

  it('a broker that loses messages it acknowledged loses no outcome: unreceipted events are sent again', async () => {
    // Events the unit published before the cloud subscribed are only receipted once re-sent.
    const { unit, cloud, unitId, seen } = await setup({
      receipts: true,
      mqtt: { resendAfterSec: 5 },
    });
    await cloud.book(unitId, booking('before', 1));
    await until(() => unit.store.outbox.unreceipted() === 0, 'everything receipted', 30_000);
    // The cloud goes away (its session stays), the unit publishes, the broker acknowledges...
    await cloud.stop();
    unit.store.tx(() =>
      unit.store.outbox.add('clock.trusted', { source: 'while-the-cloud-was-away' }, Date.now()),
    );
    unit.link.kick();
    await until(
      () =>
        unit.store.db
          .prepare(
            `SELECT count(*) AS n FROM outbox WHERE sent_at IS NOT NULL AND receipted_at IS NULL`,
          )
          .get() as { n: number },
      'sent, not receipted',
    );
    // ...and restarts without its state: the message it acknowledged is gone.
    await broker.stop(false);
    const { rmSync } = await import('node:fs');
    const { join } = await import('node:path');
    rmSync(join(broker.dir, 'mosquitto.db'), { force: true });
    await broker.start();
    const back = new CloudClient({ url: broker.url, signingKey: KEYS.privateKeyPem });
    await back.start();
    cleanups.push(() => back.stop());
    const got: UnitMessage[] = [];
    await back.watch(unitId, (m) => got.push(m), { channels: ['events'] });
    await until(
      () =>
        bodies(got, 'events').find(
          (b) => b.type === 'clock.trusted' && b.payload!.source === 'while-the-cloud-was-away',
        ),
      'the event, sent again',
      30_000,
    );
    await until(() => unit.store.outbox.unreceipted() === 0, 'and now receipted');
    void seen;
  });
});

describe('a busy or full disk never kills the link', () => {
  // Found by the chaos gate: on a full disk, marking a PUBACKed row sent threw inside a timer; the
  // agent died, and under systemd would crash-loop for as long as the disk stayed full.
  it('rows PUBACKed while the write lock is held are marked sent once it is free, and the link stays up', async () => {
    const unitId = `u-${randomUUID().slice(0, 8)}`;
    const unit = startUnit(broker.url, { unitId });
    cleanups.push(() => unit.stop());
    unit.store.tx(() => unit.store.outbox.add('clock.trusted', { source: 'queued' }, Date.now()));
    const lock = holdWriteLock(join(unit.dir, 'companion.db'));
    cleanups.push(async () => lock.release());
    await unit.start();
    await until(() => unit.link.state().connected, 'connected');
    await new Promise((r) => setTimeout(r, 1500)); // PUBACKs arrive; the marks meet the lock
    expect(unit.link.state().connected).toBe(true);
    lock.release();
    await until(
      () =>
        (
          unit.store.db
            .prepare(
              `SELECT count(*) AS n FROM outbox WHERE sent_at IS NULL AND type = 'clock.trusted'`,
            )
            .get() as { n: number }
        ).n === 0,
      'the queued row marked sent',
    );
  });
});

describe('ids and answers', () => {
  it('a commandId reused for another command is refused command_id_reused; the same command again is answered duplicate with its first result', async () => {
    const { unit, cloud, unitId } = await setup();
    const first = {
      type: 'booking.upsert' as const,
      commandId: 'c-9',
      booking: booking('first', 1),
    };
    expect((await cloud.batch(unitId, [first]))[0]).toMatchObject({ status: 'accepted' });
    // Sent again by a backend unsure it arrived: a new message (new msgId, seq), the same command.
    const again = (await cloud.batch(unitId, [first]))[0] as unknown as Record<string, unknown>;
    expect(again).toMatchObject({ status: 'duplicate', original: { status: 'accepted' } });
    const other = {
      type: 'booking.upsert' as const,
      commandId: 'c-9',
      booking: booking('second', 1),
    };
    const reused = (await cloud.batch(unitId, [other]))[0]!;
    expect(reused.status).toBe('rejected');
    expect(reused.reasons.map((r) => r.code)).toEqual(['command_id_reused']);
    expect(unit.bookings().second).toBeUndefined();
  });

  it('an ignored_stale answer is a critical outbox row, like every answer', async () => {
    const { unit, cloud, unitId } = await setup();
    await cloud.book(unitId, booking('v', 2));
    const r = await cloud.book(unitId, booking('v', 1));
    expect(r.status).toBe('ignored_stale');
    const rows = unit.store.db
      .prepare(`SELECT class, payload FROM outbox WHERE type = 'command.result'`)
      .all() as { class: string; payload: string }[];
    const row = rows.find(
      (x) => (JSON.parse(x.payload) as { commandId?: string }).commandId === r.commandId,
    );
    expect(row?.class).toBe('critical');
  });
});

describe('snapshots are asked for until they arrive', () => {
  it('never_synced is asked again with backoff until a snapshot heals it', async () => {
    const unitId = `u-${randomUUID().slice(0, 8)}`;
    const unit = startUnit(broker.url, {
      unitId,
      mqtt: { snapshotRequest: { minSec: 1, maxSec: 2, chunkTimeoutSec: 2 } },
    });
    // The cloud watches before the unit starts, so the first request is seen too.
    const cloud = new CloudClient({ url: broker.url, signingKey: KEYS.privateKeyPem });
    await cloud.start();
    cleanups.push(() => cloud.stop());
    const seen: UnitMessage[] = [];
    await cloud.watch(unitId, (m) => seen.push(m), { channels: ['sync-request'] });
    await unit.start();
    cleanups.push(() => unit.stop());
    await until(
      () => bodies(seen, 'sync-request').filter((b) => b.reason === 'never_synced').length >= 3,
      'three requests',
      15_000,
    );
    expect(
      bodies(seen, 'sync-request')
        .map((b) => b.attempt)
        .slice(0, 3),
    ).toEqual([1, 2, 3]);
    await cloud.snapshot(unitId, [], { wait: true });
    const n = bodies(seen, 'sync-request').length;
    await new Promise((r) => setTimeout(r, 3000));
    expect(bodies(seen, 'sync-request').length).toBe(n);
  });

  it('a snapshot whose chunks stop arriving is asked for again (snapshot_incomplete)', async () => {
    const { unit, cloud, unitId, seen } = await setup();
    const env = cloud.envelope(unitId, 'snapshot', {
      snapshotId: 'half',
      asOf: 0,
      chunk: 0,
      chunks: 2,
      bookings: [],
    });
    await cloud.publishEnvelope(unitId, 'snapshot', env);
    await until(
      () => bodies(seen, 'sync-request').find((b) => b.reason === 'snapshot_incomplete'),
      'snapshot_incomplete',
      10_000,
    );
    expect(unit.link.state().snapshotNeeded).toBe('snapshot_incomplete');
  });

  it('a snapshot half-received when the unit stops is asked for again after the restart', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'companion-sync-'));
    const { unit, cloud, unitId, seen } = await setup({ dir });
    const env = cloud.envelope(unitId, 'snapshot', {
      snapshotId: 'cut-short',
      asOf: 0,
      chunk: 0,
      chunks: 2,
      bookings: [],
    });
    await cloud.publishEnvelope(unitId, 'snapshot', env);
    await until(() => unit.store.messages.get(env.msgId), 'the first chunk is recorded');
    await unit.stop();
    const before = bodies(seen, 'sync-request').length;
    const again = startUnit(broker.url, {
      unitId,
      dir,
      mqtt: { snapshotRequest: { minSec: 1, maxSec: 2, chunkTimeoutSec: 60 } },
    });
    cleanups.push(() => again.stop());
    await again.start();
    await until(
      () =>
        bodies(seen, 'sync-request')
          .slice(before)
          .find((b) => b.reason === 'snapshot_incomplete'),
      'snapshot_incomplete after the restart',
    );
  });

  it('the Last Will says lost, with this connection\u2019s count and lastSeq', async () => {
    // No will delay, so the broker publishes it the moment the socket dies, before any reconnect.
    const { unit, cloud, seen, unitId } = await setup({ mqtt: { willDelaySec: 0 } });
    await cloud.book(unitId, booking('w1', 1));
    const birth = bodies(seen, 'status').find((b) => b.state === 'online')!;
    // Kill the connection without a DISCONNECT: the broker sends the will it holds.
    (unit.link as unknown as { client: { stream: { destroy(): void } } }).client.stream.destroy();
    const will = await until(
      () => bodies(seen, 'status').find((b) => b.state === 'lost'),
      'the will',
    );
    expect(will.connectCount).toBe(birth.connectCount);
    expect(will.lastSeq).toBe(birth.lastSeq);
    // The unit comes back with the next count, so "newest wins" orders the will before it.
    const rebirth = await until(
      () =>
        bodies(seen, 'status').find(
          (b) => b.state === 'online' && b.connectCount !== birth.connectCount,
        ),
      'the next birth',
    );
    expect(rebirth.connectCount).toBe(Number(birth.connectCount) + 1);
  });
});

describe('the published test key', () => {
  it('is refused as a pinned key unless a test says so', () => {
    expect(FIXED).toBe(TEST_PUBLIC_KEY_BASE64);
    const r = mqttConfigSchema().safeParse({ enabled: true, signature: { publicKeys: [FIXED] } });
    expect(r.success).toBe(false);
    expect(JSON.stringify(r.error?.issues)).toContain('published test key');
    expect(
      mqttConfigSchema().safeParse({
        enabled: true,
        signature: { publicKeys: [FIXED], allowTestKey: true },
      }).success,
    ).toBe(true);
  });
});
