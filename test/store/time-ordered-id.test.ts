/**
 * Run and attempt ids are UUIDv7 (agent/store/time-ordered-id.ts, issue 14): a planning pass's runs
 * land on the last leaf of the runs id index instead of a random one each. What must hold: a valid
 * RFC 9562 version-7 UUID, its first 48 bits the millisecond given, lexicographic order = time order,
 * no two alike — also within one millisecond and across a clock set back — and the lifecycle's ids
 * following the agent's (injected) clock.
 */
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { timeOrderedId } from '../../agent/store/time-ordered-id.js';
import { Store } from '../../agent/store/store.js';
import { dbPathOf } from '../../agent/app.js';
import { RunLifecycle } from '../../agent/lifecycle/lifecycle.js';
import { Planner } from '../../agent/scheduler/planner.js';
import {
  startEngine,
  booking,
  upsert,
  permissivePolicy,
  type Engine,
  T0,
} from '../support/engine.js';

const V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const msOf = (id: string): number => parseInt(id.slice(0, 8) + id.slice(9, 13), 16);
const MAX48 = 0xffff_ffff_ffff;

describe('timeOrderedId', () => {
  it('is a version-7 UUID whose first 48 bits are the millisecond given', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: MAX48 }), (ms) => {
        const id = timeOrderedId(ms);
        expect(id).toMatch(V7);
        expect(msOf(id)).toBe(ms);
      }),
    );
  });

  it('sorts as its milliseconds sort', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: MAX48 }),
        fc.integer({ min: 0, max: MAX48 }),
        (a, b) => {
          fc.pre(a !== b);
          const [x, y] = [timeOrderedId(a), timeOrderedId(b)];
          expect(x < y).toBe(a < b);
        },
      ),
    );
  });

  it('never repeats within one millisecond, nor when the clock goes back', () => {
    const seen = new Set<string>();
    const t = Date.UTC(2026, 11, 7, 3, 0, 0);
    for (let i = 0; i < 50_000; i++) seen.add(timeOrderedId(t));
    for (let i = 0; i < 50_000; i++) seen.add(timeOrderedId(t - (i % 7)));
    expect(seen.size).toBe(100_000);
  });

  it('spreads its random bits: every hex digit of the random part takes many values', () => {
    const ids = Array.from({ length: 2_000 }, () => timeOrderedId(1));
    // positions of random hex digits (not the version digit, not the variant's high bits)
    for (const pos of [15, 16, 17, 20, 21, 22, 24, 30, 35]) {
      expect(new Set(ids.map((id) => id[pos])).size).toBeGreaterThanOrEqual(12);
    }
  });

  it('refuses a time that does not fit 48 bits with a clear error', () => {
    for (const bad of [-1, MAX48 + 1, 1.5, Number.NaN, Number.POSITIVE_INFINITY]) {
      expect(() => timeOrderedId(bad)).toThrow(/48-bit millisecond time/);
    }
  });
});

let e: Engine | undefined;
afterEach(async () => {
  await e?.stop(true);
  e = undefined;
});

describe('the lifecycle names runs and attempts by the agent clock', () => {
  it('runs planned later sort after earlier ones, and an attempt carries its claim time', async () => {
    e = await startEngine();
    const MIN = 60_000;
    e.apply(
      Array.from({ length: 6 }, (_, i) =>
        upsert(
          booking({
            id: `b${i}`,
            schedule: { kind: 'once', at: new Date(T0 + i * MIN).toISOString() },
          }),
        ),
      ),
    );
    await e.stop();
    const store = Store.open(dbPathOf(e.config));
    try {
      const lifecycle = new RunLifecycle(store, permissivePolicy(), () => 0.5);
      const planner = new Planner(store, lifecycle);
      const ids: string[] = [];
      for (let i = 0; i < 6; i++) {
        const now = T0 + i * MIN;
        planner.planDue(now);
        const run = store.runs.openRunsOfBooking(`b${i}`)[0]!;
        expect(msOf(run.id)).toBe(now);
        ids.push(run.id);
      }
      expect([...ids].sort()).toEqual(ids);
      const claimAt = T0 + 6 * MIN + 123;
      const claim = lifecycle.claimNext(1, claimAt)!;
      expect(msOf(claim.attempt.id)).toBe(claimAt);
      const test = lifecycle.requestTestCall(
        { callee: '+4915123456789', requestedBy: 'tech' },
        claimAt + 1,
      );
      expect(msOf(test.id)).toBe(claimAt + 1);
    } finally {
      store.close();
    }
  });
});
