import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FakeClock } from '../../agent/clock.js';
import { SimulatorAudio, SimulatorModem } from '../../hal/simulator/index.js';
import { type ModemEvent, ModemError } from '../../hal/types.js';

const REQ = { number: '+4930123456', ringTimeoutMs: 30_000, maxDurationMs: 600_000 };

async function started(opts: Partial<ConstructorParameters<typeof SimulatorModem>[0]> = {}) {
  const clock = new FakeClock();
  const modem = new SimulatorModem({ timers: clock, ...opts });
  await modem.start();
  return { clock, modem };
}

describe('SimulatorModem scripting', () => {
  it('matches exact numbers before the longest prefix before *', async () => {
    const { clock, modem } = await started({
      rules: [
        { number: '*', outcome: 'busy', afterMs: 10 },
        { number: '+49*', outcome: 'no_carrier', afterMs: 10 },
        { number: '+4930*', outcome: 'failed', afterMs: 10 },
      ],
    });
    modem.setRule('+4930123456', { outcome: 'rejected', alertAfterMs: 1, afterMs: 10 });
    const results: string[] = [];
    for (const number of ['+4930123456', '+4930999', '+4940111', '+1555']) {
      const call = await modem.dial({ ...REQ, number });
      await clock.advance(100);
      results.push((await call.done).result);
    }
    expect(results).toEqual(['rejected', 'failed', 'no_carrier', 'busy']);
  });

  it('scriptNext applies to the next dial only, in order', async () => {
    const { clock, modem } = await started({ defaultRule: { outcome: 'busy', afterMs: 5 } });
    modem.scriptNext({ outcome: 'no_carrier', afterMs: 5 });
    modem.scriptNext({ outcome: 'failed', afterMs: 5 });
    const results: string[] = [];
    for (let i = 0; i < 3; i++) {
      const call = await modem.dial(REQ);
      await clock.advance(10);
      results.push((await call.done).result);
    }
    expect(results).toEqual(['no_carrier', 'failed', 'busy']);
  });

  it('rejects invalid rules with a zod error', () => {
    const modem = new SimulatorModem({ timers: new FakeClock() });
    expect(() => modem.setRule('*', { outcome: 'busy', afterMs: -1 })).toThrow();
    expect(() => modem.setRule('*', { outcome: 'nope' } as never)).toThrow();
  });

  it('records every accepted dial and fsyncs it to the dial log before dial resolves', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sim-dial-'));
    const dialLogPath = join(dir, 'dials.jsonl');
    const { clock, modem } = await started({ dialLogPath });
    modem.setRule('*', { outcome: 'busy', afterMs: 5 });
    const call = await modem.dial(REQ);
    const lines = readFileSync(dialLogPath, 'utf8').trim().split('\n');
    expect(lines.map((l) => JSON.parse(l))).toEqual([
      { callId: call.callId, number: REQ.number, at: clock.now() },
    ]);
    expect(modem.dials).toEqual([{ callId: call.callId, number: REQ.number, at: clock.now() }]);
    await clock.advance(10);
    modem.scriptNext({ outcome: 'dial_error' });
    await expect(modem.dial(REQ)).rejects.toBeInstanceOf(ModemError);
    expect(readFileSync(dialLogPath, 'utf8').trim().split('\n')).toHaveLength(1);
  });
});

describe('SimulatorModem status', () => {
  it('refuses to dial without a SIM or before start', async () => {
    const clock = new FakeClock();
    const modem = new SimulatorModem({ timers: clock });
    await expect(modem.dial(REQ)).rejects.toMatchObject({ code: 'not_ready' });
    await modem.start();
    modem.setStatus({ sim: 'absent' });
    await expect(modem.dial(REQ)).rejects.toMatchObject({ code: 'not_ready' });
    await modem.stop();
    await expect(modem.dial(REQ)).rejects.toMatchObject({ code: 'stopped' });
  });

  it('fails calls while not registered', async () => {
    const { clock, modem } = await started();
    modem.setStatus({ registration: 'searching' });
    const call = await modem.dial(REQ);
    await clock.advance(1);
    expect(await call.done).toMatchObject({ result: 'failed', detail: 'no network service' });
  });

  it('emits status and network_time events', async () => {
    const { modem } = await started();
    const events: ModemEvent[] = [];
    modem.onEvent((e) => events.push(e));
    modem.setStatus({ signalDbm: -101, networkTime: { at: 1_700_000_000_000, readAt: 5 } });
    expect(events.map((e) => e.type)).toEqual(['status', 'network_time']);
    expect(modem.status()).toMatchObject({ signalDbm: -101, state: 'ready', sim: 'ready' });
  });

  it('survives a throwing listener', async () => {
    const { clock, modem } = await started();
    modem.onEvent(() => {
      throw new Error('listener bug');
    });
    modem.setRule('*', { outcome: 'busy', afterMs: 1 });
    const call = await modem.dial(REQ, () => {
      throw new Error('onState bug');
    });
    await clock.advance(5);
    expect((await call.done).result).toBe('busy');
  });
});

describe('SimulatorModem failure modes', () => {
  it('hang: dial accepted, no events, done pending; hangupAll frees the line', async () => {
    const { clock, modem } = await started();
    modem.scriptNext({ outcome: 'hang' });
    const states: string[] = [];
    const call = await modem.dial(REQ, (e) => states.push(e.state));
    let settled = false;
    void call.done.then(() => (settled = true));
    await clock.advance(REQ.ringTimeoutMs + REQ.maxDurationMs);
    await call.hangup();
    await clock.advance(1_000);
    expect(settled).toBe(false);
    expect(states).toEqual(['dialing']);
    await expect(modem.dial(REQ)).rejects.toMatchObject({ code: 'busy_line' });
    await modem.hangupAll();
    modem.scriptNext({ outcome: 'busy', afterMs: 1 });
    const next = await modem.dial(REQ);
    await clock.advance(5);
    expect((await next.done).result).toBe('busy');
  });

  it('silent before answer ends modem_error after the detection delay', async () => {
    const { clock, modem } = await started({ silenceDetectMs: 4_000, recoveryMs: 1_000 });
    modem.scriptNext({ outcome: 'silent', afterMs: 100 });
    const call = await modem.dial(REQ);
    await clock.advance(4_100);
    expect(await call.done).toMatchObject({ result: 'modem_error', answered: false });
    expect(modem.status()).toMatchObject({ state: 'recovering', recoveries: 1 });
    await expect(modem.dial(REQ)).rejects.toMatchObject({ code: 'not_ready' });
    await clock.advance(1_000);
    expect(modem.status().state).toBe('ready');
  });

  it('stop ends a call in progress with modem_error', async () => {
    const { modem } = await started();
    const call = await modem.dial(REQ);
    await modem.stop();
    expect(await call.done).toMatchObject({ result: 'modem_error', endedBy: 'modem' });
    expect(modem.status().state).toBe('stopped');
  });

  it('default behaviour answers and the callee hangs up', async () => {
    const { clock, modem } = await started();
    const call = await modem.dial(REQ);
    await clock.advance(15_000);
    expect(await call.done).toMatchObject({ result: 'completed', endedBy: 'remote' });
  });
});

describe('SimulatorAudio', () => {
  it('keeps route, clamped volume, mute and played prompts', async () => {
    const clock = new FakeClock();
    const audio = new SimulatorAudio({ timers: clock, playDurationMs: 500, prompts: ['chime'] });
    await audio.start();
    await audio.setRoute('call');
    await audio.setVolume(140);
    await audio.setMute(true);
    let done = false;
    const playing = audio.play('chime').then(() => (done = true));
    await clock.advance(499);
    expect(done).toBe(false);
    await clock.advance(1);
    await playing;
    await expect(audio.play('unknown')).rejects.toThrow(/unknown prompt/);
    expect(audio.played).toEqual(['chime']);
    expect(audio.status()).toMatchObject({ ok: true, route: 'call', volume: 100, muted: true });
  });
});
