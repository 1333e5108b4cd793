import { afterAll } from 'vitest';
import { modemContract } from './modem-contract.js';
import { closeAllPtyHarnesses, makePtyHarness } from './pty-harness.js';

afterAll(closeAllPtyHarnesses);

// Real time over a real pty: 1 unit = 100 ms. Silence is noticed by the next AT+CLCC poll
// (200 ms) timing out (400 ms); the simulated modem stays silent 1.5 s before it answers again.
// 150 ms units: a loaded 2-core CI machine must not turn pty latency into a wrong outcome.
const opts = { unitMs: 150, silenceDetectUnits: 12, recoveryUnits: 60 };

for (const dialect of ['quectel', 'simcom', 'generic'] as const) {
  modemContract(`AtSerialModem over a pty (${dialect})`, () => makePtyHarness(dialect), opts);
}
