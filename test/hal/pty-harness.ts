import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AtSerialModem } from '../../hal/at/at-serial-modem.js';
import type { PersonalityName, SimTraits } from '../../hal/at/sim/personalities.js';
import { PtyModemSimulator } from '../../hal/at/sim/pty-modem-simulator.js';
import type { AtModemConfig } from '../../hal/config.js';
import type { HalLogger } from '../../hal/logger.js';
import { systemTimers } from '../../hal/system-timers.js';
import type { ModemHarness } from './modem-contract.js';

/** Driver settings scaled down so real-time pty tests stay short. */
export const FAST_AT_CONFIG: Partial<AtModemConfig> = {
  commandTimeoutMs: 400,
  dialTimeoutMs: 1_000,
  callPollMs: 200,
  callHeartbeatMs: 1_000,
  dialAcceptMs: 250,
  statusPollMs: 60_000,
  reopenBackoff: { initialMs: 100, maxMs: 400 },
  reopenAttemptsBeforeReset: 3,
};

export interface PtyHarness extends ModemHarness {
  sim: PtyModemSimulator;
  modem: AtSerialModem;
}

/**
 * Every simulator (and so every socat child) a test file started, so afterAll can kill the ones a
 * failing test left behind.
 */
const live = new Set<{ sim: PtyModemSimulator; modem: AtSerialModem; dir: string }>();

export async function makePtyHarness(
  personality: PersonalityName | Partial<SimTraits>,
  config: Partial<AtModemConfig> = {},
  logger?: HalLogger,
): Promise<PtyHarness> {
  const dir = mkdtempSync(join(tmpdir(), 'pty-modem-'));
  const sim = new PtyModemSimulator({ link: join(dir, 'modem'), personality, silentForMs: 1_500 });
  const modem = new AtSerialModem({
    config: { ...FAST_AT_CONFIG, path: sim.path, ...config },
    timers: systemTimers,
    ...(logger ? { logger } : {}),
  });
  const entry = { sim, modem, dir };
  live.add(entry);
  await sim.start();
  return {
    sim,
    modem,
    script: (number, behavior) => sim.setRule(number, behavior),
    advance: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
    dtmfReceived: () => sim.engine.dtmf,
    lineIdle: () => !sim.engine.callUp,
    close: () => closeEntry(entry),
  };
}

async function closeEntry(entry: { sim: PtyModemSimulator; modem: AtSerialModem; dir: string }) {
  live.delete(entry);
  await entry.modem.stop().catch(() => {});
  await entry.sim.stop().catch(() => {});
  rmSync(entry.dir, { recursive: true, force: true });
}

export async function closeAllPtyHarnesses(): Promise<void> {
  await Promise.all([...live].map(closeEntry));
}

/**
 * Contract timing over a real pty: 1 unit = 150 ms. Silence is noticed by the next AT+CLCC poll
 * (200 ms; 1 s heartbeat once URCs report the call) timing out (400 ms); the simulated modem
 * stays silent 1.5 s before it answers again. 150 ms, not less: a loaded 2-core CI machine must
 * not turn pty latency into a wrong outcome.
 */
export const PTY_CONTRACT_OPTIONS = { unitMs: 150, silenceDetectUnits: 12, recoveryUnits: 60 };
