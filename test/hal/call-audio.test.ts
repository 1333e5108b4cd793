/**
 * Audio around every call (hal/call-audio.ts): route → volume → unmute → announcement → dial, and
 * restore after the call whatever the outcome; an audio failure never stops the call. The modem is
 * the simulator on a fake clock; the audio is the real AlsaAudio driver with an injected command
 * runner that journals each amixer/aplay argv next to the modem's dials (the same journal proves
 * the order). The real ALSA userspace runs in alsa-real.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { FakeClock } from '../../agent/clock.js';
import { AlsaAudio } from '../../hal/alsa/alsa-audio.js';
import type { CommandRunner } from '../../hal/alsa/command-runner.js';
import { AudioRoutedModem, type CallAudioEvent } from '../../hal/call-audio.js';
import { callAudioConfigSchema } from '../../hal/config.js';
import { SimulatorAudio, SimulatorModem } from '../../hal/simulator/index.js';
import type { SimBehaviorInput } from '../../hal/simulator/rules.js';

const NUMBER = '+4915123456789';
const REQ = { number: NUMBER, ringTimeoutMs: 30_000, maxDurationMs: 60_000 };

function rig(opts: { fail?: (argv: string) => boolean; announcement?: string | null } = {}) {
  const clock = new FakeClock();
  const journal: string[] = [];
  const run: CommandRunner = async (cmd, args) => {
    const argv = [cmd, ...args].join(' ');
    journal.push(argv);
    return opts.fail?.(argv)
      ? { code: 1, stdout: '', stderr: 'amixer: Unable to find simple control', timedOut: false }
      : { code: 0, stdout: '', stderr: '', timedOut: false };
  };
  const audio = new AlsaAudio({
    config: {
      card: '1',
      playbackDevice: 'plughw:1,0',
      volumeControl: 'Speaker',
      routes: { call: { Handset: 'on' }, speaker: {}, off: { Handset: 'off' } },
      promptsDir: '/opt/prompts',
      initialVolume: 40,
    },
    run,
  });
  const inner = new SimulatorModem({ timers: clock });
  const policy = callAudioConfigSchema().parse({
    volume: 85,
    announcement: opts.announcement === undefined ? 'chime' : opts.announcement,
  });
  const modem = new AudioRoutedModem({ modem: inner, audio, policy, timers: clock });
  const events: CallAudioEvent[] = [];
  modem.onAudioEvent((e) => events.push(e));
  modem.onEvent((e) => {
    if (e.type === 'call') journal.push(`call ${e.event.state}`);
  });
  return {
    clock,
    journal,
    audio,
    inner,
    modem,
    events,
    script: (b: SimBehaviorInput) => inner.setRule(NUMBER, b),
    async up() {
      await audio.start();
      await modem.start();
      journal.length = 0; // start-up mixer commands are not part of a call
    },
  };
}

const PREPARE = [
  'amixer -c 1 -q sset Handset on',
  'amixer -c 1 -q sset Speaker 85%',
  'amixer -c 1 -q sset Speaker unmute',
];
const RESTORE = [
  'amixer -c 1 -q sset Handset off',
  'amixer -c 1 -q sset Speaker 40%',
  'amixer -c 1 -q sset Speaker unmute',
];

describe('AudioRoutedModem', () => {
  it('routes, sets the volume, unmutes and announces before the dial; restores after the call', async () => {
    const r = rig();
    await r.up();
    r.script({ outcome: 'answer', alertAfterMs: 100, answerAfterMs: 1_000, hangupAfterMs: 5_000 });
    const call = await r.modem.dial(REQ);
    await r.clock.advance(10_000);
    expect((await call.done).result).toBe('completed');
    await r.clock.advance(0);
    expect(r.journal).toEqual([
      ...PREPARE,
      'aplay -q -D plughw:1,0 /opt/prompts/chime.wav',
      'call dialing',
      'call alerting',
      'call active',
      'call ended',
      ...RESTORE,
    ]);
    expect(r.audio.status()).toMatchObject({ route: 'off', volume: 40, muted: false });
    const status = r.modem.callAudioStatus();
    expect(status.lastCall).toMatchObject({ callId: call.callId, announcement: 'chime' });
    expect(status.lastCall!.restoredAt).not.toBeNull();
    expect(r.events).toEqual([{ type: 'audio_restored', callId: call.callId, failures: 0 }]);
  });

  for (const [name, behavior, result] of [
    ['busy', { outcome: 'busy', afterMs: 500 }, 'busy'],
    ['no answer', { outcome: 'no_answer', alertAfterMs: 100 }, 'no_answer'],
    ['modem going silent', { outcome: 'silent', afterMs: 500 }, 'modem_error'],
  ] as const) {
    it(`restores the audio after a call that ended ${name}`, async () => {
      const r = rig({ announcement: null });
      await r.up();
      r.script(behavior);
      const call = await r.modem.dial({ ...REQ, ringTimeoutMs: 3_000 });
      await r.clock.advance(20_000);
      expect((await call.done).result).toBe(result);
      await r.clock.advance(0);
      expect(r.journal.slice(0, 3)).toEqual(PREPARE);
      expect(r.journal.slice(-3)).toEqual(RESTORE);
    });
  }

  it('restores the audio when the dial itself fails, and the error reaches the caller', async () => {
    const r = rig({ announcement: null });
    await r.up();
    r.script({ outcome: 'dial_error', message: 'NO SERVICE' });
    await expect(r.modem.dial(REQ)).rejects.toMatchObject({ code: 'dial_failed' });
    await r.clock.advance(0);
    expect(r.journal).toEqual([...PREPARE, ...RESTORE]);
  });

  it('a failing mixer never stops the call: each failure is recorded and reported', async () => {
    const r = rig({ fail: (argv) => argv.includes('Handset') || argv.includes('aplay') });
    await r.up();
    r.script({ outcome: 'answer', alertAfterMs: 100, answerAfterMs: 500, hangupAfterMs: 1_000 });
    const call = await r.modem.dial(REQ);
    await r.clock.advance(5_000);
    expect((await call.done).result).toBe('completed');
    await r.clock.advance(0);
    const failed = r.events.flatMap((e) => (e.type === 'audio_failed' ? [e] : []));
    expect(failed.map((e) => `${e.failure.phase}/${e.failure.step}`)).toEqual([
      'prepare/route',
      'prepare/announcement',
      'restore/route',
    ]);
    expect(failed[0]!.callId).toBeNull(); // before the dial
    expect(failed[2]!.callId).toBe(call.callId);
    expect(failed[0]!.failure.detail).toMatch(/amixer failed \(1\)/);
    expect(r.modem.callAudioStatus().failures).toEqual({ prepare: 2, restore: 1 });
    expect(r.inner.dials).toHaveLength(1); // the call went out
  });

  it('a booking-level announcement wins over the unit default; null plays none', async () => {
    const r = rig();
    await r.up();
    r.script({ outcome: 'busy', afterMs: 100 });
    let call = await r.modem.dial({ ...REQ, announcement: 'spoken-prompt' });
    await r.clock.advance(1_000);
    await call.done;
    call = await r.modem.dial({ ...REQ, announcement: null });
    await r.clock.advance(1_000);
    await call.done;
    const plays = r.journal.filter((l) => l.startsWith('aplay'));
    expect(plays).toEqual(['aplay -q -D plughw:1,0 /opt/prompts/spoken-prompt.wav']);
  });

  it('the next call waits for the last one to be restored, so the two never interleave', async () => {
    const r = rig({ announcement: null });
    await r.up();
    r.script({ outcome: 'busy', afterMs: 100 });
    const first = await r.modem.dial(REQ);
    await r.clock.advance(200);
    await first.done;
    const second = await r.modem.dial(REQ); // issued as soon as the first one ended
    await r.clock.advance(200);
    await second.done;
    await r.clock.advance(0);
    expect(r.journal).toEqual([
      ...PREPARE,
      'call dialing',
      'call ended',
      ...RESTORE,
      ...PREPARE,
      'call dialing',
      'call ended',
      ...RESTORE,
    ]);
  });

  it('an announcement that overruns its limit is reported and the call goes out anyway', async () => {
    const clock = new FakeClock();
    const audio = new SimulatorAudio({ timers: clock, playDurationMs: 60_000 });
    const inner = new SimulatorModem({ timers: clock });
    inner.setRule(NUMBER, { outcome: 'busy', afterMs: 100 });
    const modem = new AudioRoutedModem({
      modem: inner,
      audio,
      policy: callAudioConfigSchema().parse({ announcement: 'long', announcementTimeoutMs: 5_000 }),
      timers: clock,
    });
    const failures: string[] = [];
    modem.onAudioEvent((e) => e.type === 'audio_failed' && failures.push(e.failure.detail));
    await audio.start();
    await modem.start();
    const dialing = modem.dial(REQ);
    await clock.advance(5_000);
    const call = await dialing;
    expect(inner.dials).toHaveLength(1);
    expect(inner.dials[0]!.at - clock.now()).toBeGreaterThan(-100); // dialled at the 5 s limit
    expect(failures).toEqual(['announcement still playing after 5000 ms; dialling anyway']);
    await clock.advance(1_000);
    expect((await call.done).result).toBe('busy');
  });

  it('passes everything else through to the modem it wraps', async () => {
    const r = rig();
    await r.up();
    expect(r.modem.status()).toEqual(r.inner.status());
    expect(r.modem.inner).toBe(r.inner);
    await r.modem.stop();
    expect(r.inner.status().state).toBe('stopped');
  });

  // Found by the chaos gate: a call that never reports its end (a wedged modem) held every later
  // dial behind its audio restore, for good — the runner cleared the line, and nothing followed.
  it('regression: a wedged call cleared by hangupAll is restored, and the next call goes out', async () => {
    const r = rig({ announcement: null });
    await r.up();
    r.script({ outcome: 'hang' });
    const wedged = await r.modem.dial(REQ);
    await r.modem.hangupAll(); // what the runner does when the call outlives its limit
    await r.clock.advance(10);
    expect(r.journal.filter((l) => l.startsWith('amixer')).slice(-RESTORE.length)).toEqual(RESTORE);
    expect(r.events.some((e) => e.type === 'audio_restored' && e.callId === wedged.callId)).toBe(
      true,
    );
    r.script({ outcome: 'busy', afterMs: 100 });
    const next = await r.modem.dial(REQ);
    await r.clock.advance(200);
    const end = await next.done;
    expect(end.result).toBe('busy');
    expect(r.inner.dials.length).toBe(2);
  });
});
