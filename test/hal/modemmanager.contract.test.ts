/**
 * The modem contract against ModemManagerModem, with Debian's ModemManager in its test mode on a
 * private D-Bus driving the project's pty modem simulator (test/support/modemmanager.ts). One
 * ModemManager for the file (probing and enabling a modem takes it ~10 s); each test starts a
 * fresh driver on it. The simulator plays a SIMCom modem, the personality ModemManager's simtech
 * plugin follows by +CLCC URCs; see docs/hal.md for what ModemManager cannot carry.
 */
import { writeFileSync } from 'node:fs';
import { afterAll, beforeAll } from 'vitest';
import { ModemManagerModem } from '../../hal/modemmanager/mm-modem.js';
import { systemTimers } from '../../hal/system-timers.js';
import { ModemManagerRig, stopAllModemManagers } from '../support/modemmanager.js';
import { modemContract } from './modem-contract.js';

const rig = new ModemManagerRig({ personality: 'simcom', plugin: 'simtech' });
beforeAll(() => rig.start(), 60_000);
afterAll(async () => {
  // MM_LOG=<file> keeps ModemManager's debug log of the run (it goes with the temp dir otherwise).
  if (process.env.MM_LOG) writeFileSync(process.env.MM_LOG, rig.mmLog);
  await stopAllModemManagers();
});

modemContract(
  'ModemManagerModem via ModemManager in test mode (simtech plugin, SIMCom simulator)',
  async () => {
    rig.sim.rules.clear();
    const modem = new ModemManagerModem({
      config: { busAddress: rig.busAddress, callTimeoutMs: 20_000, rescanMs: 500 },
      timers: systemTimers,
    });
    return {
      modem,
      script: (number, behavior) => rig.sim.setRule(number, behavior),
      advance: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
      dtmfReceived: () => rig.sim.engine.dtmf,
      lineIdle: () => !rig.sim.engine.callUp,
      close: () => modem.stop(),
    };
  },
  {
    unitMs: 250,
    silenceDetectUnits: 40,
    recoveryUnits: 120,
    endCauses: 'none',
    seesSilentModem: false,
  },
);
