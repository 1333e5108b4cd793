/** The HAL's public surface: what agent/main wires. Drivers stay behind the factory. */
export * from './types.js';
export * from './config.js';
export { createModem, createAudio, type HalDeps } from './factory.js';
export { type HalLogger, maskNumber, silentLogger } from './logger.js';
export {
  SimulatorModem,
  SimulatorAudio,
  simBehaviorSchema,
  simRuleSchema,
  type SimBehaviorInput,
  type SimRuleInput,
} from './simulator/index.js';
export { AtSerialModem, type AtSerialModemOptions } from './at/at-serial-modem.js';
export { ModemManagerModem, type ModemManagerModemOptions } from './modemmanager/mm-modem.js';
export { AlsaAudio, type AlsaAudioOptions } from './alsa/alsa-audio.js';
export {
  AudioRoutedModem,
  type AudioRoutedModemOptions,
  type CallAudioEvent,
  type CallAudioFailure,
  type CallAudioStatus,
} from './call-audio.js';
export {
  type CommandRunner,
  type CommandResult,
  execCommandRunner,
} from './alsa/command-runner.js';
