/**
 * CLI write commands beside a running agent (docs/lifecycle.md "Booking changes reach owed work"):
 * `apply` and `dead-letter replay` run in their own process, through the same apply path and run
 * lifecycle, one SQLite transaction each; the running agent sees the commit within
 * scheduler.externalPollSec. Real processes, real files: nothing a CLI writes is missed or acted
 * on twice, and a second `run` on the same data dir is refused.
 */
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CLI, killAll, startAgentProcess, type AgentProcess } from '../support/agent-process.js';
import { until } from '../support/until.js';
import { EXIT_DATA_DIR_LOCKED } from '../../agent/store/dir-lock.js';

const RINGS = '+4915111111111';
const BUSY = '+4915122222222';
const dirs: string[] = [];
let agent: AgentProcess | null = null;

afterEach(async () => {
  if (agent) {
    agent.child.kill('SIGTERM');
    await agent.exited;
    agent = null;
  }
});
afterAll(async () => {
  await killAll();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function unit() {
  const dir = mkdtempSync(join(tmpdir(), 'companion-beside-'));
  dirs.push(dir);
  const dialLog = join(dir, 'dials.jsonl');
  const configPath = join(dir, 'config.json');
  writeFileSync(
    configPath,
    JSON.stringify({
      unitId: 'beside-unit',
      dataDir: dir,
      diagnostics: { enabled: false },
      scheduler: { externalPollSec: 1 },
      dialPolicy: { quietHours: null },
      hal: {
        modem: {
          driver: 'simulator',
          simulator: {
            dialLogPath: dialLog,
            rules: [
              { number: RINGS, outcome: 'no_answer', alertAfterMs: 100 },
              { number: BUSY, outcome: 'busy', afterMs: 100 },
            ],
          },
        },
      },
    }),
  );
  const cli = (args: string[], input?: string) =>
    spawnSync(process.execPath, [CLI, ...args, '--config', configPath], {
      encoding: 'utf8',
      ...(input !== undefined ? { input } : {}),
    });
  const cliAsync = (args: string[]) =>
    new Promise<{ code: number | null; stderr: string }>((resolve) => {
      const c = spawn(process.execPath, [CLI, ...args, '--config', configPath]);
      let stderr = '';
      c.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
      c.once('exit', (code) => resolve({ code, stderr }));
    });
  const apply = (commands: unknown[]) => cli(['apply', '-', '--json'], JSON.stringify(commands));
  const runs = () =>
    JSON.parse(
      execFileSync(process.execPath, [CLI, 'runs', '--json', '--config', configPath], {
        encoding: 'utf8',
      }),
    ) as { upcoming: RunJson[]; recent: RunJson[] };
  const dials = () =>
    existsSync(dialLog) ? readFileSync(dialLog, 'utf8').trim().split('\n').filter(Boolean) : [];
  return { dir, configPath, cli, cliAsync, apply, runs, dials };
}

interface RunJson {
  runId: string;
  bookingId: string | null;
  status: string;
  reason: string | null;
  replays?: number;
  attempts: { status: string; outcome: string | null }[];
}

const once = (id: string, callee: string, inMs: number, retry = 3) => ({
  type: 'booking.upsert',
  commandId: `${id}-1`,
  booking: {
    id,
    version: 1,
    callee,
    agentId: 'cli-test',
    ringTimeoutSec: 120,
    retry: { maxAttempts: retry, initialBackoffSec: 5, maxBackoffSec: 5, jitter: 0 },
    schedule: { kind: 'once', at: new Date(Date.now() + inMs).toISOString() },
  },
});

describe('CLI write commands beside a running agent', () => {
  it('a CLI cancel reaches the ringing call: hung up within the poll interval, never redialled', async () => {
    const u = unit();
    agent = startAgentProcess(u.configPath);
    await agent.ready;
    expect(u.apply([once('ring', RINGS, 1500)]).status).toBe(0);
    await until(() => u.dials().length === 1, 'the call to ring');
    // `runs` shows the call in progress with its attempt, not only once it is over.
    const ringing = await until(
      () =>
        u
          .runs()
          .upcoming.find((x) => x.bookingId === 'ring' && x.attempts[0]?.status === 'alerting'),
      'the ringing attempt in `runs`',
    );
    expect(ringing).toMatchObject({ status: 'running', attempts: [{ outcome: null }] });
    const r = u.apply([
      { type: 'booking.cancel', commandId: 'ring-2', bookingId: 'ring', version: 2 },
    ]);
    expect(r.status).toBe(0);
    const cancelled = await until(
      () => u.runs().recent.find((x) => x.bookingId === 'ring' && x.status === 'cancelled'),
      'the agent to hang up',
    );
    expect(cancelled.reason).toBe('cancelled_by_cloud');
    expect(cancelled.attempts.map((a) => a.outcome)).toEqual(['cancelled']);
    await new Promise((res) => setTimeout(res, 7_000)); // past the 5 s backoff a retry would take
    expect(u.dials()).toHaveLength(1);
  });

  it('a CLI replay is dialled once; a second replay of the same run is refused', async () => {
    const u = unit();
    agent = startAgentProcess(u.configPath);
    await agent.ready;
    expect(u.apply([once('dead', BUSY, 1000, 1)]).status).toBe(0);
    const dead = await until(
      () => u.runs().recent.find((x) => x.bookingId === 'dead' && x.status === 'dead'),
      'the run to be dead-lettered',
    );
    // Two operators replay the same run at the same moment: the transition is conditioned on
    // `dead`, so exactly one takes effect and the other is told why.
    const both = await Promise.all([
      u.cliAsync(['dead-letter', 'replay', dead.runId]),
      u.cliAsync(['dead-letter', 'replay', dead.runId]),
    ]);
    expect(both.map((b) => b.code).sort()).toEqual([0, 4]);
    expect(both.find((b) => b.code === 4)!.stderr).toContain(
      'only dead-lettered runs can be replayed',
    );
    await until(() => u.dials().length === 2, 'the replay to be dialled');
    await until(
      () => u.runs().recent.find((x) => x.runId === dead.runId && x.status === 'dead'),
      'the replayed run to end',
    );
    await new Promise((res) => setTimeout(res, 2_000));
    expect(u.dials()).toHaveLength(2);
  });

  it('second agent: a second `run` on the same data dir exits at once with 73 and says why', async () => {
    const u = unit();
    agent = startAgentProcess(u.configPath);
    await agent.ready;
    const second = spawnSync(process.execPath, [CLI, 'run', '--config', u.configPath], {
      encoding: 'utf8',
      timeout: 20_000,
    });
    expect(second.status).toBe(EXIT_DATA_DIR_LOCKED);
    expect(second.stderr).toContain(`another agent is already running on ${u.dir}`);
    expect(second.stderr).toContain(`pid ${agent.child.pid}`);
    expect(second.stderr).not.toMatch(/\n\s+at /);
  });
});
