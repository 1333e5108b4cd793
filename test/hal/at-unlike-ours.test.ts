/**
 * Regression tests for what an independent 3GPP 27.007 phone simulator found in AtSerialModem
 * (issue 12): a modem answering bare AT with ERROR was rebooted every 8 s forever; a remote
 * hang-up with free-text +CEER was reported as a network end; stop() during a call reported a
 * local hang-up; the operator was null on a numeric +COPS; call-state URCs were ignored; a
 * debug line printed short numbers in clear. Each runs the real driver over a pty.
 */
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import type { HalLogger } from '../../hal/logger.js';
import type { ModemEvent } from '../../hal/types.js';
import { closeAllPtyHarnesses, makePtyHarness, type PtyHarness } from './pty-harness.js';

const NUMBER = '+4915123456789';
const REQ = { number: NUMBER, ringTimeoutMs: 4_000, maxDurationMs: 10_000 };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(check: () => boolean, limitMs = 10_000): Promise<void> {
  for (let waited = 0; !check(); waited += 25) {
    if (waited > limitMs) throw new Error(`condition not met within ${limitMs} ms`);
    await sleep(25);
  }
}

function recoverySteps(events: ModemEvent[]): string[] {
  return events.flatMap((e) => (e.type === 'recovery' ? [e.step] : []));
}

function capturingLogger(): { logger: HalLogger; lines: string[] } {
  const lines: string[] = [];
  const push =
    (level: string) =>
    (obj: object, msg?: string): void => {
      lines.push(`${level} ${msg ?? ''} ${JSON.stringify(obj)}`);
    };
  return {
    lines,
    logger: { info: push('info'), warn: push('warn'), error: push('error'), debug: push('debug') },
  };
}

let h: PtyHarness | null = null;
afterEach(async () => {
  await h?.close();
  h = null;
});
afterAll(closeAllPtyHarnesses);

describe('init and recovery on modems unlike ours', () => {
  it('a modem that answers bare AT with ERROR initialises, dials, and is never rebooted', async () => {
    h = await makePtyHarness('at-error', { statusPollMs: 300 });
    const events: ModemEvent[] = [];
    h.modem.onEvent((e) => events.push(e));
    await h.modem.start();
    await until(() => h!.modem.status().state === 'ready');
    await sleep(1_500); // several status polls: none of them may escalate
    expect(h.modem.status()).toMatchObject({ state: 'ready', recoveries: 0, sim: 'ready' });
    expect(recoverySteps(events)).toEqual([]);
    expect(h.sim.engine.received).not.toContain('AT+CFUN=1,1');
    h.sim.setRule(NUMBER, { outcome: 'busy', afterMs: 100 });
    const call = await h.modem.dial(REQ);
    expect((await call.done).result).toBe('busy');
  });

  it('a modem that answers ERROR to everything is reported failed and re-initialised with backoff, never reset', async () => {
    h = await makePtyHarness('generic', {
      reopenBackoff: { initialMs: 50, maxMs: 400 },
      reopenAttemptsBeforeReset: 1,
    });
    h.sim.engine.traits.answersOnlyError = true;
    const events: ModemEvent[] = [];
    h.modem.onEvent((e) => events.push(e));
    await h.modem.start();
    await until(() => h!.modem.status().state === 'failed');
    expect(h.modem.status().reason).toMatch(/answers ERROR to every probe/);
    await sleep(2_500);
    const steps = recoverySteps(events);
    expect(steps.length).toBeGreaterThanOrEqual(3);
    expect(new Set(steps)).toEqual(new Set(['reopen']));
    // Backed off: 50, 100, 200, 400, 400... ms, so about 8 tries in 2.5 s, not one per probe.
    expect(steps.length).toBeLessThanOrEqual(12);
    expect(h.sim.engine.received).not.toContain('AT+CFUN=1,1');
    h.sim.engine.traits.answersOnlyError = false; // the firmware comes to its senses
    await until(() => h!.modem.status().state === 'ready', 5_000);
    expect(recoverySteps(events).at(-1)).toBe('recovered');
  });

  it('a silent modem is reset a bounded number of times, then only reopened and reported failed', async () => {
    h = await makePtyHarness('quectel', {
      statusPollMs: 200,
      reopenBackoff: { initialMs: 50, maxMs: 200 },
      reopenAttemptsBeforeReset: 1,
      maxResetsPerEpisode: 2,
    });
    const events: ModemEvent[] = [];
    h.modem.onEvent((e) => events.push(e));
    await h.modem.start();
    await until(() => h!.modem.status().state === 'ready');
    h.sim.engine.goSilentFor(60_000);
    await until(() => h!.modem.status().state === 'failed', 20_000);
    expect(h.modem.status().reason).toMatch(/recovery exhausted \(2 resets, 0 power cycles\)/);
    const resetsWhenExhausted = h.sim.engine.received.filter((c) => c === 'AT+CFUN=1,1').length;
    await sleep(2_000); // reopening every 200 ms meanwhile
    const steps = recoverySteps(events);
    expect(steps.filter((s) => s === 'reset')).toHaveLength(2);
    expect(resetsWhenExhausted).toBe(2);
    expect(h.sim.engine.received.filter((c) => c === 'AT+CFUN=1,1')).toHaveLength(2);
    expect(steps.slice(-3)).toEqual(['reopen', 'reopen', 'reopen']);
    h.sim.engine.goSilentFor(0);
    await until(() => h!.modem.status().state === 'ready', 5_000);
  });

  it('a modem that answers AT when the ladder reaches a reset is re-initialised, not rebooted', async () => {
    h = await makePtyHarness('quectel', {
      reopenBackoff: { initialMs: 50, maxMs: 100 },
      reopenAttemptsBeforeReset: 1,
    });
    const events: ModemEvent[] = [];
    h.modem.onEvent((e) => events.push(e));
    await h.modem.start();
    await until(() => h!.modem.status().state === 'ready');
    // Only the identity query fails (silently): init times out, a bare AT still answers.
    h.sim.engine.traits.answersOnlyError = false;
    const original = h.sim.engine.receive.bind(h.sim.engine);
    let muteAti = true;
    h.sim.engine.receive = (chunk: string) => {
      if (muteAti && chunk.startsWith('ATI')) return;
      original(chunk);
    };
    await h.sim.dropPort(100); // the modem re-enumerates; init now stalls on ATI
    await until(() => recoverySteps(events).includes('reset_skipped'), 15_000);
    expect(h.sim.engine.received).not.toContain('AT+CFUN=1,1');
    muteAti = false;
    await until(() => h!.modem.status().state === 'ready', 10_000);
  });
});

describe('calls on modems unlike ours', () => {
  it('stop() during a ringing call ends it modem_error by modem and frees the line', async () => {
    h = await makePtyHarness('generic');
    await h.modem.start();
    await until(() => h!.modem.status().state === 'ready');
    h.sim.setRule(NUMBER, { outcome: 'no_answer', alertAfterMs: 100 });
    const call = await h.modem.dial(REQ);
    await sleep(300);
    await h.modem.stop();
    expect(await call.done).toMatchObject({
      result: 'modem_error',
      endedBy: 'modem',
      detail: 'modem driver stopped',
    });
    expect(h.sim.engine.received.at(-1)).toBe('AT+CHUP');
  });

  it('stop() during a held dial (OK owed until answer) aborts the dial before closing', async () => {
    h = await makePtyHarness('held-dial-ok');
    await h.modem.start();
    await until(() => h!.modem.status().state === 'ready');
    h.sim.setRule(NUMBER, { outcome: 'no_answer', alertAfterMs: 100 });
    const call = await h.modem.dial(REQ);
    await h.modem.stop();
    expect(await call.done).toMatchObject({ result: 'modem_error', endedBy: 'modem' });
    expect(h.sim.engine.received).toContain('AT+CHUP'); // sent after the abort freed the channel
  });

  it('reads the operator name from a modem whose +COPS? defaults to numeric', async () => {
    h = await makePtyHarness('at-error');
    await h.modem.start();
    await until(() => h!.modem.status().state === 'ready');
    expect(h.sim.engine.received).toContain('AT+COPS=3,0');
    expect(h.modem.status().operator).toBe('Telekom.de');
  });

  it('with call-state URCs the AT+CLCC poll is only a heartbeat; without them it polls', async () => {
    const clccDuring = async (personality: 'quectel' | 'generic' | 'urc-only') => {
      h = await makePtyHarness(personality);
      await h.modem.start();
      await until(() => h!.modem.status().state === 'ready');
      h.sim.setRule(NUMBER, { outcome: 'answer', alertAfterMs: 100, answerAfterMs: 800 });
      const before = h.sim.engine.received.length;
      const states: string[] = [];
      const call = await h.modem.dial(REQ, (e) => states.push(e.state));
      await sleep(2_500);
      await call.hangup();
      const outcome = await call.done;
      const polls = h.sim.engine.received.slice(before).filter((c) => c === 'AT+CLCC').length;
      await h.close();
      h = null;
      return { polls, outcome, states };
    };
    const urc = await clccDuring('quectel'); // ^DSCI
    const ecav = await clccDuring('urc-only'); // *ECAV, and AT+CLCC answers ERROR
    const polled = await clccDuring('generic'); // nothing but AT+CLCC
    for (const r of [urc, ecav, polled]) {
      expect(r.outcome).toMatchObject({ result: 'completed', answered: true, endedBy: 'local' });
      expect(r.states).toEqual(['dialing', 'alerting', 'active', 'ended']);
    }
    expect(polled.polls).toBeGreaterThanOrEqual(8); // every 200 ms
    expect(urc.polls).toBeLessThanOrEqual(4); // one at 200 ms, then the 1 s heartbeat
    expect(ecav.polls).toBeLessThanOrEqual(1); // one ERROR and it stops asking
  });

  it('no log line carries a phone number, short numbers included', async () => {
    const { logger, lines } = capturingLogger();
    h = await makePtyHarness('quectel', {}, logger);
    await h.modem.start();
    await until(() => h!.modem.status().state === 'ready');
    h.sim.engine.emitUrc('+CLIP: "4711",129');
    h.sim.engine.emitUrc('+CUSD: 0,"Balance 1234 EUR, call 22855 for help",15');
    await until(() => lines.some((l) => l.includes('CUSD')));
    h.sim.setRule(NUMBER, { outcome: 'rejected', alertAfterMs: 50, afterMs: 200 });
    const call = await h.modem.dial(REQ);
    await call.done;
    const all = lines.join('\n');
    expect(all).toContain('unhandled URC');
    for (const n of ['4711', '1234', '22855', '4915123456789', '15123456789']) {
      expect(all).not.toContain(n);
    }
  });
});
