import { describe, expect, it } from 'vitest';
import { FakeClock } from '../../agent/clock.js';
import {
  createAudio,
  createModem,
  halConfigSchema,
  maskNumber,
  modemConfigSchema,
  SimulatorAudio,
  SimulatorModem,
} from '../../hal/index.js';

describe('HAL config', () => {
  it('defaults to the simulator drivers', () => {
    const cfg = halConfigSchema().parse({});
    expect(cfg.modem.driver).toBe('simulator');
    expect(cfg.audio.driver).toBe('simulator');
    expect(cfg.modem.at.reopenBackoff).toEqual({ initialMs: 1_000, maxMs: 30_000 });
  });

  it('reports every invalid field at once with its path', () => {
    const r = modemConfigSchema().safeParse({
      driver: 'carrier-pigeon',
      at: { baudRate: -1, dialect: 'nokia' },
      simulator: { rules: [{ number: '*', outcome: 'busy', afterMs: 'soon' }] },
    });
    expect(r.success).toBe(false);
    const paths = r.error!.issues.map((i) => i.path.join('.'));
    expect(paths).toEqual(
      expect.arrayContaining(['driver', 'at.baudRate', 'at.dialect', 'simulator.rules.0.afterMs']),
    );
  });
});

describe('HAL factory', () => {
  it('builds the simulator modem from config, rules included', async () => {
    const clock = new FakeClock();
    const modem = createModem(
      { simulator: { rules: [{ number: '+4930*', outcome: 'busy', afterMs: 10 }] } },
      { timers: clock },
    );
    expect(modem).toBeInstanceOf(SimulatorModem);
    await modem.start();
    const call = await modem.dial({
      number: '+4930111',
      ringTimeoutMs: 1_000,
      maxDurationMs: 1_000,
    });
    await clock.advance(10);
    expect((await call.done).result).toBe('busy');
  });

  it('builds the simulator audio by default', () => {
    expect(createAudio(undefined, { timers: new FakeClock() })).toBeInstanceOf(SimulatorAudio);
  });
});

describe('maskNumber', () => {
  it('keeps only the last two digits', () => {
    expect(maskNumber('+4915123456789')).toBe('************89');
    expect(maskNumber('12')).toBe('**');
  });
});

describe('HAL factory: AT driver', () => {
  it('builds an AtSerialModem that reports a missing port through status, not by throwing', async () => {
    const { AtSerialModem } = await import('../../hal/at/at-serial-modem.js');
    const clock = new FakeClock();
    const modem = createModem(
      { driver: 'at', at: { path: '/nonexistent/ttyUSB9' } },
      { timers: clock },
    );
    expect(modem).toBeInstanceOf(AtSerialModem);
    await modem.start();
    expect(modem.status()).toMatchObject({ driver: 'at', state: 'recovering' });
    await modem.stop();
    expect(modem.status().state).toBe('stopped');
  });
});

describe('HAL factory: ALSA driver', () => {
  it('builds AlsaAudio from config', async () => {
    const { AlsaAudio } = await import('../../hal/alsa/alsa-audio.js');
    const audio = createAudio({ driver: 'alsa', alsa: { card: '2' } }, { timers: new FakeClock() });
    expect(audio).toBeInstanceOf(AlsaAudio);
    expect(audio.status()).toMatchObject({ driver: 'alsa', ok: false, reason: 'not started' });
  });
});
