/**
 * The modem contract, written once and run against every Modem implementation (the simulator
 * in-process with a fake clock, the AT driver over a pty with real time). A harness scripts the
 * callee in the simulator rule format and lets time pass; the suite never looks inside a driver.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { SimBehaviorInput } from '../../hal/simulator/rules.js';
import {
  type CallOutcome,
  type CallStateEvent,
  type Modem,
  ModemError,
  type ModemStatus,
} from '../../hal/types.js';

export interface ModemHarness {
  modem: Modem;
  /** Scripts what happens when `number` is dialled. Durations are in ms. */
  script(number: string, behavior: SimBehaviorInput): void | Promise<void>;
  /** Lets `ms` of (fake or real) time pass. */
  advance(ms: number): Promise<void>;
  /** DTMF digits the simulated line received so far; absent for a driver without DTMF. */
  dtmfReceived?(): string;
  /** Whether the simulated line carries no call (the modem was told to hang up). */
  lineIdle?(): boolean;
  close(): Promise<void>;
}

export interface ModemContractOptions {
  /** One time unit in ms. Fake clocks can use anything; real-time harnesses pick what is reliable. */
  unitMs: number;
  /** How long, in units, a driver may take to notice a silent modem and end the call. */
  silenceDetectUnits: number;
  /** How long, in units, recovery may take before the modem is ready again. */
  recoveryUnits: number;
  /**
   * Which reasons for an unanswered call's end the modem passes on. `all` (default): busy,
   * declined and refused calls are told apart. `busy_only`: a modem that gives no cause in its
   * URCs and free text in +CEER still prints BUSY, but a decline or a refusal can only be
   * `no_carrier` by `network`. `none`: not even busy (ModemManager in test mode sees the released
   * call before the BUSY). The suite then checks for `no_carrier` by `network` — never a guess.
   */
  endCauses?: 'all' | 'busy_only' | 'none';
  /**
   * False for a driver that cannot see the modem itself (ModemManager owns it): it learns of a
   * silent modem only when ModemManager does. The suite then checks that the silent call is still
   * ended, by the driver's own max-duration limit, and that the next call works once the modem
   * answers again.
   */
  seesSilentModem?: boolean;
}

const NUMBER = '+4915123456789';

export function modemContract(
  name: string,
  makeHarness: () => Promise<ModemHarness>,
  opts: ModemContractOptions,
): void {
  const u = (units: number): number => Math.round(units * opts.unitMs);

  describe(`Modem contract: ${name}`, () => {
    let h: ModemHarness;

    beforeEach(async () => {
      h = await makeHarness();
      await h.modem.start();
      await waitFor(() => h.modem.status().state === 'ready', u(20));
    });

    afterEach(async () => {
      await h.close();
    });

    /** Lets time pass in steps until `check` holds; fails after `limitMs` of (harness) time. */
    async function waitFor(check: () => boolean, limitMs: number): Promise<void> {
      const step = Math.max(1, Math.round(opts.unitMs / 4));
      for (let waited = 0; !check(); waited += step) {
        if (waited > limitMs) throw new Error(`condition not met within ${limitMs} ms`);
        await h.advance(step);
      }
    }

    async function settle<T>(p: Promise<T>, limitMs: number): Promise<T> {
      let settled = false;
      const tracked = p.finally(() => (settled = true));
      tracked.catch(() => {});
      await waitFor(() => settled, limitMs);
      return tracked;
    }

    function dialRecorded(ringUnits: number, maxUnits: number) {
      const states: CallStateEvent[] = [];
      const dialing = h.modem.dial(
        { number: NUMBER, ringTimeoutMs: u(ringUnits), maxDurationMs: u(maxUnits) },
        (e) => states.push(e),
      );
      return { states, dialing };
    }

    async function dialAndFinish(ringUnits: number, maxUnits: number, limitUnits = 40) {
      const { states, dialing } = dialRecorded(ringUnits, maxUnits);
      const call = await settle(dialing, u(limitUnits));
      const outcome = await settle(call.done, u(limitUnits));
      return { states, call, outcome };
    }

    function stateNames(states: CallStateEvent[]): string[] {
      return states.map((s) => s.state);
    }

    it('answered call ended by the callee completes with answer time', async () => {
      await h.script(NUMBER, {
        outcome: 'answer',
        alertAfterMs: u(1),
        answerAfterMs: u(3),
        hangupAfterMs: u(4),
      });
      const { states, outcome } = await dialAndFinish(20, 40);
      expect(outcome).toMatchObject({ result: 'completed', answered: true, endedBy: 'remote' });
      expect(outcome.answeredAt).not.toBeNull();
      expect(outcome.endedAt).toBeGreaterThanOrEqual(outcome.answeredAt!);
      expect(stateNames(states)).toEqual(['dialing', 'alerting', 'active', 'ended']);
    });

    it('an answered call outlives the ring timeout (the timeout only applies while ringing)', async () => {
      await h.script(NUMBER, {
        outcome: 'answer',
        alertAfterMs: u(1),
        answerAfterMs: u(2),
        hangupAfterMs: u(10),
      });
      const { outcome } = await dialAndFinish(5, 40);
      expect(outcome).toMatchObject({ result: 'completed', answered: true, endedBy: 'remote' });
      // Well past the 5-unit ring timeout. Not the full 10: a driver that polls for the state
      // notes the answer up to one poll (200 ms over a pty) after it happened.
      expect(outcome.endedAt - outcome.answeredAt!).toBeGreaterThanOrEqual(u(8));
    });

    it('busy line ends busy, never answered', async () => {
      await h.script(NUMBER, { outcome: 'busy', afterMs: u(2) });
      const { states, outcome } = await dialAndFinish(20, 40);
      expect(outcome).toMatchObject({ result: busyResult, answered: false, answeredAt: null });
      expect(stateNames(states).at(-1)).toBe('ended');
    });

    it('callee who never answers ends no_answer at the ring timeout', async () => {
      await h.script(NUMBER, { outcome: 'no_answer', alertAfterMs: u(1) });
      const { states, outcome } = await dialAndFinish(6, 40);
      expect(outcome).toMatchObject({ result: 'no_answer', answered: false, endedBy: 'timeout' });
      expect(stateNames(states)).toEqual(['dialing', 'alerting', 'ended']);
    });

    it('the ring timeout wins over a callee who would answer later', async () => {
      await h.script(NUMBER, { outcome: 'answer', alertAfterMs: u(1), answerAfterMs: u(30) });
      const { outcome } = await dialAndFinish(5, 40);
      expect(outcome).toMatchObject({ result: 'no_answer', answered: false, endedBy: 'timeout' });
    });

    const causes = (opts.endCauses ?? 'all') === 'all';
    const busyKnown = (opts.endCauses ?? 'all') !== 'none';
    const unexplained = { result: 'no_carrier', answered: false, endedBy: 'network' } as const;
    const busyResult = busyKnown ? 'busy' : 'no_carrier';

    it('callee who declines ends rejected', async () => {
      await h.script(NUMBER, { outcome: 'rejected', alertAfterMs: u(1), afterMs: u(3) });
      const { outcome } = await dialAndFinish(20, 40);
      expect(outcome).toMatchObject(causes ? { result: 'rejected', answered: false } : unexplained);
    });

    it('network refusal ends failed', async () => {
      await h.script(NUMBER, { outcome: 'failed', afterMs: u(2), detail: 'unassigned number' });
      const { outcome } = await dialAndFinish(20, 40);
      expect(outcome).toMatchObject(causes ? { result: 'failed', answered: false } : unexplained);
    });

    it('a dial the device refuses rejects with ModemError and leaves the line free', async () => {
      await h.script(NUMBER, { outcome: 'dial_error' });
      const { dialing } = dialRecorded(20, 40);
      const err = await settle(dialing, u(40)).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ModemError);
      expect((err as ModemError).code).toBe('dial_failed');
      expect(h.modem.status().state).toBe('ready');
    });

    it('local hang-up while alerting ends unanswered, by local', async () => {
      await h.script(NUMBER, { outcome: 'no_answer', alertAfterMs: u(1) });
      const { states, dialing } = dialRecorded(30, 40);
      const call = await settle(dialing, u(20));
      await waitFor(() => stateNames(states).includes('alerting'), u(20));
      await settle(call.hangup(), u(20));
      const outcome = await settle(call.done, u(20));
      expect(outcome).toMatchObject({ result: 'no_answer', answered: false, endedBy: 'local' });
    });

    it('local hang-up of an answered call completes, by local', async () => {
      await h.script(NUMBER, { outcome: 'answer', alertAfterMs: u(1), answerAfterMs: u(2) });
      const { states, dialing } = dialRecorded(20, 60);
      const call = await settle(dialing, u(20));
      await waitFor(() => stateNames(states).includes('active'), u(20));
      await settle(call.hangup(), u(20));
      const outcome = await settle(call.done, u(20));
      expect(outcome).toMatchObject({ result: 'completed', answered: true, endedBy: 'local' });
    });

    it('max duration reached hangs up and completes, by timeout', async () => {
      await h.script(NUMBER, { outcome: 'answer', alertAfterMs: u(1), answerAfterMs: u(2) });
      const { outcome } = await dialAndFinish(20, 5);
      expect(outcome).toMatchObject({ result: 'completed', answered: true, endedBy: 'timeout' });
      expect(outcome.endedAt - outcome.answeredAt!).toBeGreaterThanOrEqual(u(5) - 5);
    });

    it('hangupAll ends the call that is up and frees the line', async () => {
      await h.script(NUMBER, { outcome: 'answer', alertAfterMs: u(1), answerAfterMs: u(2) });
      const { states, dialing } = dialRecorded(20, 60);
      const call = await settle(dialing, u(20));
      await waitFor(() => stateNames(states).includes('active'), u(20));
      await settle(h.modem.hangupAll(), u(20));
      const outcome = await settle(call.done, u(20));
      expect(outcome.result).toBe('completed');
      await waitFor(() => h.modem.status().state === 'ready', u(20));
      await h.script(NUMBER, { outcome: 'busy', afterMs: u(1) });
      const again = await dialAndFinish(20, 40);
      expect(again.outcome.result).toBe(busyResult);
    });

    it('hangupAll with no call up is harmless', async () => {
      await settle(h.modem.hangupAll(), u(20));
      expect(h.modem.status().state).toBe('ready');
    });

    it('a second dial while a call is up rejects with busy_line', async () => {
      await h.script(NUMBER, { outcome: 'answer', alertAfterMs: u(1), answerAfterMs: u(2) });
      const first = dialRecorded(20, 60);
      const call = await settle(first.dialing, u(20));
      const second = dialRecorded(20, 60);
      const err = await settle(second.dialing, u(20)).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ModemError);
      expect((err as ModemError).code).toBe('busy_line');
      await settle(call.hangup(), u(20));
      await settle(call.done, u(20));
    });

    const seesSilence = opts.seesSilentModem ?? true;

    // One of the two silence tests, by what the driver can see (never both, never skipped).
    if (!seesSilence)
      it('a modem that goes silent mid-call: the call still ends (max duration), and the next call works', async () => {
        await h.script(NUMBER, {
          outcome: 'answer',
          alertAfterMs: u(1),
          answerAfterMs: u(2),
          silentAfterMs: u(2),
        });
        const { outcome } = await dialAndFinish(20, 16, 60);
        expect(outcome).toMatchObject({ answered: true });
        expect(['completed', 'modem_error']).toContain(outcome.result);
        await waitFor(() => h.modem.status().state === 'ready', u(opts.recoveryUnits));
        await h.script(NUMBER, { outcome: 'no_answer', alertAfterMs: u(1) });
        const next = await dialAndFinish(4, 40);
        expect(next.outcome).toMatchObject({ result: 'no_answer', endedBy: 'timeout' });
      });

    if (seesSilence)
      it('a modem that goes silent mid-call ends the call with modem_error and recovers', async () => {
        const statuses: ModemStatus[] = [];
        const recoveries: string[] = [];
        h.modem.onEvent((e) => {
          if (e.type === 'status') statuses.push(e.status);
          if (e.type === 'recovery') recoveries.push(e.step);
        });
        await h.script(NUMBER, {
          outcome: 'answer',
          alertAfterMs: u(1),
          answerAfterMs: u(2),
          silentAfterMs: u(2),
        });
        const before = h.modem.status().recoveries;
        const limit = 40 + opts.silenceDetectUnits;
        const { outcome } = await dialAndFinish(20, 200, limit);
        expect(outcome).toMatchObject({ result: 'modem_error', answered: true, endedBy: 'modem' });
        await waitFor(
          () => h.modem.status().state === 'ready',
          u(opts.recoveryUnits + opts.silenceDetectUnits),
        );
        expect(h.modem.status().recoveries).toBeGreaterThan(before);
        expect(recoveries.length).toBeGreaterThan(0);
        expect(statuses.some((s) => s.state === 'recovering')).toBe(true);
      });

    it('done resolves exactly once and ended is reported once, whatever happens after', async () => {
      await h.script(NUMBER, {
        outcome: 'answer',
        alertAfterMs: u(1),
        answerAfterMs: u(2),
        hangupAfterMs: u(2),
      });
      const { states, call, outcome } = await dialAndFinish(20, 3);
      await settle(call.hangup(), u(20));
      await settle(h.modem.hangupAll(), u(20));
      await h.advance(u(5));
      expect(await call.done).toBe(outcome);
      expect(stateNames(states).filter((s) => s === 'ended')).toHaveLength(1);
      expect(states.map((s) => s.callId).every((id) => id === call.callId)).toBe(true);
    });

    it('DTMF reaches the line on an answered call; refused before the answer or when invalid', async () => {
      if (!h.dtmfReceived) return; // the driver has no DTMF
      await h.script(NUMBER, { outcome: 'answer', alertAfterMs: u(1), answerAfterMs: u(3) });
      const { states, dialing } = dialRecorded(20, 60);
      const call = await settle(dialing, u(20));
      expect(call.sendDtmf).toBeDefined();
      const early = await settle(call.sendDtmf!('1'), u(20)).catch((e: unknown) => e);
      expect(early).toBeInstanceOf(ModemError);
      expect((early as ModemError).code).toBe('not_ready');
      await waitFor(() => stateNames(states).includes('active'), u(20));
      await settle(call.sendDtmf!('12#*'), u(40));
      await settle(call.sendDtmf!('9a'), u(40));
      const bad = await settle(call.sendDtmf!('1x'), u(20)).catch((e: unknown) => e);
      expect((bad as ModemError).code).toBe('dtmf_failed');
      expect(h.dtmfReceived()).toBe('12#*9A');
      await settle(call.hangup(), u(20));
      const outcome = await settle(call.done, u(20));
      expect(outcome).toMatchObject({ result: 'completed', endedBy: 'local' });
      const late = await settle(call.sendDtmf!('1'), u(20)).catch((e: unknown) => e);
      expect((late as ModemError).code).toBe('not_ready');
    });

    it('stop() during a call ends it modem_error by modem, exactly once', async () => {
      await h.script(NUMBER, { outcome: 'no_answer', alertAfterMs: u(1) });
      const { states, dialing } = dialRecorded(30, 40);
      const call = await settle(dialing, u(20));
      await waitFor(() => stateNames(states).includes('alerting'), u(20));
      await settle(h.modem.stop(), u(20));
      const outcome = await settle(call.done, u(20));
      expect(outcome).toMatchObject({ result: 'modem_error', answered: false, endedBy: 'modem' });
      expect(stateNames(states).filter((s) => s === 'ended')).toHaveLength(1);
      expect(h.modem.status().state).toBe('stopped');
      expect(h.lineIdle?.() ?? true).toBe(true);
    });

    it('call state events also reach onEvent listeners, and status returns to ready', async () => {
      const seen: string[] = [];
      const off = h.modem.onEvent((e) => {
        if (e.type === 'call') seen.push(e.event.state);
      });
      await h.script(NUMBER, { outcome: 'busy', afterMs: u(1) });
      const { outcome } = await dialAndFinish(20, 40);
      off();
      expect(outcome.result).toBe(busyResult);
      expect(seen).toContain('ended');
      await waitFor(() => h.modem.status().state === 'ready', u(20));
    });
  });
}

export type { CallOutcome };
