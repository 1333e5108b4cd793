/**
 * End to end: the cloud client books over a real broker, the agent (real store, scheduler, runner,
 * simulator modem, fake clock) fires the call at its slot, and the outcome reaches the cloud client.
 * Also: calls still fire while the broker is away, and every event then arrives once, in order.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { CloudClient, type UnitMessage } from '../../sync/cloud/client.js';
import { mqttConfigSchema } from '../../sync/config.js';
import { SyncLink } from '../../sync/link/link.js';
import { startEngine, type Engine } from '../support/engine.js';
import { startBroker, stopAllBrokers, type MosquittoBroker } from '../support/mosquitto.js';
import { booking, KEYS, until } from './unit-harness.js';

let broker: MosquittoBroker;
let e: Engine;
let link: SyncLink;
let cloud: CloudClient;
const seen: UnitMessage[] = [];
const UNIT = 'unit-e2e';
// The unit's fake clock starts at the real time: the cloud stamps its messages with the real clock,
// and the unit refuses messages from too far in the future (freshness).
let T0 = Date.now();
const at = (ms: number) => new Date(T0 + ms).toISOString();

beforeAll(async () => {
  // Persistence on: the broker outage below must keep both sessions, as a production broker does.
  broker = await startBroker({ persistence: true });
});
afterAll(async () => {
  await stopAllBrokers();
});
afterEach(async () => {
  await cloud?.stop();
  await link?.stop();
  await e?.stop(true);
  seen.length = 0;
});

async function setup(): Promise<void> {
  T0 = Math.ceil(Date.now() / 60_000) * 60_000; // on a minute, so a daily HH:MM slot is exact
  e = await startEngine({ start: T0, config: { unitId: UNIT } as never });
  const store = e.agent.store;
  link = new SyncLink({
    unitId: UNIT,
    config: mqttConfigSchema().parse({
      enabled: true,
      url: broker.url,
      reconnect: { minMs: 100, maxMs: 200 },
      signature: { publicKeys: [KEYS.publicKeyBase64] },
    }),
    sink: e.agent.sync,
    outbox: store.outbox,
    meta: store.meta,
    clock: e.clock,
    transaction: (fn) => store.tx(fn),
  });
  cloud = new CloudClient({
    url: broker.url,
    clientId: 'cloud-e2e',
    sessionExpirySec: 600,
    signingKey: KEYS.privateKeyPem,
  });
  await cloud.start();
  await cloud.watch(UNIT, (m) => seen.push(m), { channels: ['events', 'results'] });
  await link.start();
  await until(() => link.state().connected, 'link connected');
}

const events = () =>
  seen
    .map((m) => m.envelope!)
    .map((env) => ({
      seq: env.seq!,
      ...(env.body as { eventId: string; type: string; payload: Record<string, unknown> }),
    }));

describe('end to end through the broker', () => {
  it('books from the cloud, fires at the slot through the simulator, and reports the outcome', async () => {
    await setup();
    e.modem.setRule('*', { outcome: 'answer', answerAfterMs: 1000, hangupAfterMs: 5000 });
    const r = await cloud.book(
      UNIT,
      booking('e2e', 1, { schedule: { kind: 'once', at: at(120_000) } }),
    );
    expect(r).toMatchObject({ status: 'accepted' });
    await e.advance(120_000);
    expect(e.modem.dials).toHaveLength(1);
    await e.advance(10_000);
    link.kick();
    const ended = await until(
      () => events().find((x) => x.type === 'attempt.ended' && x.payload.bookingId === 'e2e'),
      'attempt.ended at the cloud',
    );
    expect(ended.payload).toMatchObject({ outcome: 'completed', answered: true });
    await until(
      () => events().find((x) => x.type === 'run.state' && x.payload.status === 'completed'),
      'run completed at the cloud',
    );
  });

  it('keeps firing while the broker is down; afterwards every event arrives once and in order', async () => {
    await setup();
    e.modem.setRule('*', { outcome: 'answer', answerAfterMs: 500, hangupAfterMs: 1000 });
    await cloud.batch(
      UNIT,
      [1, 2, 3].map((i) => ({
        type: 'booking.upsert' as const,
        commandId: `down-${i}`,
        booking: booking(`down-${i}`, 1, { schedule: { kind: 'once', at: at(i * 60_000) } }),
      })),
    );
    await broker.stop();
    await until(() => !link.state().connected, 'link notices the outage');
    await e.advance(4 * 60_000);
    expect(e.modem.dials).toHaveLength(3); // firing never waits on the network
    expect(e.agent.store.outbox.backlog().count).toBeGreaterThan(0);
    await broker.start();
    // The link's reconnect timer runs on the agent's (fake) clock.
    await until(async () => {
      await e.advance(250);
      return link.state().connected;
    }, 'link reconnected');
    link.kick();
    await until(() => e.agent.store.outbox.backlog().count === 0, 'outbox drained');
    const all = e.agent.store.outbox.recent(1000).reverse();
    await until(
      () => new Set(events().map((x) => x.eventId)).size >= all.length,
      'all events at cloud',
    ).catch((err: Error) => {
      const got = new Set(events().map((x) => x.eventId));
      const missing = all.filter((r) => !got.has(r.eventId)).map((r) => `${r.seq}:${r.type}`);
      throw new Error(
        `${err.message}; missing ${missing.join(', ')} state ${JSON.stringify(link.state())}`,
      );
    });
    // Once by event id (redelivered copies are de-duplicated by id), in outbox order.
    const firstSeen: string[] = [];
    for (const x of events()) if (!firstSeen.includes(x.eventId)) firstSeen.push(x.eventId);
    expect(firstSeen).toEqual(all.map((r) => r.eventId));
    const ended = events().filter((x) => x.type === 'attempt.ended');
    expect(new Set(ended.map((x) => x.eventId)).size).toBe(3);
  });

  it('a snapshot that drops a booking never cuts its answered call', async () => {
    await setup();
    e.modem.setRule('*', { outcome: 'answer', answerAfterMs: 500, hangupAfterMs: 5_000 });
    const slot = new Date(T0 + 60_000);
    const hhmm = `${String(slot.getUTCHours()).padStart(2, '0')}:${String(slot.getUTCMinutes()).padStart(2, '0')}`;
    await cloud.book(
      UNIT,
      booking('in-call', 1, {
        // Daily, one minute from now: still active after its first slot, so the snapshot drops it.
        schedule: { kind: 'daily', time: hhmm, zone: 'UTC' },
      }),
    );
    await cloud.book(UNIT, booking('other', 1));
    await e.advance(60_000);
    await e.advance(2_000);
    expect(e.modem.dials).toHaveLength(1);
    const runStatus = () =>
      e.agent.store.db
        .prepare<[], { status: string }>("SELECT status FROM runs WHERE booking_id = 'in-call'")
        .get()?.status;
    expect(runStatus()).toBe('running');
    const snap = await cloud.snapshot(UNIT, [booking('other', 1)], { wait: true });
    expect(snap.applied).toMatchObject({ bookings: 1 });
    expect(e.agent.store.bookings.get('in-call')?.status).toBe('cancelled');
    expect(runStatus()).toBe('running');
    await e.advance(70_000);
    const attempts = e.agent.store.db.prepare('SELECT status, outcome, detail FROM attempts').all();
    expect(runStatus(), JSON.stringify(attempts)).toBe('completed');
    expect(e.modem.dials).toHaveLength(1);
  });
});
