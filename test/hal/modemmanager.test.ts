/**
 * ModemManagerModem beyond the call contract, against Debian's ModemManager in test mode on a
 * private D-Bus (test/support/modemmanager.ts): it enables a modem ModemManager has disabled,
 * reads SIM, registration, signal, operator, network time and details from the modem objects,
 * survives ModemManager crashing mid-call, and starts without ModemManager at all. The enum
 * mappings are checked on their own.
 */
import { afterAll, describe, expect, it } from 'vitest';
import {
  callEndOf,
  modemStateOf,
  parseNetworkTime,
  registrationOf,
  signalDbmOf,
  simStateOf,
} from '../../hal/modemmanager/mm-mapping.js';
import { ModemManagerModem } from '../../hal/modemmanager/mm-modem.js';
import { systemTimers } from '../../hal/system-timers.js';
import type { ModemEvent } from '../../hal/types.js';
import { ModemManagerRig, stopAllModemManagers } from '../support/modemmanager.js';

const NUMBER = '+4915123456789';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
async function until(check: () => boolean, limitMs: number, what = 'condition'): Promise<void> {
  for (let waited = 0; !check(); waited += 50) {
    if (waited > limitMs) throw new Error(`${what} not met within ${limitMs} ms`);
    await sleep(50);
  }
}

afterAll(stopAllModemManagers);

describe('ModemManagerModem against ModemManager in test mode', () => {
  it('enables a disabled modem and reads status, network time and details from the modem objects', async () => {
    const rig = new ModemManagerRig({ personality: 'simcom', plugin: 'simtech', enable: false });
    await rig.start();
    const events: ModemEvent[] = [];
    const modem = new ModemManagerModem({
      config: { busAddress: rig.busAddress, rescanMs: 300 },
      timers: systemTimers,
    });
    modem.onEvent((e) => events.push(e));
    await modem.start();
    await until(() => modem.status().state === 'ready', 30_000, 'ready');
    // ModemManager reads the signal right after registering (0 % until then, reported as null).
    await until(() => modem.status().signalDbm !== null, 15_000, 'a signal reading');
    expect(modem.status()).toMatchObject({
      driver: 'modemmanager',
      sim: 'ready',
      registration: 'home',
      signalDbm: -71, // +CSQ 21 → 67 % in ModemManager → -71 dBm again
      operator: 'Telekom.de',
      recoveries: 0,
    });
    // Read once the modem is registered (Modem.Time.GetNetworkTime), just after it is ready.
    await until(() => modem.status().networkTime !== null, 10_000, 'network time');
    const nt = modem.status().networkTime;
    expect(nt).not.toBeNull();
    expect(Math.abs(nt!.at - nt!.readAt)).toBeLessThan(5_000); // the simulator's clock is ours
    expect(events.some((e) => e.type === 'network_time')).toBe(true);
    expect(await modem.details()).toMatchObject({
      manufacturer: 'SIMCOM INCORPORATED',
      model: 'SIMCOM_SIM7600E-H',
      imei: '861234567890123',
      imsi: '262011234567890',
      operatorCode: '26201',
      operator: 'Telekom.de',
      registration: 'home',
    });
    await modem.stop();
    await rig.stop();
  }, 90_000);

  it('ModemManager crashing mid-call ends the call modem_error; the driver finds the modem again', async () => {
    const rig = new ModemManagerRig({ personality: 'simcom', plugin: 'simtech' });
    await rig.start();
    const steps: string[] = [];
    const modem = new ModemManagerModem({
      config: { busAddress: rig.busAddress, rescanMs: 300 },
      timers: systemTimers,
    });
    modem.onEvent((e) => e.type === 'recovery' && steps.push(e.step));
    await modem.start();
    await until(() => modem.status().state === 'ready', 30_000, 'ready');
    rig.sim.setRule(NUMBER, { outcome: 'answer', alertAfterMs: 100, answerAfterMs: 300 });
    const states: string[] = [];
    const call = await modem.dial(
      { number: NUMBER, ringTimeoutMs: 10_000, maxDurationMs: 60_000 },
      (e) => states.push(e.state),
    );
    await until(() => states.includes('active'), 10_000, 'active');
    rig.killModemManager();
    expect(await call.done).toMatchObject({
      result: 'modem_error',
      endedBy: 'modem',
      answered: true,
    });
    await until(() => modem.status().state === 'recovering', 10_000, 'recovering');
    expect(modem.status().reason).toMatch(/ModemManager left the bus/);
    await expect(
      modem.dial({ number: NUMBER, ringTimeoutMs: 10_000, maxDurationMs: 60_000 }),
    ).rejects.toMatchObject({ code: 'not_ready' });
    await rig.restartModemManager(); // systemd restarts it; it probes and exports the modem again
    await until(() => modem.status().state === 'ready', 60_000, 'ready again');
    expect(steps).toEqual(['rediscover', 'recovered']);
    expect(modem.status().recoveries).toBe(1);
    rig.sim.setRule(NUMBER, { outcome: 'no_answer', alertAfterMs: 100 });
    const next = await modem.dial({ number: NUMBER, ringTimeoutMs: 1_000, maxDurationMs: 60_000 });
    expect(await next.done).toMatchObject({ result: 'no_answer', endedBy: 'timeout' });
    await modem.stop();
    await rig.stop();
  }, 150_000);

  it('starts without ModemManager on the bus: not ready, says why, never throws', async () => {
    const modem = new ModemManagerModem({
      config: { busAddress: 'unix:path=/nonexistent/companion-bus', rescanMs: 200 },
      timers: systemTimers,
    });
    await modem.start();
    expect(modem.status().state).toBe('starting');
    expect(modem.status().reason).toMatch(/ModemManager not reachable/);
    await expect(
      modem.dial({ number: NUMBER, ringTimeoutMs: 1_000, maxDurationMs: 1_000 }),
    ).rejects.toMatchObject({ code: 'not_ready' });
    await sleep(500); // rescans meanwhile, quietly
    await modem.stop();
    expect(modem.status().state).toBe('stopped');
  });
});

describe('ModemManager enum mappings', () => {
  it('modem states: ready only once registered (ModemManager refuses calls before)', () => {
    expect(modemStateOf(8, 0).state).toBe('ready');
    expect(modemStateOf(11, 0).state).toBe('ready'); // connected (data) still places calls
    expect(modemStateOf(6, 0)).toMatchObject({
      state: 'starting',
      reason: expect.stringMatching(/not registered/),
    });
    expect(modemStateOf(3, 0)).toMatchObject({
      state: 'starting',
      reason: expect.stringMatching(/disabled/),
    });
    expect(modemStateOf(-1, 2)).toMatchObject({
      state: 'failed',
      reason: expect.stringMatching(/SIM missing/),
    });
  });

  it('SIM states from the Sim path, lock and failure reason', () => {
    expect(simStateOf('/org/freedesktop/ModemManager1/SIM/0', 1, 8, 0)).toBe('ready');
    expect(simStateOf('/', 1, 8, 0)).toBe('absent');
    expect(simStateOf('/x', 2, 2, 0)).toBe('pin_required');
    expect(simStateOf('/x', 4, 2, 0)).toBe('puk_required');
    expect(simStateOf('/x', 0, -1, 2)).toBe('absent');
    expect(simStateOf('/x', 0, -1, 3)).toBe('error');
  });

  it('registration, signal and network time', () => {
    expect([0, 1, 2, 3, 4, 5, 6, 7, 8, 99].map(registrationOf)).toEqual([
      'not_registered',
      'home',
      'searching',
      'denied',
      'unknown',
      'roaming',
      'home',
      'roaming',
      'denied',
      'unknown',
    ]);
    expect(signalDbmOf(67, true)).toBe(-71);
    expect(signalDbmOf(100, true)).toBe(-51);
    expect(signalDbmOf(0, false)).toBeNull();
    expect(signalDbmOf(0, true)).toBeNull(); // ModemManager's value before its first reading
    expect(signalDbmOf(67, false)).toBeNull();
    expect(parseNetworkTime('2026-12-01T22:23:53+01')).toBe(Date.UTC(2026, 11, 1, 21, 23, 53));
    expect(parseNetworkTime('2026-12-01T22:23:53Z')).toBe(Date.UTC(2026, 11, 1, 22, 23, 53));
    expect(parseNetworkTime('1980-01-06T00:00:00Z')).toBeNull(); // a boot default, not network time
    expect(parseNetworkTime('garbage')).toBeNull();
  });

  it('how a call ModemManager terminated on its own ended', () => {
    expect(callEndOf(0, true)).toEqual({ result: 'completed', endedBy: 'remote' });
    expect(callEndOf(5, false)).toMatchObject({ result: 'busy', endedBy: 'network' });
    expect(callEndOf(6, false)).toMatchObject({ result: 'failed', endedBy: 'network' });
    expect(callEndOf(4, false)).toEqual({ result: 'no_carrier', endedBy: 'network' });
  });
});
