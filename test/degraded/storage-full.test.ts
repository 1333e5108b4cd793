/**
 * Disk full (SQLITE_FULL, acted out with PRAGMA max_page_count on the real store): new commands are
 * refused with `storage_full` through the real inbound handler, a booking already held still fires,
 * the state shows in the status read model, and space coming back is reported through the outbox.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { InboundProcessor } from '../../sync/link/inbound.js';
import { topicFor } from '../../sync/contract/topics.js';
import { PROTOCOL_VERSION } from '../../sync/contract/envelope.js';
import { storeStatus } from '../../agent/status.js';
import { startEngine, booking, upsert, type Engine, T0 } from '../support/engine.js';

let e: Engine;
afterEach(async () => {
  await e?.stop(true);
});

const MIN = 60_000;

function commandMessage(unitId: string, seq: number, commands: unknown[]): Buffer {
  return Buffer.from(
    JSON.stringify({
      v: PROTOCOL_VERSION,
      msgId: `m-${seq}`,
      unitId,
      seq,
      sentAt: new Date(T0).toISOString(),
      body: { commands },
    }),
  );
}

/** Cap the file a few pages above its size: small writes fit, a big batch does not. */
function nearlyFull(e: Engine, headroomPages: number): void {
  // A full disk leaves no free pages inside the file either: a migration that rebuilt a table
  // (0005) leaves some on the freelist, and SQLite writes into those without growing the file.
  e.agent.store.db.exec('VACUUM');
  const pages = e.agent.store.db.pragma('page_count', { simple: true }) as number;
  e.agent.store.db.pragma(`max_page_count = ${pages + headroomPages}`);
}

describe('degraded mode: disk full', () => {
  it('rejects new commands with storage_full, keeps firing held bookings, reports recovery', async () => {
    e = await startEngine();
    e.modem.setRule('*', { outcome: 'answer', answerAfterMs: 500, hangupAfterMs: 1000 });
    const held = booking({
      id: 'held',
      schedule: { kind: 'once', at: new Date(T0 + 2 * MIN).toISOString() },
    });
    e.apply([upsert(held)]);
    const unitId = e.config.unitId;
    const inbound = new InboundProcessor(e.agent.sync, {
      unitId,
      maxPayloadBytes: 4 * 1024 * 1024,
      signatureRequired: false,
      publicKeys: [],
      freshness: { maxAgeMs: 86_400_000, maxFutureMs: 300_000, controlMaxAgeMs: 600_000 },
    });

    nearlyFull(e, 3);
    const big = Array.from({ length: 400 }, (_, i) =>
      upsert(booking({ id: `new-${i}`, version: 1 }), `full-${i}`),
    );
    const out = await inbound.handle(topicFor(unitId, 'cmd'), commandMessage(unitId, 1, big));
    expect(out.kind).toBe('rejected');
    // Answered directly on the results topic, one per command: the outbox cannot take a row.
    expect(out.direct).toHaveLength(400);
    expect(out.direct![0]!.payload).toMatchObject({
      commandId: 'full-0',
      status: 'rejected',
      reasons: [{ code: 'storage_full' }],
      inReplyTo: 'm-1',
    });
    expect(e.agent.store.bookings.get('new-0')).toBeNull();
    const status = storeStatus(e.agent.store, e.clock.now()).storage;
    expect(status.state).toBe('full');
    expect(status.fullSince).not.toBeNull();

    // The booking held before the disk filled still fires on time.
    await e.advance(2 * MIN);
    expect(e.modem.dials.map((d) => d.at)).toEqual([T0 + 2 * MIN]);
    await e.advance(10_000);
    expect(e.agent.store.runs.recent()[0]).toMatchObject({ status: 'completed', dials: 1 });

    // Space returns: the next write commits, and recovery is reported and a snapshot asked for.
    e.agent.store.db.pragma('max_page_count = 1073741823');
    const again = await inbound.handle(
      topicFor(unitId, 'cmd'),
      commandMessage(unitId, 2, [upsert(booking({ id: 'after' }), 'after-1')]),
    );
    expect(again.kind).toBe('commands');
    const answer = e.agent.store.outbox
      .pending(1000)
      .find((x) => x.type === 'command.result' && x.payload.commandId === 'after-1');
    expect(answer?.payload).toMatchObject({ status: 'accepted', inReplyTo: 'm-2' });
    expect(e.agent.store.storage.view()).toMatchObject({ state: 'ok' });
    const recovered = e.agent.store.outbox
      .pending(1000)
      .filter((x) => x.type === 'storage.recovered');
    expect(recovered).toHaveLength(1);
    expect(recovered[0]!.payload).toMatchObject({ fullSince: status.fullSince });
    // The unit asks for a snapshot until one heals it (it also noted where the gap is).
    expect(e.agent.sync.snapshotNeeded()).toMatchObject({ reason: 'storage_full', gotSeq: 2 });
  });

  it('a completely full disk: runner writes wait and retry instead of leaving a dead claim', async () => {
    e = await startEngine();
    e.modem.setRule('*', { outcome: 'answer', answerAfterMs: 500, hangupAfterMs: 1000 });
    for (let i = 0; i < 3; i++) {
      e.apply([
        upsert(
          booking({
            id: `r${i}`,
            schedule: { kind: 'once', at: new Date(T0 + (2 + i) * MIN).toISOString() },
          }),
        ),
      ]);
    }
    nearlyFull(e, 0);
    await e.advance(10 * MIN); // whatever cannot be written now is retried, not dropped
    expect(e.agent.store.storage.view().failedWrites).toBeGreaterThan(0);
    e.agent.store.db.pragma('max_page_count = 1073741823');
    await e.advance(10 * MIN);
    const runs = e.agent.store.runs.recent();
    expect(runs).toHaveLength(3);
    for (const r of runs) expect(r.status).toBe('completed');
    expect(e.agent.store.runs.liveAttempts()).toHaveLength(0);
  });
});
