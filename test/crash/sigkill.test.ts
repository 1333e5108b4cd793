/**
 * Crash test: the real agent process is SIGKILLed at random moments while calls are due, restarted
 * each time, and finally left to finish. Then the invariants are checked against the database and
 * the simulator's fsynced dial log (the ground truth of what the "modem" dialled):
 *   - every applied booking is still there;
 *   - every run reaches a terminal state;
 *   - no slot was dialled twice without a recorded retry (each dial has its own attempt row that
 *     was committed as 'dialing' before the dial, and every attempt but the last has an outcome).
 */
import { FREE_INTERRUPTIONS } from '../../agent/lifecycle/policy.js';
import { afterAll, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { killAll, prng, sigkill, startAgentProcess, CLI } from '../support/agent-process.js';
import { Store } from '../../agent/store/store.js';

const KILLS = Number(process.env.CRASH_KILLS ?? 50);
const BOOKINGS = 40;
const SEED = Number(process.env.CRASH_SEED ?? 20261123);

afterAll(killAll);

describe('SIGKILL at random moments', () => {
  it(`survives ${KILLS} kills with nothing lost and nothing dialled twice by accident`, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'companion-crash-'));
    const dialLog = join(dir, 'dials.jsonl');
    const configPath = join(dir, 'config.json');
    writeFileSync(
      configPath,
      JSON.stringify({
        unitId: 'crash-unit',
        dataDir: dir,
        log: { level: 'info' },
        diagnostics: { enabled: false },
        scheduler: { externalPollSec: 1 },
        runner: { hangGraceSec: 2 },
        dialPolicy: { maxCallsPerHour: 100000, maxCallsPerDay: 100000, quietHours: null },
        hal: {
          modem: {
            driver: 'simulator',
            simulator: {
              dialLogPath: dialLog,
              defaultRule: {
                outcome: 'answer',
                alertAfterMs: 20,
                answerAfterMs: 60,
                hangupAfterMs: 120,
              },
              rules: [{ number: '+4915123456*', outcome: 'busy', afterMs: 80 }],
            },
          },
        },
      }),
    );
    // The workload: one-off calls every 250 ms for 10 s, starting 2 s from now; a few always busy.
    const start = Date.now() + 2000;
    const commands = Array.from({ length: BOOKINGS }, (_, i) => ({
      type: 'booking.upsert',
      commandId: `crash-cmd-${i}`,
      booking: {
        id: `crash-${i}`,
        version: 1,
        callee:
          i % 10 === 3
            ? `+49151234567${String(i).padStart(2, '0')}`
            : `+49151230000${String(i).padStart(2, '0')}`,
        agentId: 'crash-agent',
        schedule: { kind: 'once', at: new Date(start + i * 250).toISOString() },
        retry: { maxAttempts: 2, initialBackoffSec: 5, maxBackoffSec: 5, jitter: 0 },
        catchUpWindowSec: 3600,
      },
    }));
    const cmdFile = join(dir, 'commands.json');
    writeFileSync(cmdFile, JSON.stringify(commands));
    execFileSync(process.execPath, [CLI, 'apply', cmdFile, '--config', configPath, '--json']);

    const random = prng(SEED);
    for (let k = 0; k < KILLS; k++) {
      const p = startAgentProcess(configPath);
      await p.ready;
      // Kill anywhere from "just started" to "mid call".
      await new Promise((r) => setTimeout(r, Math.floor(random() * 400)));
      await sigkill(p);
    }

    // Let the last incarnation finish everything that is owed.
    const last = startAgentProcess(configPath);
    await last.ready;
    const deadline = Date.now() + 120_000;
    let open = Infinity;
    while (Date.now() < deadline) {
      const s = Store.open(join(dir, 'companion.db'), { readonly: true });
      try {
        open = (
          s.db
            .prepare(
              `SELECT count(*) AS n FROM runs WHERE status IN ('pending','retry_wait','running')`,
            )
            .get() as { n: number }
        ).n;
        const planned = (s.db.prepare('SELECT count(*) AS n FROM runs').get() as { n: number }).n;
        if (open === 0 && planned === BOOKINGS) break;
      } finally {
        s.close();
      }
      await new Promise((r) => setTimeout(r, 250));
    }
    last.child.kill('SIGTERM');
    await last.exited;

    const store = Store.open(join(dir, 'companion.db'), { readonly: true });
    try {
      // 1. every applied booking is still there
      expect(
        store.bookings
          .list()
          .map((b) => b.id)
          .sort(),
      ).toEqual(commands.map((c) => c.booking.id).sort());
      // 2. every run terminal, exactly one run per one-off booking
      const runs = store.db.prepare('SELECT id, booking_id, status FROM runs').all() as {
        id: string;
        booking_id: string;
        status: string;
      }[];
      expect(runs).toHaveLength(BOOKINGS);
      expect(runs.filter((r) => !['completed', 'dead', 'skipped'].includes(r.status))).toEqual([]);
      // 3. no slot dialled twice without a recorded retry
      const dials = existsSync(dialLog)
        ? readFileSync(dialLog, 'utf8')
            .trim()
            .split('\n')
            .filter(Boolean)
            .map((l) => JSON.parse(l) as { number: string })
        : [];
      const byNumber = new Map<string, number>();
      for (const d of dials) byNumber.set(d.number, (byNumber.get(d.number) ?? 0) + 1);
      for (const c of commands) {
        const run = runs.find((r) => r.booking_id === c.booking.id)!;
        const attempts = store.runs.attemptsOf(run.id);
        const dialled = attempts.filter((a) => a.dialAt !== null);
        const modemDials = byNumber.get(c.booking.callee) ?? 0;
        // Every modem dial was preceded by its own committed 'dialing' attempt...
        expect(modemDials, `${c.booking.id}: modem dials vs recorded attempts`).toBeLessThanOrEqual(
          dialled.length,
        );
        // ...and every attempt has a recorded end (an outcome or a reconciliation reason).
        expect(attempts.filter((a) => a.outcome === null)).toEqual([]);
        // Repeats only ever come from the retry policy (maxAttempts 2): a restart never redials
        // blindly; an attempt the agent itself interrupted is retried after the backoff without
        // using up the budget, at most FREE_INTERRUPTIONS times (docs/lifecycle.md).
        const interrupted = attempts.filter((a) => a.outcome === 'interrupted').length;
        expect(dialled.length).toBeLessThanOrEqual(2 + Math.min(interrupted, FREE_INTERRUPTIONS));
      }
      expect(dials.length).toBeGreaterThanOrEqual(BOOKINGS);
      // The kills really landed mid-work: some attempts were settled by start-up reconciliation.
      const reconciled = store.db
        .prepare(
          `SELECT count(*) AS n FROM attempts WHERE outcome IN ('abandoned', 'interrupted', 'interrupted_after_answer')`,
        )
        .get() as { n: number };
      expect(reconciled.n).toBeGreaterThan(0);
    } finally {
      store.close();
    }
  }, 600_000);
});
