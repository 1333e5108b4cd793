import { afterAll } from 'vitest';
import { modemContract } from './modem-contract.js';
import { closeAllPtyHarnesses, makePtyHarness, PTY_CONTRACT_OPTIONS } from './pty-harness.js';

afterAll(closeAllPtyHarnesses);

// Our three dialects; the modems unlike ours are in at-personalities.contract.test.ts.
for (const dialect of ['quectel', 'simcom', 'generic'] as const) {
  modemContract(
    `AtSerialModem over a pty (${dialect})`,
    () => makePtyHarness(dialect),
    PTY_CONTRACT_OPTIONS,
  );
}
