/**
 * Hardware checks through the real server and the simulator drivers (hal/simulator implements the
 * optional HAL members): speaker tone, microphone loopback with its level, modem details (masked),
 * modem reset through the recovery path — one at a time, never during a call, "not supported"
 * for a driver without the member, each one an audit row and an outbox event with the name.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SystemClock } from '../../agent/clock.js';
import type { Modem } from '../../hal/types.js';
import { SimulatorModem } from '../../hal/simulator/index.js';
import { clipLevel } from '../../agent/diagnostics/audio-level.js';
import { maskId } from '../../agent/diagnostics/checks.js';
import { GOOD_NUMBER, startDiagnostics, technicianToken, until, type Diag } from './harness.js';

type Json = Record<string, unknown>;
let d: Diag;
const T = technicianToken({ name: 'kai', tid: 'kai-token-000001' });

beforeAll(async () => {
  d = await startDiagnostics();
});
afterAll(async () => {
  await d?.stop();
});

async function runCheck(dx: Diag, kind: string, body: Json = {}, token = T) {
  const r = await dx.request('POST', `/v1/checks/${kind}`, { token, body });
  expect(r.status, JSON.stringify(r.json)).toBe(202);
  const id = (r.json as { check: Json }).check.id as string;
  return until(async () => {
    const c = (await dx.request('GET', `/v1/checks/${id}`, { token })).json as { check: Json };
    return c.check.state === 'running' ? null : c.check;
  }, `${kind} finished`);
}

const actionEvents = (dx: Diag, action: string) =>
  dx.agent.store.outbox
    .recent(100)
    .filter((e) => e.type === 'technician.action' && e.payload.action === action);

describe('audio level', () => {
  const clip = (amp: number) => {
    const data = Buffer.alloc(8000 * 2);
    for (let i = 0; i < 8000; i++) {
      const v = Math.round(Math.sin((2 * Math.PI * 400 * i) / 8000) * amp * 32767);
      data.writeInt16LE(Math.max(-32768, Math.min(32767, v)), i * 2);
    }
    return { format: 'S16_LE' as const, rateHz: 8000, channels: 1, data };
  };
  it('RMS and peak in dBFS, and a verdict', () => {
    // A sine at half scale: peak -6 dBFS, RMS -9 dBFS.
    expect(clipLevel(clip(0.5))).toMatchObject({
      durationMs: 1000,
      peakDbfs: -6,
      rmsDbfs: -9,
      verdict: 'ok',
    });
    expect(clipLevel(clip(0))).toMatchObject({ rmsDbfs: null, verdict: 'silent' });
    expect(clipLevel(clip(0.0005)).verdict).toBe('silent');
    expect(clipLevel(clip(1.2)).verdict).toBe('clipping');
  });
});

describe('hardware checks on the simulator', () => {
  it('speaker test: a tone on the speaker route, route restored, audited with the name', async () => {
    await d.audio.setRoute('off');
    const c = await runCheck(d, 'speaker-test', { frequencyHz: 800, durationMs: 300 });
    expect(c).toMatchObject({
      state: 'done',
      kind: 'speaker-test',
      technician: 'kai',
      result: { frequencyHz: 800, durationMs: 300, route: 'speaker', restoredRoute: 'off' },
    });
    expect(d.audio.tones.at(-1)).toMatchObject({
      frequencyHz: 800,
      durationMs: 300,
      route: 'speaker',
    });
    expect(d.audio.status().route).toBe('off');
    expect(actionEvents(d, 'speaker-test').at(0)?.payload).toMatchObject({
      technician: 'kai',
      tokenId: 'kai-token-000001',
      outcome: 'ok',
      detail: { checkId: c.id, frequencyHz: 800 },
    });
  });

  it('speaker test warns when the unit is muted (nothing would be heard)', async () => {
    await d.audio.setMute(true);
    try {
      const c = await runCheck(d, 'speaker-test', { durationMs: 200 });
      expect((c.result as Json).warnings).toEqual(['audio is muted: nothing will be heard']);
    } finally {
      await d.audio.setMute(false);
    }
  });

  it('microphone loopback: records, plays back, reports the level; silence is called silence', async () => {
    d.audio.setMicrophone({ kind: 'tone', frequencyHz: 300, amplitude: 0.25 });
    const ok = await runCheck(d, 'mic-test', { durationMs: 1000 });
    expect(ok.result).toMatchObject({ verdict: 'ok', playedBack: true, durationMs: 1000 });
    expect((ok.result as { rmsDbfs: number }).rmsDbfs).toBeCloseTo(-15, 0);
    expect(d.audio.clipsPlayed.at(-1)).toMatchObject({ samples: 8000, route: 'speaker' });
    d.audio.setMicrophone({ kind: 'silence' });
    const silent = await runCheck(d, 'mic-test', { durationMs: 1000 });
    expect(silent.result).toMatchObject({ verdict: 'silent', rmsDbfs: null });
    // The recording itself is not kept anywhere the cloud or a later request could read.
    expect(JSON.stringify(actionEvents(d, 'mic-test').map((e) => e.payload))).not.toMatch(/data/);
  });

  it('modem details: identity masked, network facts plain', async () => {
    const c = await runCheck(d, 'modem-details');
    expect(c.result).toMatchObject({
      imei: '35693803•••••09',
      iccid: '894922•••••••••5678',
      imsi: '26201••••••••10',
      sim: 'ready',
      registration: 'home',
      operator: 'Simulated Network',
      operatorCode: '26201',
      signalDbm: -71,
    });
    expect(JSON.stringify(actionEvents(d, 'modem-details'))).not.toContain('356938035643809');
  });

  it('modem reset: through the recovery path, back to ready, with the reason and the name', async () => {
    const before = d.modem.status().recoveries;
    const c = await runCheck(d, 'modem-reset', { reason: 'no registration after SIM swap' });
    expect(c.result).toMatchObject({
      ok: true,
      steps: ['reopen'],
      after: { state: 'ready', recoveries: before + 1 },
    });
    expect(d.modem.resets.at(-1)!.reason).toBe('no registration after SIM swap (by kai)');
    d.modem.scriptReset({
      ok: false,
      steps: ['reopen', 'at_reset', 'power_cycle'],
      detail: 'no answer',
    });
    const bad = await runCheck(d, 'modem-reset');
    expect(bad.result).toMatchObject({ ok: false, after: { state: 'failed' } });
    expect(actionEvents(d, 'modem-reset').map((e) => e.payload.outcome)).toEqual(['failed', 'ok']);
    d.modem.setStatus({ state: 'ready', reason: null });
  });

  it('a driver error fails the check with its message (audited as failed)', async () => {
    d.audio.failNext('playTone', 'ALSA: device busy');
    const c = await runCheck(d, 'speaker-test', { durationMs: 200 });
    expect(c).toMatchObject({ state: 'failed', error: 'ALSA: device busy' });
    expect(actionEvents(d, 'speaker-test')[0]!.payload).toMatchObject({
      outcome: 'failed',
      detail: { error: 'ALSA: device busy' },
    });
  });

  it('one at a time, and never while a call is up (409, audited as refused)', async () => {
    const first = await d.request('POST', '/v1/checks/speaker-test', {
      token: T,
      body: { durationMs: 1500 },
    });
    expect(first.status).toBe(202);
    const second = await d.request('POST', '/v1/checks/mic-test', { token: T, body: {} });
    expect(second.status).toBe(409);
    expect((second.json as Json).message).toMatch(/another check is running \(speaker-test\)/);
    await until(async () => {
      const c = (await d.request('GET', '/v1/checks', { token: T })).json as {
        capabilities: { running: unknown };
      };
      return c.capabilities.running === null;
    }, 'speaker test over');

    d.modem.scriptNext({
      outcome: 'answer',
      alertAfterMs: 10,
      answerAfterMs: 20,
      hangupAfterMs: 1500,
    });
    const call = await d.request('POST', '/v1/test-call', {
      token: T,
      body: { callee: GOOD_NUMBER },
    });
    expect(call.status).toBe(202);
    await until(() => d.modem.status().state === 'in_call', 'call up');
    const tones = d.audio.tones.length;
    const during = await d.request('POST', '/v1/checks/speaker-test', { token: T, body: {} });
    expect(during.status).toBe(409);
    expect((during.json as Json).message).toMatch(/a call is up/);
    expect(d.audio.tones.length).toBe(tones);
    const audit = (await d.request('GET', '/v1/audit', { token: T })).json as { entries: Json[] };
    expect(audit.entries[0]).toMatchObject({
      action: 'speaker-test',
      outcome: 'refused',
      technician: 'kai',
    });
    await until(() => d.agent.runner.busy() === null, 'call over');
  });

  it('a test call reports what the audio path looked like when the callee answered', async () => {
    await d.audio.setRoute('call');
    const call = await d.request('POST', '/v1/test-call', {
      token: T,
      body: { callee: GOOD_NUMBER },
    });
    const runId = (call.json as { run: Json }).run.runId as string;
    const r = await until(async () => {
      const x = (await d.request('GET', `/v1/test-call/${runId}`, { token: T })).json as {
        run: Json;
        audio: Json | null;
      };
      return x.run.status === 'completed' ? x : null;
    }, 'test call completed');
    expect(r.audio).toMatchObject({
      atAnswer: { route: 'call', muted: false },
      verdict: 'audio routed to the call at volume 70 %',
    });
    await d.audio.setRoute('off');
    expect((await d.request('GET', '/v1/test-call/nope', { token: T })).status).toBe(404);
  });
});

describe('a driver without the optional members', () => {
  it('says "not supported by this driver" (501) and the page gets it from /v1/checks', async () => {
    const clock = new SystemClock();
    const sim = new SimulatorModem({ timers: clock });
    // A driver that implements only the required Modem members (like an older driver).
    const bare: Modem = {
      start: () => sim.start(),
      stop: () => sim.stop(),
      dial: (req, on) => sim.dial(req, on),
      hangupAll: () => sim.hangupAll(),
      status: () => ({ ...sim.status(), driver: 'bare' }),
      onEvent: (l) => sim.onEvent(l),
    };
    const x = await startDiagnostics({ modem: bare as SimulatorModem });
    try {
      const caps = (await x.request('GET', '/v1/checks', { token: technicianToken() })).json as {
        capabilities: Record<string, Json>;
      };
      expect(caps.capabilities['modem-reset']).toEqual({
        supported: false,
        detail: 'not supported by this driver (modem bare)',
      });
      expect(caps.capabilities['speaker-test']).toMatchObject({ supported: true });
      const r = await x.request('POST', '/v1/checks/modem-details', {
        token: technicianToken(),
        body: {},
      });
      expect(r.status).toBe(501);
      expect(r.json).toMatchObject({ error: 'not_supported' });
    } finally {
      await x.stop();
    }
  });
});

describe('masking', () => {
  it('keeps only the head and tail of identifiers', () => {
    expect(maskId('356938035643809', 8, 2)).toBe('35693803•••••09');
    expect(maskId('123', 8, 2)).toBe('•••');
    expect(maskId(null, 8, 2)).toBeNull();
  });
});
