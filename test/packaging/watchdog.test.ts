/**
 * The systemd watchdog: with an injected notifier and a real store, pings stop when the event loop
 * is blocked or the database stops answering; and end to end, the real agent process talks to a
 * notify socket through the real systemd-notify. Assertions are on what was sent, never on time.
 */
import { spawn, spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Store } from '../../agent/store/store.js';
import {
  databaseAnswers,
  SystemdNotifier,
  Watchdog,
  watchdogUsec,
  type Notifier,
  type WatchdogEvent,
} from '../../agent/watchdog/index.js';
import { runCli, tempDir, watch, type Child } from './support.js';

/** Records every state sent; the test waits on it instead of sleeping. */
class FakeNotifier implements Notifier {
  readonly sent: string[] = [];
  private waiters: (() => void)[] = [];
  notify(state: string): Promise<void> {
    this.sent.push(state);
    for (const w of this.waiters.splice(0)) w();
    return Promise.resolve();
  }
  pings(): number {
    return this.sent.filter((s) => s === 'WATCHDOG=1').length;
  }
  async until(pred: () => boolean): Promise<void> {
    while (!pred()) await new Promise<void>((r) => this.waiters.push(r));
  }
}

function blockEventLoop(ms: number): void {
  const end = performance.now() + ms;
  while (performance.now() < end) {
    /* a synchronous hog, like a runaway loop or a giant JSON.parse */
  }
}

const cleanups: (() => void | Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function setup(opts: { intervalMs?: number; maxLagMs?: number } = {}) {
  const store = Store.open(join(tempDir('watchdog'), 'companion.db'));
  const notifier = new FakeNotifier();
  const events: WatchdogEvent[] = [];
  const waiters: (() => void)[] = [];
  const wd = new Watchdog({
    notifier,
    intervalMs: opts.intervalMs ?? 20,
    maxLagMs: opts.maxLagMs ?? 150,
    databaseAnswers: databaseAnswers(store),
    onEvent: (e) => {
      events.push(e);
      for (const w of waiters.splice(0)) w();
    },
  });
  const nextEvent = async (pred: (e: WatchdogEvent) => boolean, from = events.length) => {
    for (;;) {
      const hit = events.slice(from).find(pred);
      if (hit) return hit;
      await new Promise<void>((r) => waiters.push(r));
    }
  };
  cleanups.push(async () => {
    await wd.stopping();
    store.close();
  });
  return { store, notifier, events, wd, nextEvent };
}

describe('watchdog keeper', () => {
  it('sends READY=1 first, pings while healthy, STOPPING=1 last and nothing after', async () => {
    const { notifier, wd } = setup();
    await wd.ready();
    await notifier.until(() => notifier.pings() >= 3);
    await wd.stopping();
    const count = notifier.sent.length;
    expect(notifier.sent[0]).toBe('READY=1');
    expect(notifier.sent.at(-1)).toBe('STOPPING=1');
    // The timer is gone: a few more intervals pass and nothing else is sent.
    await new Promise((r) => setTimeout(r, 100));
    expect(notifier.sent.length).toBe(count);
  });

  it('withholds the ping when the event loop was blocked, and resumes after', async () => {
    const { notifier, wd, events, nextEvent } = setup();
    await wd.ready();
    await notifier.until(() => notifier.pings() >= 2);
    const pingsBefore = notifier.pings();
    const from = events.length;
    blockEventLoop(600);
    // The first decision after the block sees the lag: no ping for it.
    const first = await nextEvent(() => true, from);
    expect(first).toMatchObject({ kind: 'skip', reason: 'event-loop' });
    expect((first as { lagMs: number }).lagMs).toBeGreaterThan(150);
    expect(notifier.pings()).toBe(pingsBefore);
    // A healthy loop earns pings again (systemd would have killed us only if this never came).
    await nextEvent((e) => e.kind === 'ping', from);
    expect(notifier.pings()).toBeGreaterThan(pingsBefore);
  });

  it('stops pinging when the database is closed', async () => {
    const { notifier, wd, store, events, nextEvent } = setup();
    await wd.ready();
    await notifier.until(() => notifier.pings() >= 2);
    store.close();
    const from = events.length;
    const pingsAfterClose = notifier.pings();
    // Several consecutive decisions, all refusals naming the database.
    await nextEvent(() => events.length - from >= 3, from);
    const after = events.slice(from);
    expect(after.every((e) => e.kind === 'skip' && e.reason === 'database')).toBe(true);
    expect(after[0]).toMatchObject({ error: expect.stringMatching(/not open/) });
    expect(notifier.pings()).toBe(pingsAfterClose);
  });
});

describe('systemd environment', () => {
  it('uses WATCHDOG_USEC only when WATCHDOG_PID is absent or ours', () => {
    expect(watchdogUsec({})).toBeNull();
    expect(watchdogUsec({ WATCHDOG_USEC: '30000000' })).toBe(30_000_000);
    expect(watchdogUsec({ WATCHDOG_USEC: '30000000', WATCHDOG_PID: String(process.pid) })).toBe(
      30_000_000,
    );
    expect(watchdogUsec({ WATCHDOG_USEC: '30000000', WATCHDOG_PID: '1' })).toBeNull();
    expect(watchdogUsec({ WATCHDOG_USEC: 'soon' })).toBeNull();
  });
});

const haveNotify =
  spawnSync('systemd-notify', ['--help']).status === 0 &&
  spawnSync('python3', ['--version']).status === 0;

/** A notify socket served by a small python receiver (a real AF_UNIX datagram socket). */
async function notifySocket(): Promise<{ path: string; rx: Child }> {
  const path = join(tempDir('notify'), 'notify.sock');
  const rx = watch(
    spawn('python3', [join(import.meta.dirname, 'notify-receiver.py'), path], {
      stdio: ['ignore', 'pipe', 'pipe'],
    }),
  );
  cleanups.push(async () => {
    rx.child.kill('SIGTERM');
    await rx.exited;
  });
  await rx.waitFor('listening');
  return { path, rx };
}

// CI installs both; there a missing tool is a failure, not a skip.
if (!haveNotify && process.env.CI === 'true')
  throw new Error('systemd-notify and python3 are needed in CI (apt-get install systemd python3)');
describe.skipIf(!haveNotify)('with the real systemd-notify', () => {
  it('SystemdNotifier delivers states to NOTIFY_SOCKET', async () => {
    const { path, rx } = await notifySocket();
    const errors: string[] = [];
    const n = new SystemdNotifier({
      env: { ...process.env, NOTIFY_SOCKET: path },
      onError: (s, e) => errors.push(`${s}: ${e.message}`),
    });
    await n.notify('READY=1');
    await n.notify('WATCHDOG=1');
    await n.notify('STOPPING=1');
    await rx.waitFor('STOPPING=1');
    expect(errors).toEqual([]);
    const lines = rx.output().split('\n');
    expect(lines.findIndex((l) => l.startsWith('READY=1'))).toBeLessThan(
      lines.findIndex((l) => l.startsWith('WATCHDOG=1')),
    );
  });

  it('the agent process sends READY, keeps pinging, and says STOPPING on SIGTERM', async () => {
    const { path, rx } = await notifySocket();
    const agent = runCli(['run'], {
      COMPANION_DATA_DIR: tempDir('notify-agent'),
      NOTIFY_SOCKET: path,
      // 2 s watchdog: the agent pings every second.
      WATCHDOG_USEC: '2000000',
    });
    cleanups.push(async () => {
      agent.child.kill('SIGKILL');
      await agent.exited;
    });
    await rx.waitFor('READY=1');
    await agent.waitFor('systemd watchdog enabled');
    await rx.waitUntil(
      (out) => (out.slice(out.indexOf('READY=1')).match(/WATCHDOG=1/g) ?? []).length >= 2,
      'two pings after READY',
    );
    agent.child.kill('SIGTERM');
    expect(await agent.exited).toBe(0);
    await rx.waitFor('STOPPING=1');
  });

  it('SIGUSR2 during a call (an upgrade asking first): the status line says waiting, then no call in progress; the call ends by itself', async () => {
    const { path, rx } = await notifySocket();
    const dir = tempDir('restart-hold');
    const config = join(dir, 'config.json');
    writeFileSync(
      config,
      JSON.stringify({
        unitId: 'hold-unit',
        dataDir: dir,
        scheduler: { externalPollSec: 1 },
        dialPolicy: { quietHours: null },
        hal: {
          modem: {
            driver: 'simulator',
            simulator: {
              defaultRule: { outcome: 'answer', answerAfterMs: 200, hangupAfterMs: 3000 },
            },
          },
        },
      }),
    );
    const agent = runCli(['run', '--config', config], { NOTIFY_SOCKET: path });
    cleanups.push(async () => {
      agent.child.kill('SIGKILL');
      await agent.exited;
    });
    await rx.waitFor('READY=1');
    const at = new Date(Math.ceil((Date.now() + 2000) / 1000) * 1000).toISOString();
    const booking = join(dir, 'booking.json');
    writeFileSync(
      booking,
      JSON.stringify({
        commands: [
          {
            type: 'booking.upsert',
            commandId: 'hold-1',
            booking: {
              id: 'hold-call',
              version: 1,
              callee: '+4915123456789',
              agentId: 'companion',
              schedule: { kind: 'once', at },
            },
          },
        ],
      }),
    );
    expect(await runCli(['apply', booking, '--config', config], {}).exited).toBe(0);
    await agent.waitFor('"msg":"dialing"');
    agent.child.kill('SIGUSR2');
    await rx.waitFor('STATUS=restart requested: no call in progress');
    const sent = rx.output();
    // Its own line from READY on: postinst never reads a previous process's line as this one's.
    expect(sent.indexOf('STATUS=ready: placing booked calls')).toBeGreaterThan(
      sent.indexOf('READY=1'),
    );
    expect(sent.indexOf('STATUS=ready: placing booked calls')).toBeLessThan(
      sent.indexOf('STATUS=restart requested'),
    );
    const waiting = sent.indexOf(
      'STATUS=restart requested: waiting for the call in progress to end',
    );
    expect(waiting).toBeGreaterThan(sent.indexOf('READY=1'));
    expect(waiting).toBeLessThan(sent.indexOf('STATUS=restart requested: no call in progress'));
    // The call ended by the callee's hang-up before the agent said so; the agent still runs.
    const log = agent.output();
    const ended = log.indexOf('"msg":"call ended"');
    expect(ended).toBeGreaterThan(log.indexOf('"msg":"SIGUSR2: a restart is coming"'));
    expect(log.slice(log.lastIndexOf('\n', ended))).toMatch(/"outcome":"completed"/);
    agent.child.kill('SIGTERM');
    expect(await agent.exited).toBe(0);
    await rx.waitFor('STOPPING=1');
  });
});
