import {
  audioConfigSchema,
  type AudioConfigInput,
  modemConfigSchema,
  type ModemConfigInput,
} from './config.js';
import { AlsaAudio } from './alsa/alsa-audio.js';
import { AtSerialModem } from './at/at-serial-modem.js';
import { ModemManagerModem } from './modemmanager/mm-modem.js';
import { type HalLogger, silentLogger } from './logger.js';
import { SimulatorAudio } from './simulator/simulator-audio.js';
import { SimulatorModem } from './simulator/simulator-modem.js';
import type { Audio, HalTimers, Modem } from './types.js';

export interface HalDeps {
  timers: HalTimers;
  logger?: HalLogger;
}

/**
 * The one place that knows which driver class backs each config value (STYLE: a factory picks the
 * driver). Accepts raw or already-parsed config: parsing is idempotent and fills defaults.
 * Constructs only; the caller runs start().
 */
export function createModem(config: ModemConfigInput | undefined, deps: HalDeps): Modem {
  const cfg = modemConfigSchema().parse(config ?? {});
  const logger = deps.logger ?? silentLogger;
  switch (cfg.driver) {
    case 'simulator':
      return new SimulatorModem({
        timers: deps.timers,
        logger,
        rules: cfg.simulator.rules,
        ...(cfg.simulator.defaultRule ? { defaultRule: cfg.simulator.defaultRule } : {}),
        ...(cfg.simulator.dialLogPath ? { dialLogPath: cfg.simulator.dialLogPath } : {}),
        silenceDetectMs: cfg.simulator.silenceDetectMs,
        recoveryMs: cfg.simulator.recoveryMs,
      });
    case 'at':
      return new AtSerialModem({ config: cfg.at, timers: deps.timers, logger });
    case 'modemmanager':
      return new ModemManagerModem({ config: cfg.modemmanager, timers: deps.timers, logger });
  }
}

export function createAudio(config: AudioConfigInput | undefined, deps: HalDeps): Audio {
  const cfg = audioConfigSchema().parse(config ?? {});
  switch (cfg.driver) {
    case 'simulator':
      return new SimulatorAudio({
        timers: deps.timers,
        playDurationMs: cfg.simulator.playDurationMs,
      });
    case 'alsa':
      return new AlsaAudio({ config: cfg.alsa, logger: deps.logger ?? silentLogger });
  }
}
