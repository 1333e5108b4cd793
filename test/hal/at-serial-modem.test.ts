import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { AtSerialModem } from '../../hal/at/at-serial-modem.js';
import { systemTimers } from '../../hal/system-timers.js';
import type { Modem, ModemEvent } from '../../hal/types.js';
import {
  closeAllPtyHarnesses,
  FAST_AT_CONFIG,
  makePtyHarness,
  type PtyHarness,
} from './pty-harness.js';

const REQ = { number: '+4915123456789', ringTimeoutMs: 3_000, maxDurationMs: 10_000 };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(check: () => boolean, limitMs = 10_000): Promise<void> {
  for (let waited = 0; !check(); waited += 25) {
    if (waited > limitMs) throw new Error(`condition not met within ${limitMs} ms`);
    await sleep(25);
  }
}

function record(modem: Modem): ModemEvent[] {
  const events: ModemEvent[] = [];
  modem.onEvent((e) => events.push(e));
  return events;
}

let h: PtyHarness | null = null;
afterEach(async () => {
  await h?.close();
  h = null;
});
afterAll(closeAllPtyHarnesses);

describe('AtSerialModem status over a pty', () => {
  for (const dialect of ['quectel', 'simcom'] as const) {
    it(`reads SIM, registration, signal, operator, model and network time (${dialect})`, async () => {
      h = await makePtyHarness(dialect);
      const events = record(h.modem);
      await h.modem.start();
      await until(() => h!.modem.status().state === 'ready');
      const s = h.modem.status();
      expect(s).toMatchObject({
        driver: 'at',
        sim: 'ready',
        registration: 'home',
        signalDbm: -71,
        operator: 'Telekom.de',
        model: dialect === 'quectel' ? 'EC25' : 'SIMCOM_SIM7600E-H',
      });
      // +CCLK has one-second resolution: the network time read equals the sim's clock to the second.
      expect(Math.abs(s.networkTime!.at - s.networkTime!.readAt)).toBeLessThan(2_000);
      expect(events.some((e) => e.type === 'network_time')).toBe(true);
    });
  }

  it('reports a missing SIM and refuses to dial', async () => {
    h = await makePtyHarness('quectel');
    h.sim.engine.status = {
      ...h.sim.engine.status,
      cpin: 'NOT INSERTED',
      creg: 0,
      tzQuarters: null,
    };
    await h.modem.start();
    await until(() => h!.modem.status().state === 'ready');
    expect(h.modem.status()).toMatchObject({
      sim: 'absent',
      registration: 'not_registered',
      networkTime: null,
    });
    await expect(h.modem.dial(REQ)).rejects.toMatchObject({ code: 'not_ready' });
  });
});

describe('AtSerialModem over a noisy or vanishing port', () => {
  it('completes calls and reads status with garbage and split lines on the port', async () => {
    h = await makePtyHarness('simcom');
    h.sim.setNoise({ garbage: true, fragment: true });
    await h.modem.start();
    await until(() => h!.modem.status().state === 'ready');
    expect(h.modem.status()).toMatchObject({ sim: 'ready', signalDbm: -71, registration: 'home' });
    h.sim.setRule(REQ.number, {
      outcome: 'answer',
      alertAfterMs: 50,
      answerAfterMs: 200,
      hangupAfterMs: 300,
    });
    const call = await h.modem.dial(REQ);
    expect(await call.done).toMatchObject({
      result: 'completed',
      answered: true,
      endedBy: 'remote',
    });
  });

  it('port vanished while idle and back: reopens by path and counts the recovery', async () => {
    h = await makePtyHarness('quectel');
    const events = record(h.modem);
    await h.modem.start();
    await until(() => h!.modem.status().state === 'ready');
    await h.sim.dropPort(600);
    // Wait on the recovery events rather than polling for the transient 'recovering' state, which a
    // loaded machine can step over; the events record every step in order.
    await until(() => events.some((e) => e.type === 'recovery' && e.step === 'recovered'), 30_000);
    await until(() => h!.modem.status().state === 'ready', 30_000);
    expect(h.modem.status().recoveries).toBeGreaterThan(0);
    const steps = events.flatMap((e) => (e.type === 'recovery' ? [e.step] : []));
    expect(steps[0]).toBe('reopen');
    expect(steps.at(-1)).toBe('recovered');
    h.sim.setRule(REQ.number, { outcome: 'busy', afterMs: 50 });
    const call = await h.modem.dial(REQ);
    expect((await call.done).result).toBe('busy');
  });

  it('port vanished mid-call: the call ends with modem_error and the next call works', async () => {
    h = await makePtyHarness('generic');
    await h.modem.start();
    await until(() => h!.modem.status().state === 'ready');
    h.sim.scriptNext({ outcome: 'drop_port', afterMs: 300, downMs: 500 });
    const call = await h.modem.dial(REQ);
    expect(await call.done).toMatchObject({ result: 'modem_error', endedBy: 'modem' });
    await until(() => h!.modem.status().state === 'ready');
    h.sim.setRule(REQ.number, { outcome: 'busy', afterMs: 50 });
    const next = await h.modem.dial(REQ);
    expect((await next.done).result).toBe('busy');
  });

  // No AT+CFUN=1,1 in between: with the port gone there is nothing to send it on (the reset step
  // of a silent modem is covered in at-unlike-ours.test.ts).
  it('escalates reopen → power-cycle hook while the port stays gone', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'power-'));
    const marker = join(dir, 'cycled');
    h = await makePtyHarness('quectel', {
      reopenBackoff: { initialMs: 50, maxMs: 100 },
      reopenAttemptsBeforeReset: 2,
      resetAttemptsBeforePowerCycle: 1,
      powerCycleCommand: ['touch', marker],
      powerCycleTimeoutMs: 5_000,
    });
    const events = record(h.modem);
    await h.modem.start();
    await until(() => h!.modem.status().state === 'ready');
    await h.sim.dropPort(null);
    const steps = () => events.flatMap((e) => (e.type === 'recovery' ? [e.step] : []));
    await until(() => steps().includes('power_cycle'));
    await until(() => existsSync(marker));
    expect(steps().slice(0, 3)).toEqual(['reopen', 'reopen', 'power_cycle']);
    await h.sim.start(); // the "power cycle" brought the modem back
    await until(() => h!.modem.status().state === 'ready');
    expect(h.modem.status().recoveries).toBeGreaterThanOrEqual(3);
    rmSync(dir, { recursive: true, force: true });
  });
});

describe('modem-sim CLI', () => {
  let child: ChildProcess | null = null;
  let modem: AtSerialModem | null = null;
  let dir = '';
  afterEach(async () => {
    await modem?.stop();
    if (child && child.exitCode === null) {
      const exited = new Promise((r) => child!.once('exit', r));
      child.kill('SIGTERM');
      await Promise.race([exited, sleep(3_000)]);
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    }
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('runs as its own process and serves the AT driver from a script file', async () => {
    dir = mkdtempSync(join(tmpdir(), 'modem-sim-cli-'));
    const script = join(dir, 'rules.json');
    writeFileSync(script, JSON.stringify([{ number: '+49*', outcome: 'busy', afterMs: 100 }]));
    const link = join(dir, 'modem');
    child = spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        'hal/at/sim/modem-sim.ts',
        '--link',
        link,
        '--dialect',
        'simcom',
        '--script',
        script,
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let out = '';
    child.stdout!.on('data', (b: Buffer) => (out += b.toString()));
    child.stderr!.on('data', (b: Buffer) => (out += b.toString()));
    await until(() => out.includes('modem-sim ready'), 20_000);
    modem = new AtSerialModem({ config: { ...FAST_AT_CONFIG, path: link }, timers: systemTimers });
    await modem.start();
    await until(() => modem!.status().state === 'ready');
    expect(modem.status().model).toBe('SIMCOM_SIM7600E-H');
    const call = await modem.dial(REQ);
    expect((await call.done).result).toBe('busy');
  });
});
