export { SimulatorModem, type SimulatorModemOptions, type SimIdentity } from './simulator-modem.js';
export {
  SimulatorAudio,
  type SimulatorAudioOptions,
  type SimMicrophone,
} from './simulator-audio.js';
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
