/**
 * An audio step that fails around a call reaches the cloud as an `audio.failed` outbox event and
 * a metric (agent/call-audio-report.ts); the call itself still goes out. Real SQLite store, the
 * real AlsaAudio driver with a mixer that refuses the route control, the simulator modem.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { reportCallAudio } from '../../agent/call-audio-report.js';
import { FakeClock } from '../../agent/clock.js';
import { DiagnosticsMetrics } from '../../agent/diagnostics/metrics.js';
import { createLogger } from '../../agent/log.js';
import { Store } from '../../agent/store/store.js';
import { AlsaAudio } from '../../hal/alsa/alsa-audio.js';
import type { CommandRunner } from '../../hal/alsa/command-runner.js';
import { AudioRoutedModem } from '../../hal/call-audio.js';
import { callAudioConfigSchema } from '../../hal/config.js';
import { SimulatorModem } from '../../hal/simulator/index.js';
import { LogSink } from '../support/engine.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe('audio failures around a call', () => {
  it('are written to the outbox as audio.failed and counted, and the call still goes out', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'call-audio-report-'));
    dirs.push(dir);
    const clock = new FakeClock();
    const store = Store.open(join(dir, 'companion.db'));
    const refuseRoute: CommandRunner = async (_cmd, args) =>
      args.includes('Handset')
        ? { code: 1, stdout: '', stderr: 'amixer: Unable to find simple control', timedOut: false }
        : { code: 0, stdout: '', stderr: '', timedOut: false };
    const audio = new AlsaAudio({
      config: { routes: { call: { Handset: 'on' }, speaker: {}, off: { Handset: 'off' } } },
      run: refuseRoute,
    });
    const inner = new SimulatorModem({ timers: clock });
    inner.setRule('*', { outcome: 'busy', afterMs: 100 });
    const modem = new AudioRoutedModem({
      modem: inner,
      audio,
      policy: callAudioConfigSchema().parse({}),
      timers: clock,
    });
    const metrics = new DiagnosticsMetrics();
    const sink = new LogSink();
    const off = reportCallAudio({
      source: modem,
      store: () => store,
      clock,
      logger: createLogger({ level: 'info', destination: sink }),
      onFailure: (phase, step) => metrics.audioFailure(phase, step),
    });
    await audio.start();
    await modem.start();
    const call = await modem.dial({
      number: '+4915123456789',
      ringTimeoutMs: 30_000,
      maxDurationMs: 60_000,
    });
    await clock.advance(1_000);
    expect((await call.done).result).toBe('busy');
    await clock.advance(0);
    off();

    const events = store.outbox.pending(100).filter((e) => e.type === 'audio.failed');
    expect(events.map((e) => [e.payload.phase, e.payload.step, e.class])).toEqual([
      ['prepare', 'route', 'critical'],
      ['restore', 'route', 'critical'],
    ]);
    expect(events[0]!.payload).toMatchObject({
      callId: null,
      detail: expect.stringMatching(/amixer failed/),
    });
    expect(events[1]!.payload.callId).toBe(call.callId);
    const text = metrics.registry.text();
    expect(text).toMatch(/companion_audio_failures_total\{phase="prepare",step="route"\} 1/);
    expect(text).toMatch(/companion_audio_failures_total\{phase="restore",step="route"\} 1/);
    expect(inner.dials).toHaveLength(1);
    store.close();
  });
});
