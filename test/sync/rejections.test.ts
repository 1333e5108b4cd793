/**
 * Rule 8 at the edge of the link: every bad input gets its reason, is kept for audit, the agent keeps
 * running and the accepted state is unchanged.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CloudClient, type UnitMessage } from '../../sync/cloud/client.js';
import {
  generateSigningKeyPair,
  signEnvelope,
  loadPrivateKey,
} from '../../sync/contract/signing.js';
import { topicFor } from '../../sync/contract/topics.js';
import { startBroker, stopAllBrokers, type MosquittoBroker } from '../support/mosquitto.js';
import { booking, KEYS, startUnit, until, type Unit } from './unit-harness.js';

let broker: MosquittoBroker;
let unit: Unit;
let cloud: CloudClient;
const seen: UnitMessage[] = [];
const UNIT = 'unit-rej';

beforeAll(async () => {
  broker = await startBroker();
  unit = startUnit(broker.url, { unitId: UNIT, mqtt: { maxPayloadBytes: 4096 } });
  await unit.start();
  cloud = new CloudClient({ url: broker.url, signingKey: KEYS.privateKeyPem });
  await cloud.start();
  await cloud.watch(UNIT, (m) => seen.push(m), { channels: ['results'] });
  await until(() => unit.link.state().connected, 'connected');
  expect(await cloud.book(UNIT, booking('baseline', 5))).toMatchObject({ status: 'accepted' });
});

afterAll(async () => {
  await cloud?.stop();
  await unit?.stop();
  await stopAllBrokers();
});

type Result = { commandId: string; status: string; reasons: { code: string; path: string }[] };

function resultFor(commandId: string): Promise<Result> {
  return until(() => {
    const m = seen.find(
      (x) => (x.envelope?.body as { payload: Result }).payload.commandId === commandId,
    );
    return m && (m.envelope!.body as { payload: Result }).payload;
  }, `result for ${commandId}`);
}

function resultWithCode(code: string): Promise<Result> {
  return until(() => {
    const m = seen.find((x) =>
      (x.envelope?.body as { payload: Result }).payload.reasons?.some((r) => r.code === code),
    );
    return m && (m.envelope!.body as { payload: Result }).payload;
  }, `result with ${code}`);
}

/** The audit record of a refused message, by the `rejected:<msgId>` id of its answer. */
function audit(commandId: string): { status: string; raw: string | null } | undefined {
  return unit.store.db
    .prepare<[string], { status: string; raw: string | null }>(
      `SELECT status, raw FROM messages WHERE msg_id = ? AND status = 'rejected'`,
    )
    .get(commandId.replace(/^rejected:/, ''));
}

const upsert = (b: Record<string, unknown>) => ({
  commands: [{ type: 'booking.upsert', commandId: randomUUID(), booking: b }],
});

async function sendEnvelope(env: Record<string, unknown>): Promise<void> {
  await cloud.publishRaw(topicFor(UNIT, 'cmd'), JSON.stringify(env));
}

describe('bad input at the link', () => {
  it('rejects an envelope addressed to another unit (unit_mismatch)', async () => {
    const env = cloud.envelope('someone-else', 'cmd', upsert(booking('x1', 1)), 100);
    await sendEnvelope(env as unknown as Record<string, unknown>);
    const r = await resultFor(`rejected:${env.msgId}`);
    expect(r.reasons[0]!.code).toBe('unit_mismatch');
    expect(audit(`rejected:${env.msgId}`)).toMatchObject({ status: 'rejected' });
  });

  it('rejects a forged signature (bad_signature) and a missing one (signature_missing)', async () => {
    const forger = loadPrivateKey(generateSigningKeyPair().privateKeyPem);
    const unsigned = {
      v: 1,
      msgId: randomUUID(),
      unitId: UNIT,
      sentAt: new Date().toISOString(),
      body: upsert(booking('evil', 1)),
    };
    const forged = signEnvelope(unsigned, forger);
    await sendEnvelope(forged);
    expect((await resultFor(`rejected:${forged.msgId}`)).reasons[0]!.code).toBe('bad_signature');
    const bare = { ...unsigned, msgId: randomUUID() };
    await sendEnvelope(bare);
    expect((await resultFor(`rejected:${bare.msgId}`)).reasons[0]!.code).toBe('signature_missing');
    // A valid signature over different bytes: tampering after signing.
    const good = cloud.envelope(UNIT, 'cmd', upsert(booking('tamper', 1)));
    const tampered = { ...good, body: upsert(booking('tamper', 1, { callee: '+4930999999' })) };
    await sendEnvelope(tampered as unknown as Record<string, unknown>);
    expect((await resultFor(`rejected:${good.msgId}`)).reasons[0]!.code).toBe('bad_signature');
  });

  it('rejects garbage bytes (invalid_json) and keeps them for audit', async () => {
    await cloud.publishRaw(topicFor(UNIT, 'cmd'), Buffer.from([0xff, 0xfe, 0x00, 0x42, 0x13]));
    const r = await resultWithCode('invalid_json');
    expect(audit(r.commandId)?.raw).toMatch(/^base64:/);
    await cloud.publishRaw(topicFor(UNIT, 'cmd'), '{"v":1, not json');
    await until(
      () => seen.filter((m) => JSON.stringify(m.envelope).includes('invalid_json')).length >= 2,
      'second invalid_json',
    );
  });

  it('rejects an oversized payload (payload_too_large); one past the packet limit never reaches the unit', async () => {
    // Over the 4 KiB payload limit, under the advertised packet limit (2 x): seen, refused, kept.
    await cloud.publishRaw(topicFor(UNIT, 'cmd'), JSON.stringify({ pad: 'x'.repeat(6_000) }));
    const r = await resultWithCode('payload_too_large');
    expect(audit(r.commandId)?.raw?.length).toBeLessThan(9000);
    // Far past it: the broker drops it before the unit would buffer it (MQTT 5 maximumPacketSize).
    const before = unit.store.db.prepare('SELECT count(*) AS n FROM messages').get() as {
      n: number;
    };
    await cloud.publishRaw(topicFor(UNIT, 'cmd'), JSON.stringify({ pad: 'x'.repeat(200_000) }));
    expect(await cloud.book(UNIT, booking('after-big', 1))).toMatchObject({ status: 'accepted' });
    const after = unit.store.db.prepare('SELECT count(*) AS n FROM messages').get() as {
      n: number;
    };
    expect(after.n).toBe(before.n + 1); // only the booking above
    expect(unit.link.state().connected).toBe(true);
  });

  it('rejects unknown fields in the envelope and in the body, and an unknown version', async () => {
    const env = { ...cloud.envelope(UNIT, 'cmd', upsert(booking('u1', 1))), extra: true };
    const signed = signEnvelope(env, loadPrivateKey(KEYS.privateKeyPem));
    await sendEnvelope(signed);
    const r = await resultFor(`rejected:${env.msgId}`);
    expect(r.reasons).toContainEqual(expect.objectContaining({ code: 'unknown_field' }));
    const body = cloud.envelope(UNIT, 'cmd', { ...upsert(booking('u2', 1)), priority: 'high' });
    await sendEnvelope(body as unknown as Record<string, unknown>);
    const rb = await resultFor(`rejected:${body.msgId}`);
    expect(rb.reasons[0]).toMatchObject({ code: 'unknown_field', path: 'body' });
    const v2 = { ...cloud.envelope(UNIT, 'cmd', upsert(booking('u3', 1))), v: 2 };
    await sendEnvelope(v2 as unknown as Record<string, unknown>);
    expect((await resultFor(`rejected:${v2.msgId}`)).reasons[0]!.code).toBe('unsupported_version');
  });

  it('rejects invalid phone number, time zone and schedule, each with its reason', async () => {
    const [phone, zone, sched, field] = await cloud.batch(UNIT, [
      {
        type: 'booking.upsert',
        commandId: randomUUID(),
        booking: booking('p', 1, { callee: '12' }),
      },
      {
        type: 'booking.upsert',
        commandId: randomUUID(),
        booking: booking('z', 1, {
          schedule: { kind: 'daily', time: '09:00', zone: 'Mars/Olympus' },
        }),
      },
      {
        type: 'booking.upsert',
        commandId: randomUUID(),
        booking: booking('s', 1, {
          schedule: { kind: 'daily', time: '25:61', zone: 'Europe/Berlin' },
        }),
      },
      {
        type: 'booking.upsert',
        commandId: randomUUID(),
        booking: { ...booking('f', 1), colour: 'blue' } as never,
      },
    ]);
    expect(phone!.reasons[0]!.code).toBe('invalid_callee');
    expect(zone).toMatchObject({ status: 'rejected' });
    expect(zone!.reasons[0]!.code).toBe('invalid_schedule');
    expect(sched!.reasons[0]!.code).toBe('invalid_schedule');
    expect(field!.reasons[0]!.code).toBe('unknown_field');
  });

  it('kept running and the accepted state is unchanged', async () => {
    expect(unit.link.state()).toMatchObject({ connected: true });
    expect(unit.link.state().rejected).toBeGreaterThanOrEqual(10);
    // Only the bookings sent well-formed are held: nothing refused changed anything.
    expect(unit.bookings()).toEqual({
      baseline: { version: 5, status: 'active' },
      'after-big': { version: 1, status: 'active' },
    });
    expect(await cloud.book(UNIT, booking('still-works', 1))).toMatchObject({ status: 'accepted' });
  });
});
