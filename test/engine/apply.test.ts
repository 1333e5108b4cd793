import { applySnapshot } from '../../agent/bookings/snapshot.js';
import { afterEach, describe, expect, it } from 'vitest';
import { startEngine, booking, upsert, cancel, type Engine, T0 } from '../support/engine.js';

let e: Engine;
afterEach(async () => {
  await e?.stop(true);
});

describe('applying booking commands (one validation path)', () => {
  it('accepts a valid upsert, stores it and writes a result event to the outbox', async () => {
    e = await startEngine();
    const [r] = e.apply([upsert(booking({ id: 'mum-daily' }), 'c1')]);
    expect(r).toMatchObject({
      commandId: 'c1',
      status: 'accepted',
      bookingId: 'mum-daily',
      currentVersion: 1,
    });
    const row = e.agent.store.bookings.get('mum-daily');
    expect(row?.status).toBe('active');
    expect(row?.nextSlotAt).toBe(T0 + 60_000);
    const types = e.agent.store.outbox.pending(100).map((x) => x.type);
    expect(types).toContain('command.result');
    expect(types).toContain('booking.state');
  });

  it('ignores older and equal versions and keeps the newer booking', async () => {
    e = await startEngine();
    const b2 = booking({ id: 'x', version: 2, agentId: 'v2' });
    e.apply([upsert(b2)]);
    const [older, equal] = e.apply([
      upsert({ ...b2, version: 1, agentId: 'v1' }),
      upsert({ ...b2, version: 2, agentId: 'v2-again' }),
    ]);
    expect(older!.status).toBe('ignored_stale');
    expect(older!.reasons[0]!.code).toBe('stale_version');
    expect(equal!.status).toBe('ignored_stale');
    expect(e.agent.store.bookings.get('x')?.spec?.agentId).toBe('v2');
  });

  it('a cancellation is a tombstone an older upsert cannot revive, even when it arrives first', async () => {
    e = await startEngine();
    const [c] = e.apply([cancel('late', 3)]);
    expect(c!.status).toBe('accepted');
    const [revive] = e.apply([upsert(booking({ id: 'late', version: 2 }))]);
    expect(revive!.status).toBe('ignored_stale');
    expect(revive!.reasons[0]!.code).toBe('tombstoned');
    expect(e.agent.store.bookings.get('late')?.status).toBe('cancelled');
    // A newer upsert is a deliberate re-booking and is accepted.
    const [newer] = e.apply([upsert(booking({ id: 'late', version: 4 }))]);
    expect(newer!.status).toBe('accepted');
    expect(e.agent.store.bookings.get('late')?.status).toBe('active');
  });

  it('answers a redelivered command with its original result and changes nothing', async () => {
    e = await startEngine();
    const cmd = upsert(booking({ id: 'dup' }), 'same-id');
    const [first] = e.apply([cmd]);
    expect(first!.status).toBe('accepted');
    const [again] = e.apply([structuredClone(cmd)]);
    expect(again).toMatchObject({ status: 'duplicate', currentVersion: 1, commandId: 'same-id' });
    expect(e.agent.store.bookings.get('dup')?.version).toBe(1);
    // The duplicate is answered through the outbox too, carrying the first answer whole.
    const answers = e.agent.store.outbox
      .pending(100)
      .filter((x) => x.type === 'command.result' && x.payload.commandId === 'same-id');
    expect(answers.map((x) => x.payload.status)).toEqual(['accepted', 'duplicate']);
    expect(answers[1]!.payload.original).toMatchObject({ status: 'accepted', currentVersion: 1 });
  });

  it('a command id reused for another command is refused (command_id_reused), not taken for a duplicate', async () => {
    e = await startEngine();
    const cmd = upsert(booking({ id: 'reuse' }), 'c-9');
    expect(e.apply([cmd])[0]!.status).toBe('accepted');
    const [reused] = e.apply([{ ...cmd, booking: { ...cmd.booking, version: 9 } }]);
    expect(reused).toMatchObject({ status: 'rejected', commandId: 'c-9' });
    expect(reused!.reasons[0]).toMatchObject({ code: 'command_id_reused', path: 'commandId' });
    expect(e.agent.store.bookings.get('reuse')?.version).toBe(1);
  });

  it('rejects invalid commands with a reason per problem, keeps them for audit, and keeps running', async () => {
    e = await startEngine();
    const results = e.apply([
      upsert(booking({ id: 'bad-phone', callee: '0151 1234' })),
      upsert(
        booking({
          id: 'bad-zone',
          schedule: { kind: 'daily', time: '09:00', zone: 'Mars/Olympus' },
        }),
      ),
      upsert(
        booking({
          id: 'bad-cron',
          schedule: { kind: 'cron', expr: '0 9 31 2 *', zone: 'Europe/Berlin' },
        }),
      ),
      {
        type: 'booking.upsert',
        commandId: 'extra',
        booking: { ...booking({ id: 'extra' }), evil: true },
      },
      { type: 'booking.explode', commandId: 'unknown-type' },
      'not even an object',
      null,
      upsert(booking({ id: 'good' })),
    ]);
    expect(results.map((r) => r.status)).toEqual([
      'rejected',
      'rejected',
      'rejected',
      'rejected',
      'rejected',
      'rejected',
      'rejected',
      'accepted',
    ]);
    expect(results[0]!.reasons[0]).toMatchObject({
      path: 'booking.callee',
      code: 'invalid_callee',
    });
    expect(results[1]!.reasons[0]!.code).toBe('invalid_schedule');
    expect(results[1]!.reasons[0]!.message).toMatch(/zone/i);
    expect(results[2]!.reasons[0]!.code).toBe('invalid_schedule');
    expect(results[3]!.reasons[0]!.code).toBe('unknown_field');
    const audit = e.agent.store.commands.recent(20);
    expect(audit.filter((a) => a.status === 'rejected')).toHaveLength(7);
    expect(audit.find((a) => a.bookingId === 'bad-phone')?.raw).toContain('bad-phone');
    const rejectedEvents = e.agent.store.outbox
      .pending(100)
      .filter((x) => x.type === 'command.result' && x.payload.status === 'rejected');
    expect(rejectedEvents).toHaveLength(7);
    // Only the valid one exists.
    expect(e.agent.store.bookings.list().map((b) => b.id)).toEqual(['good']);
  });

  it('cancelling a booking cancels its waiting runs with the reason', async () => {
    e = await startEngine();
    e.modem.setRule('*', { outcome: 'busy', afterMs: 100 });
    e.apply([
      upsert(
        booking({ id: 'c', schedule: { kind: 'once', at: new Date(T0 + 1000).toISOString() } }),
      ),
    ]);
    await e.advance(5_000); // fires, busy -> retry_wait
    const [run] = e.agent.store.runs.upcoming();
    expect(run?.status).toBe('retry_wait');
    e.apply([cancel('c', 2)]);
    const after = e.agent.store.runs.get(run!.id)!;
    expect(after.status).toBe('cancelled');
    expect(after.reason).toBe('cancelled_by_cloud');
  });

  it('applies a snapshot atomically: missing bookings are cancelled, others follow version rules', async () => {
    e = await startEngine();
    e.apply([
      upsert(booking({ id: 'keep', version: 1 })),
      upsert(booking({ id: 'drop', version: 1 })),
    ]);
    const out = applySnapshot(
      e.agent.store,
      e.agent.applier,
      {
        snapshotId: 'snap-1',
        asOf: 0,
        bookings: [booking({ id: 'keep', version: 2 }), booking({ id: 'new', version: 1 })],
      },
      { source: 'test' },
    );
    expect(out).toMatchObject({ accepted: 2, cancelled: ['drop'], notApplied: [] });
    expect(e.agent.store.bookings.get('keep')?.version).toBe(2);
    expect(e.agent.store.bookings.get('new')?.status).toBe('active');
    expect(e.agent.store.bookings.get('drop')?.status).toBe('cancelled');
  });
});
