/**
 * The run lifecycle, proven by a model-based test (issue 10; docs/lifecycle.md "Invariants"): the
 * real engine — real SQLite file, fake clock, the simulator modem, the real apply path — is driven
 * through random interleavings of booking changes, operator actions, call outcomes, clock advances
 * and jumps, a held write lock or a full disk at any write, and restarts (graceful and SIGKILL-like),
 * and every invariant is checked after every step. A failing run shrinks to the shortest sequence
 * of steps that breaks it; each one found becomes a named regression test.
 *
 * CI runs LIFECYCLE_MODEL_RUNS (default 200) sequences from a fixed seed; raise it for a soak:
 *   LIFECYCLE_MODEL_RUNS=2000 LIFECYCLE_MODEL_SEED=7 npx vitest run test/engine/lifecycle.model.test.ts
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { T0 } from '../support/engine.js';
import { Coverage, LifecycleModel } from './lifecycle-model/model.js';
import type { ModelUnit as Unit } from './lifecycle-model/unit.js';
import { ModelUnit } from './lifecycle-model/unit.js';
import { drain, initialState, lifecycleCommands, seed } from './lifecycle-model/commands.js';
import { checkInvariants } from './lifecycle-model/invariants.js';

const RUNS = Number(process.env.LIFECYCLE_MODEL_RUNS ?? 200);
const SEED = Number(process.env.LIFECYCLE_MODEL_SEED ?? 20261201);

describe('the run lifecycle against its model', () => {
  it(
    `holds every invariant through ${RUNS} random interleavings (seed ${SEED})`,
    async () => {
      const coverage = new Coverage();
      await fc.assert(
        fc.asyncProperty(
          initialState,
          fc.commands(lifecycleCommands, { maxCommands: 40, size: 'max' }),
          async (init, cmds) => {
            const unit = new ModelUnit(T0);
            await unit.start();
            try {
              const model = new LifecycleModel();
              await seed(model, unit, init);
              await fc.asyncModelRun(() => ({ model, real: unit }), cmds);
              await drain(model, unit);
              checkInvariants(model, unit, true);
              tally(coverage, unit);
            } finally {
              await unit.dispose();
            }
          },
        ),
        // Shrinking finds the shortest failing sequence; CI stops at the first failure to stay in budget.
        { numRuns: RUNS, seed: SEED, endOnFailure: process.env.CI === 'true' },
      );
      console.log(`lifecycle model coverage over ${RUNS} runs: ${coverage.toString()}`);
      // The generator must reach the interplay it is there for, or the invariants prove nothing.
      if (RUNS >= 100) {
        for (const what of [
          'dial',
          'outcome:completed',
          'outcome:busy',
          'outcome:cancelled',
          'outcome:interrupted',
          'run:retry_then_dialled',
          'run:dead',
          'run:refused_or_skipped',
          'run:cancelled',
          'attempt:other_version',
          'exit:TransientGaveUp',
          'wal:checkpoint',
          'booking:active',
          'booking:paused',
          'booking:cancelled',
          'booking:completed',
          'hold:waited_for_call',
          'hold:expired',
          'tzdata:upgrade',
        ])
          expect(coverage.get(what), what).toBeGreaterThan(0);
      }
    },
    30 * 60_000,
  );
});

function tally(c: Coverage, unit: Unit): void {
  const db = unit.proc.agent.store.db;
  c.add('dial', unit.dials.length);
  c.add('wal:checkpoint', unit.checkpoints());
  for (const r of db
    .prepare('SELECT outcome, count(*) AS n FROM attempts GROUP BY outcome')
    .all() as { outcome: string; n: number }[])
    c.add(`outcome:${r.outcome}`, r.n);
  for (const r of db.prepare('SELECT status, count(*) AS n FROM runs GROUP BY status').all() as {
    status: string;
    n: number;
  }[]) {
    c.add(`run:${r.status}`, r.n);
    if (r.status === 'refused' || r.status === 'skipped') c.add('run:refused_or_skipped', r.n);
  }
  const retried = db
    .prepare(`SELECT count(DISTINCT run_id) AS n FROM attempts WHERE attempt_no > 1`)
    .get() as { n: number };
  c.add('run:retry_then_dialled', retried.n);
  const versions = db
    .prepare(
      `SELECT count(*) AS n FROM attempts a JOIN runs r ON r.id = a.run_id
       WHERE a.booking_version IS NOT NULL AND EXISTS (SELECT 1 FROM attempts b
         WHERE b.run_id = a.run_id AND b.booking_version <> a.booking_version)`,
    )
    .get() as { n: number };
  c.add('attempt:other_version', versions.n);
  // Invariant 8 checks the counts by status after every step: the runs must leave bookings in each.
  for (const [status, n] of Object.entries(unit.proc.agent.store.bookings.counts()))
    c.add(`booking:${status}`, n);
  for (const x of unit.exits) c.add(`exit:${(x.err as Error).name}`);
  c.add('hold:waited_for_call', unit.holdsWaitedForCall);
  c.add('hold:expired', unit.holdsExpired);
  c.add('tzdata:upgrade', unit.tzdataUpgrades);
}
