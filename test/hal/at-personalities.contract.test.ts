import { afterAll } from 'vitest';
import { PERSONALITIES, PERSONALITY_NAMES } from '../../hal/at/sim/personalities.js';
import { modemContract } from './modem-contract.js';
import { closeAllPtyHarnesses, makePtyHarness, PTY_CONTRACT_OPTIONS } from './pty-harness.js';

afterAll(closeAllPtyHarnesses);

// The modems unlike ours (hal/at/sim/personalities.ts, docs/hal.md): the same contract, so the
// suite checks more than our own assumptions. A separate file from the three dialects so vitest
// runs the two halves in parallel (both are mostly real-time waiting on a pty).
const DIALECTS = new Set(['quectel', 'simcom', 'generic']);
for (const name of PERSONALITY_NAMES.filter((n) => !DIALECTS.has(n))) {
  modemContract(`AtSerialModem over a pty (personality ${name})`, () => makePtyHarness(name), {
    ...PTY_CONTRACT_OPTIONS,
    endCauses: PERSONALITIES[name].ceerText === null ? 'all' : 'busy_only',
  });
}
