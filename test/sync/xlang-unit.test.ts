/**
 * (d) and (e) of the cross-language signature test, end to end: envelopes signed by the Python
 * signer (test/sync/python/companion_sig.py) are published byte for byte as Python wrote them to a
 * real private Mosquitto and reach a real unit (real SyncLink, real SQLite) that pins the published
 * test key. What a backend team in another language would do, with nothing of ours on their side.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CloudClient, type UnitMessage } from '../../sync/cloud/client.js';
import { topicFor } from '../../sync/contract/topics.js';
import { TEST_PUBLIC_KEY_BASE64, TEST_SEED_HEX } from '../../sync/contract/vectors.js';
import { startBroker, stopAllBrokers, type MosquittoBroker } from '../support/mosquitto.js';
import { py } from './python/run.js';
import { booking, startUnit, until, type Unit } from './unit-harness.js';

const UNIT = 'unit-xlang';
let broker: MosquittoBroker;
let unit: Unit;
let cloud: CloudClient;
const results: Record<string, unknown>[] = [];
let seq = 0;

beforeAll(async () => {
  broker = await startBroker();
  unit = startUnit(broker.url, {
    unitId: UNIT,
    mqtt: {
      signature: { required: true, publicKeys: [TEST_PUBLIC_KEY_BASE64], allowTestKey: true },
    },
  });
  await unit.start();
  // No signing key: this client only carries Python's bytes and watches the answers.
  cloud = new CloudClient({ url: broker.url });
  await cloud.start();
  await cloud.watch(
    UNIT,
    (m: UnitMessage) => {
      const payload = (m.envelope?.body as { payload?: Record<string, unknown> } | undefined)
        ?.payload;
      if (payload) results.push(payload);
    },
    { channels: ['results'] },
  );
  await until(() => unit.link.state().connected, 'unit connected');
});

afterAll(async () => {
  await cloud?.stop();
  await unit?.stop();
  await stopAllBrokers();
});

type Result = { commandId: string; status: string; reasons: { code: string }[] };

function resultFor(commandId: string): Promise<Result> {
  return until(
    () => results.find((r) => r.commandId === commandId) as Result | undefined,
    `result for ${commandId}`,
  );
}

/**
 * The unsigned cmd envelope as JSON text, written by hand so a number keeps the spelling given
 * (`0.0` stays `0.0` on its way to Python's parser).
 */
function cmdText(commandId: string, bookingJson: string): { msgId: string; text: string } {
  const msgId = randomUUID();
  const head = JSON.stringify({
    v: 1,
    msgId,
    unitId: UNIT,
    seq: ++seq,
    sentAt: new Date().toISOString(),
  }).slice(0, -1);
  const text =
    `${head},"body":{"commands":[{"type":"booking.upsert","commandId":"${commandId}",` +
    `"booking":${bookingJson}}]}}`;
  return { msgId, text };
}

function bookingJson(id: string, agentId: string, jitter: string): string {
  const b = JSON.stringify({ ...booking(id, 1), agentId });
  return `${b.slice(0, -1)},"retry":{"jitter":${jitter}}}`;
}

async function pythonSigned(text: string, ...flags: string[]): Promise<string> {
  const [signed] = await py<string[]>(['sign', '--seed', TEST_SEED_HEX, ...flags], [text]);
  return signed!;
}

function held(id: string): { agentId: string; retry: { jitter: number } } | undefined {
  const row = unit.store.db
    .prepare<[string], { spec: string }>(
      "SELECT spec FROM bookings WHERE id = ? AND status = 'active'",
    )
    .get(id);
  return row && (JSON.parse(row.spec) as { agentId: string; retry: { jitter: number } });
}

describe('a unit accepts what Python signs, through a real broker', () => {
  it('(d) "Frau Müller" with retry.jitter 0.2: accepted, applied, stored as sent', async () => {
    const { text } = cmdText('py-mueller', bookingJson('py-mueller', 'Frau Müller', '0.2'));
    const wire = await pythonSigned(text);
    expect(wire).toContain('"agentId":"Frau Müller"'); // UTF-8 on the wire, not \u00fc
    await cloud.publishRaw(topicFor(UNIT, 'cmd'), wire);
    expect(await resultFor('py-mueller')).toMatchObject({ status: 'accepted', reasons: [] });
    expect(held('py-mueller')).toMatchObject({ agentId: 'Frau Müller', retry: { jitter: 0.2 } });
  });

  it('(d) any wire spelling of the same values: \\u escapes and 0.0, or members reversed and indented', async () => {
    const a = cmdText('py-ascii', bookingJson('py-ascii', 'Opa 😀 "Jo"\n', '0.0'));
    const ascii = await pythonSigned(a.text, '--wire', 'ascii');
    expect(ascii).toContain('\\ud83d\\ude00');
    expect(ascii).toMatch(/"jitter": 0\.0/);
    const p = cmdText('py-pretty', bookingJson('py-pretty', 'Frau Müller', '0.2'));
    const pretty = await pythonSigned(p.text, '--wire', 'pretty');
    expect(pretty).toMatch(/^\{\n {2}"sig": /); // members reversed, indented
    expect(pretty.indexOf('"body"')).toBeLessThan(pretty.indexOf('"msgId"'));
    await cloud.publishRaw(topicFor(UNIT, 'cmd'), ascii);
    await cloud.publishRaw(topicFor(UNIT, 'cmd'), pretty);
    expect(await resultFor('py-ascii')).toMatchObject({ status: 'accepted' });
    expect(await resultFor('py-pretty')).toMatchObject({ status: 'accepted' });
    expect(held('py-ascii')).toMatchObject({ agentId: 'Opa 😀 "Jo"\n', retry: { jitter: 0 } });
    expect(held('py-pretty')).toMatchObject({ agentId: 'Frau Müller' });
  });

  it('(e) the naive json.dumps signer: bad_signature for "Frau Müller" and for 0.0, accepted for plain ASCII', async () => {
    // The control: with ASCII only and no fractions, json.dumps(sort_keys) happens to be canonical,
    // so a rejection below is the pitfall, not the message.
    const plain = cmdText('naive-plain', bookingJson('naive-plain', 'companion-1', '0.25'));
    const mueller = cmdText('naive-mueller', bookingJson('naive-mueller', 'Frau Müller', '0.2'));
    const zero = cmdText('naive-zero', bookingJson('naive-zero', 'companion-1', '0.0'));
    for (const m of [plain, mueller, zero]) {
      await cloud.publishRaw(topicFor(UNIT, 'cmd'), await pythonSigned(m.text, '--naive'));
    }
    expect(await resultFor('naive-plain')).toMatchObject({ status: 'accepted' });
    for (const m of [mueller, zero]) {
      const r = await resultFor(`rejected:${m.msgId}`);
      expect(r.reasons[0]!.code).toBe('bad_signature');
    }
    expect(held('naive-mueller')).toBeUndefined();
    expect(held('naive-zero')).toBeUndefined();
    expect(unit.link.state().connected).toBe(true);
  });
});
