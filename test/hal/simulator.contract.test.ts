import { FakeClock } from '../../agent/clock.js';
import { SimulatorModem } from '../../hal/simulator/index.js';
import { modemContract } from './modem-contract.js';

const UNIT = 1_000;

modemContract(
  'SimulatorModem (fake clock)',
  async () => {
    const clock = new FakeClock();
    const modem = new SimulatorModem({
      timers: clock,
      silenceDetectMs: 5 * UNIT,
      recoveryMs: 3 * UNIT,
    });
    return {
      modem,
      script: (number, behavior) => modem.setRule(number, behavior),
      advance: (ms) => clock.advance(ms),
      dtmfReceived: () => modem.dtmf.map((d) => d.digits).join(''),
      close: () => modem.stop(),
    };
  },
  { unitMs: UNIT, silenceDetectUnits: 5, recoveryUnits: 3 },
);
