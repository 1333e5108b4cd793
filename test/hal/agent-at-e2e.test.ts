/**
 * Issue 4, "what must be shown": the agent, configured with the real AtSerialModem against the
 * simulated modem on a pty (socat), places a booked call end to end — in process with the real
 * wiring, and as the real CLI child process. Real time, real SQLite, real serial I/O; nothing mocked.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Agent } from '../../agent/app.js';
import { SystemClock } from '../../agent/clock.js';
import { type ConfigInput, parseConfig } from '../../agent/config/config.js';
import { createLogger } from '../../agent/log.js';
import { DialPolicy } from '../../agent/policy/dial-policy.js';
import type { RunRow } from '../../agent/store/runs-repo.js';
import type { SimDialect } from '../../hal/at/sim/at-modem-engine.js';
import { PtyModemSimulator } from '../../hal/at/sim/pty-modem-simulator.js';
import { createAudio, createModem } from '../../hal/factory.js';
import type { SimBehaviorInput } from '../../hal/simulator/rules.js';
import {
  assertBuilt,
  CLI,
  killAll,
  startAgentProcess,
  type AgentProcess,
} from '../support/agent-process.js';
import { LogSink } from '../support/engine.js';

const CALLEE = '+4915123456789';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const run = promisify(execFile);

/** Polls until `check` returns a value (not undefined/false); generous limits, no timing asserts. */
async function until<T>(
  check: () => T | undefined | false,
  what: string | (() => string),
  limitMs = 30_000,
) {
  for (let waited = 0; ; waited += 50) {
    const v = check();
    if (v !== undefined && v !== false) return v;
    if (waited > limitMs) {
      throw new Error(`${typeof what === 'string' ? what : what()}: not within ${limitMs} ms`);
    }
    await sleep(50);
  }
}

/** AT driver settings for a pty under test load: quick polls, forgiving command timeouts. */
const AT_TUNING = {
  commandTimeoutMs: 3_000,
  dialTimeoutMs: 5_000,
  callPollMs: 300,
  reopenBackoff: { initialMs: 200, maxMs: 1_000 },
};

function baseConfig(dir: string, link: string, dialect: SimDialect): ConfigInput {
  return {
    dataDir: dir,
    clock: { floor: '2020-01-01T00:00:00Z' },
    scheduler: { externalPollSec: 1 },
    hal: { modem: { driver: 'at', at: { path: link, dialect, ...AT_TUNING } } },
    dialPolicy: { maxCallsPerHour: 1000, maxCallsPerDay: 1000, quietHours: null },
  };
}

function onceBooking(id: string, inMs: number, callee = CALLEE) {
  return {
    type: 'booking.upsert',
    commandId: `cmd-${id}`,
    booking: {
      id,
      version: 1,
      callee,
      agentId: 'companion-default',
      schedule: { kind: 'once', at: new Date(Date.now() + inMs).toISOString() },
      retry: { maxAttempts: 3, initialBackoffSec: 120, maxBackoffSec: 900, jitter: 0 },
    },
  };
}

const ANSWER_THEN_HANG_UP: SimBehaviorInput = {
  outcome: 'answer',
  alertAfterMs: 200,
  answerAfterMs: 600,
  hangupAfterMs: 800,
};

// ---- everything started here is stopped in afterEach/afterAll, even when a test fails ----
const sims = new Set<PtyModemSimulator>();
const agents = new Set<Agent>();
const dirs = new Set<string>();

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'agent-at-e2e-'));
  dirs.add(dir);
  return dir;
}

async function startSim(
  dir: string,
  dialect: SimDialect,
  holdTrailingFinal = false,
): Promise<PtyModemSimulator> {
  const sim = new PtyModemSimulator({
    link: join(dir, 'modem'),
    personality: dialect,
    holdTrailingFinal,
  });
  sims.add(sim);
  await sim.start();
  return sim;
}

async function cleanup(): Promise<void> {
  await Promise.all([...agents].map((a) => a.stop().catch(() => undefined)));
  agents.clear();
  await killAll();
  await Promise.all([...sims].map((s) => s.stop().catch(() => undefined)));
  sims.clear();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
  dirs.clear();
}

afterEach(cleanup);
afterAll(cleanup);

async function startAgent(dir: string, link: string, dialect: SimDialect) {
  const config = parseConfig(baseConfig(dir, link, dialect));
  const sink = new LogSink();
  const logger = createLogger({ level: 'debug', destination: sink });
  const clock = new SystemClock();
  const modem = createModem(config.hal.modem, {
    timers: clock,
    logger: logger.child({ component: 'modem' }),
  });
  const audio = createAudio(config.hal.audio, {
    timers: clock,
    logger: logger.child({ component: 'audio' }),
  });
  const agent = new Agent({
    config,
    clock,
    logger,
    modem,
    audio,
    dialGuard: new DialPolicy({ maxCallsPerHour: 1000, maxCallsPerDay: 1000, quietHours: null }),
  });
  agents.add(agent);
  await agent.start();
  await until(() => agent.modem.status().state === 'ready', 'modem ready over the pty');
  return { agent, sink };
}

/**
 * What a timed-out wait prints besides the log: the agent's own view of why nothing happened (runs
 * and their due times against now, the scheduler's next wake, clock trust, restart hold, runner,
 * modem). A wait that fails on a loaded CI machine must say which of these stood still.
 */
function stateOf(agent: Agent, sink: LogSink): string {
  const runs = [...agent.store.runs.upcoming(50), ...agent.store.runs.recent(50)].map((r) => ({
    bookingId: r.bookingId,
    status: r.status,
    dueInMs: r.dueAt - Date.now(),
    dials: r.dials,
  }));
  const state = {
    now: Date.now(),
    wakeInMs: (agent.scheduler.wakeAt() ?? NaN) - Date.now(),
    clock: agent.clockState(),
    hold: agent.restartHold(),
    runnerWorking: agent.runner.working(),
    runnerBusy: agent.runner.busy(),
    modem: agent.modem.status().state,
    runs,
  };
  return `state: ${JSON.stringify(state)}; log: ${sink.text().slice(-3000)}`;
}

function runOf(agent: Agent, bookingId: string): RunRow | undefined {
  const runs = [...agent.store.runs.upcoming(50), ...agent.store.runs.recent(50)];
  return runs.find((r) => r.bookingId === bookingId);
}

for (const dialect of ['quectel', 'simcom'] as const) {
  describe(`agent with AtSerialModem over a pty (${dialect})`, () => {
    it('places a booked call: answered, callee hangs up → run completed, attempt timed, outbox has attempt.ended', async () => {
      const dir = tempDir();
      const sim = await startSim(dir, dialect);
      sim.setRule(CALLEE, ANSWER_THEN_HANG_UP);
      const { agent, sink } = await startAgent(dir, sim.path, dialect);
      expect(agent.modem.status()).toMatchObject({ driver: 'at', sim: 'ready' });

      const [result] = agent.applier.apply([onceBooking('e2e-answer', 2_000)], { source: 'test' });
      expect(result).toMatchObject({ status: 'accepted' });

      const done = await until(
        () => {
          const r = runOf(agent, 'e2e-answer');
          return r && ['completed', 'dead', 'retry_wait'].includes(r.status) ? r : undefined;
        },
        () => `run finished (${stateOf(agent, sink)})`,
      );
      expect(done).toMatchObject({ status: 'completed', dials: 1 });

      const [attempt] = agent.store.runs.attemptsOf(done.id);
      expect(attempt).toMatchObject({ status: 'ended', outcome: 'completed' });
      expect(attempt!.dialAt).not.toBeNull();
      expect(attempt!.answeredAt).not.toBeNull();
      expect(attempt!.endedAt).not.toBeNull();
      expect(attempt!.answeredAt!).toBeGreaterThanOrEqual(attempt!.dialAt!);
      expect(attempt!.endedAt!).toBeGreaterThanOrEqual(attempt!.answeredAt!);

      const ended = agent.store.outbox
        .pending(500)
        .filter((e) => e.type === 'attempt.ended' && e.payload['runId'] === done.id);
      expect(ended).toHaveLength(1);
      // The real modem saw the dial on its AT port.
      expect(sim.engine.received).toContain(`ATD${CALLEE};`);
      expect(agent.store.bookings.get('e2e-answer')?.status).toBe('completed');
      // Rule 10: the number never reaches the log in clear.
      expect(sink.text()).not.toContain(CALLEE);
    });

    it('busy callee → run waits for a retry with reason busy', async () => {
      const dir = tempDir();
      const sim = await startSim(dir, dialect);
      sim.setRule(CALLEE, { outcome: 'busy', afterMs: 300 });
      const { agent, sink } = await startAgent(dir, sim.path, dialect);

      agent.applier.apply([onceBooking('e2e-busy', 2_000)], { source: 'test' });

      const waiting = await until(
        () => {
          const r = runOf(agent, 'e2e-busy');
          return r && r.status !== 'pending' && r.status !== 'running' ? r : undefined;
        },
        () => `run left running (${stateOf(agent, sink)})`,
      );
      expect(waiting).toMatchObject({ status: 'retry_wait', reason: 'busy', dials: 1 });
      expect(waiting.dueAt).toBeGreaterThan(Date.now());
      const [attempt] = agent.store.runs.attemptsOf(waiting.id);
      expect(attempt).toMatchObject({ status: 'ended', outcome: 'busy', answeredAt: null });
      expect(attempt!.dialAt).not.toBeNull();
      await until(() => agent.modem.status().state === 'ready', 'line free again');
    });

    it("two calls due at the same slot run back to back: the first call's trailing NO CARRIER does not end the second", async () => {
      const BUSY = '+493012345678';
      const dir = tempDir();
      // The first call's NO CARRIER is still in the modem's buffer when the next command arrives.
      const sim = await startSim(dir, dialect, true);
      sim.setRule(CALLEE, ANSWER_THEN_HANG_UP);
      sim.setRule(BUSY, { outcome: 'busy', afterMs: 400 });
      const { agent, sink } = await startAgent(dir, sim.path, dialect);
      agent.applier.apply([onceBooking('first', 2_000), onceBooking('second', 2_000, BUSY)], {
        source: 'test',
      });
      const settled = (id: string) => {
        const r = runOf(agent, id);
        return r && r.status !== 'pending' && r.status !== 'running' ? r : undefined;
      };
      await until(
        () => settled('first') && settled('second'),
        () => `both runs settled (${stateOf(agent, sink)})`,
      );
      const outcomes = ['first', 'second'].map((id) => ({
        status: settled(id)!.status,
        outcome: agent.store.runs.attemptsOf(settled(id)!.id)[0]?.outcome,
      }));
      expect(outcomes).toEqual(
        expect.arrayContaining([
          { status: 'completed', outcome: 'completed' },
          { status: 'retry_wait', outcome: 'busy' },
        ]),
      );
    });
  });
}

describe('the real CLI (node dist/agent/cli/main.js run) with hal.modem.driver = at', () => {
  beforeAll(() => assertBuilt());

  async function cli(args: string[], configPath: string): Promise<string> {
    const { stdout } = await run(process.execPath, [CLI, ...args, '--config', configPath], {
      timeout: 20_000,
    });
    return stdout;
  }

  it('places a call booked with `apply` and shows it completed in `runs`', async () => {
    const dir = tempDir();
    const sim = await startSim(dir, 'quectel');
    sim.setRule(CALLEE, ANSWER_THEN_HANG_UP);
    const configPath = join(dir, 'config.json');
    writeFileSync(configPath, JSON.stringify(baseConfig(dir, sim.path, 'quectel'), null, 2));

    const agent: AgentProcess = startAgentProcess(configPath);
    await agent.ready;

    const bookingPath = join(dir, 'booking.json');
    writeFileSync(bookingPath, JSON.stringify([onceBooking('cli-call', 3_000)]));
    expect(await cli(['apply', bookingPath], configPath)).toContain('1 accepted');

    type RunJson = { bookingId: string; status: string; attempts?: unknown[] };
    let last: RunJson | undefined;
    for (let waited = 0; waited < 30_000; waited += 300) {
      const runs = JSON.parse(await cli(['runs', '--json'], configPath)) as {
        upcoming: RunJson[];
        recent: RunJson[];
      };
      last = [...runs.upcoming, ...runs.recent].find((r) => r.bookingId === 'cli-call');
      if (last && last.status !== 'pending' && last.status !== 'running') break;
      await sleep(300);
    }
    expect(last, agent.output().slice(-3000)).toMatchObject({
      status: 'completed',
      attempts: [expect.objectContaining({ outcome: 'completed' })],
    });
    expect(sim.engine.received).toContain(`ATD${CALLEE};`);
    expect(agent.output()).not.toContain(CALLEE);

    agent.child.kill('SIGTERM');
    expect(await agent.exited).toBe(0);
  });
});
