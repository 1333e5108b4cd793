export { SimulatorModem, type SimulatorModemOptions } from './simulator-modem.js';
export { SimulatorAudio, type SimulatorAudioOptions } from './simulator-audio.js';
export {
  simBehaviorSchema,
  simRuleSchema,
  SimRuleBook,
  DEFAULT_SIM_BEHAVIOR,
  type SimBehavior,
  type SimBehaviorInput,
  type SimRule,
  type SimRuleInput,
} from './rules.js';
export { appendDialLog, type DialLogEntry } from './dial-log.js';
