/**
 * Fuzzing the MQTT inbound surface through the real InboundProcessor, with the real applier and
 * control handler on a real SQLite file: every message on every inbound topic (garbage bytes, random
 * JSON, envelopes with every payload type bent one way or another, snapshot chunks in any order)
 * resolves — never throws — into a valid effect or a rejection with a machine reason.
 */
import fc from 'fast-check';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Store } from '../../agent/store/store.js';
import { standaloneSink } from '../../agent/sync-sink.js';
import { silentLogger } from '../../agent/log.js';
import { FakeClock } from '../../agent/clock.js';
import { InboundProcessor, type InboundOutcome } from '../../sync/link/inbound.js';
import { topicFor } from '../../sync/contract/topics.js';
import { permissivePolicy, T0 } from '../support/engine.js';
import { UNIT, commandBody, controlBody, envelopeOf, snapshotBody } from './arbitraries.js';

let dir: string;
let store: Store;
let inbound: InboundProcessor;
const unhandled: unknown[] = [];
const onUnhandled = (r: unknown) => unhandled.push(r);

beforeAll(() => {
  process.on('unhandledRejection', onUnhandled);
  dir = mkdtempSync(join(tmpdir(), 'companion-fuzz-'));
  store = Store.open(join(dir, 'companion.db'));
  const clock = new FakeClock(T0);
  const { sink } = standaloneSink(store, clock, permissivePolicy(), silentLogger());
  inbound = new InboundProcessor(sink, {
    unitId: UNIT,
    maxPayloadBytes: 16 * 1024,
    signatureRequired: false,
    publicKeys: [],
    freshness: {
      maxAgeMs: 10 * 365 * 86_400_000,
      maxFutureMs: 10 * 365 * 86_400_000,
      controlMaxAgeMs: 10 * 365 * 86_400_000,
    },
  });
});
afterAll(() => {
  process.off('unhandledRejection', onUnhandled);
  store.close();
  rmSync(dir, { recursive: true, force: true });
});

const STATUSES = ['accepted', 'rejected', 'ignored_stale', 'duplicate'];

const seen = { accepted: 0, rejected: 0 };

let afterSeq = 0;

/** Every answer the unit wrote for the message: a known status, and reasons for a refusal. */
function assertClear(out: InboundOutcome): void {
  expect([
    'commands',
    'snapshot_chunk',
    'snapshot',
    'control',
    'receipt',
    'duplicate',
    'rejected',
  ]).toContain(out.kind);
  const rows = store.outbox.pending(100_000, afterSeq);
  afterSeq = rows.at(-1)?.seq ?? afterSeq;
  const results = rows
    .filter((x) => x.type === 'command.result' || x.type === 'control.result')
    .map(
      (x) =>
        x.payload as {
          status: string;
          bookingId?: string | null;
          reasons: { code: string; message: string }[];
        },
    );
  if (out.kind === 'rejected')
    expect(results.length + (out.direct?.length ?? 0)).toBeGreaterThan(0);
  for (const r of results) {
    expect(STATUSES).toContain(r.status);
    if (r.status === 'accepted') seen.accepted++;
    if (r.status === 'rejected') seen.rejected++;
    if (r.status === 'rejected') {
      expect(r.reasons.length).toBeGreaterThan(0);
      for (const reason of r.reasons) {
        expect(typeof reason.code).toBe('string');
        expect(reason.message.length).toBeGreaterThan(0);
      }
    }
    if (r.status === 'accepted' && r.bookingId)
      expect(store.bookings.get(r.bookingId)).not.toBeNull();
  }
  for (const d of out.direct ?? []) expect(['command.result', 'control.result']).toContain(d.type);
}

const topic = fc.constantFrom(
  topicFor(UNIT, 'cmd'),
  topicFor(UNIT, 'snapshot'),
  topicFor(UNIT, 'control'),
  topicFor('other-unit', 'cmd'),
  'companion/v1/units/fuzz-unit/events',
  'not/a/topic',
);

const bytes = fc.oneof(
  fc.uint8Array({ maxLength: 300 }).map((b) => Buffer.from(b)),
  fc.json().map((s) => Buffer.from(s)),
  envelopeOf(fc.oneof(commandBody, snapshotBody, controlBody, fc.anything())).map((e) =>
    Buffer.from(JSON.stringify(e)),
  ),
  fc.constant(Buffer.alloc(20_000, 0x7b)), // larger than maxPayloadBytes
);

describe('fuzz: MQTT inbound (real handler, real store)', () => {
  it('any bytes on any topic: no throw, a valid effect or a clear rejection', async () => {
    await fc.assert(
      fc.asyncProperty(topic, bytes, async (t, payload) => {
        assertClear(await inbound.handle(t, payload));
      }),
      { numRuns: 600, seed: 42 },
    );
    expect(store.ping()).toBe(true);
    expect(unhandled).toEqual([]);
  });

  it('envelopes on their own topic (commands, snapshot chunks, controls) land or are refused with reasons', async () => {
    const typed = fc.oneof(
      envelopeOf(commandBody).map((e) => [topicFor(UNIT, 'cmd'), e] as const),
      envelopeOf(snapshotBody).map((e) => [topicFor(UNIT, 'snapshot'), e] as const),
      envelopeOf(controlBody).map((e) => [topicFor(UNIT, 'control'), e] as const),
    );
    await fc.assert(
      fc.asyncProperty(fc.array(typed, { minLength: 1, maxLength: 5 }), async (msgs) => {
        for (const [t, env] of msgs)
          assertClear(await inbound.handle(t, Buffer.from(JSON.stringify(env))));
      }),
      { numRuns: 300, seed: 7 },
    );
    // Every accepted command left an audit row and an outbox event; nothing is half-applied.
    const check = store.db.pragma('integrity_check', { simple: true });
    expect(check).toBe('ok');
    // Both paths were really taken, not only rejections.
    expect(seen.accepted).toBeGreaterThan(10);
    expect(seen.rejected).toBeGreaterThan(10);
    expect(unhandled).toEqual([]);
  });
});
