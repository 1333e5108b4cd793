/**
 * Audio around a call with ALSA's real userspace: `amixer` and `aplay` from alsa-utils run for
 * real, against a private PulseAudio null sink through alsa-plugins' `pulse` control and PCM
 * devices (this machine has no sound card, so there is no kernel mixer; the pulse control device
 * is a real ALSA mixer in userspace). The prompt goes through ALSA's `tee` PCM, which plays it to
 * pulse and writes the bytes played to a file. Asserted: the routing sequence and its order
 * around the dial, the mixer state during and after the call, and the bytes played.
 *
 * In process with the real AlsaAudio + AudioRoutedModem and the simulator modem; then the whole
 * agent (the real CLI as a child process, hal.audio.driver "alsa") placing a booked call.
 */
import { execFile } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AlsaAudio } from '../../hal/alsa/alsa-audio.js';
import { type CommandRunner, execCommandRunner } from '../../hal/alsa/command-runner.js';
import { AudioRoutedModem } from '../../hal/call-audio.js';
import { callAudioConfigSchema } from '../../hal/config.js';
import { SimulatorModem } from '../../hal/simulator/index.js';
import { systemTimers } from '../../hal/system-timers.js';
import { assertBuilt, CLI, killAll, startAgentProcess } from '../support/agent-process.js';
import { PulseServer, stopAllPulse } from '../support/pulse.js';

const CALLEE = '+4915123456789';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const run = promisify(execFile);

/** A mono 16-bit 8 kHz WAV of a 880 Hz tone; returns the file and its PCM payload. */
function writeChime(path: string, ms: number): Buffer {
  const rate = 8_000;
  const n = Math.round((rate * ms) / 1000);
  const pcm = Buffer.alloc(n * 2);
  for (let i = 0; i < n; i++) {
    pcm.writeInt16LE(Math.round(8_000 * Math.sin((2 * Math.PI * 880 * i) / rate)), i * 2);
  }
  const h = Buffer.alloc(44);
  h.write('RIFF', 0);
  h.writeUInt32LE(36 + pcm.length, 4);
  h.write('WAVEfmt ', 8);
  h.writeUInt32LE(16, 16);
  h.writeUInt16LE(1, 20); // PCM
  h.writeUInt16LE(1, 22); // mono
  h.writeUInt32LE(rate, 24);
  h.writeUInt32LE(rate * 2, 28);
  h.writeUInt16LE(2, 32);
  h.writeUInt16LE(16, 34);
  h.write('data', 36);
  h.writeUInt32LE(pcm.length, 40);
  writeFileSync(path, Buffer.concat([h, pcm]));
  return pcm;
}

const pulse = new PulseServer();
const dirs: string[] = [];
let promptsDir = '';
let chime: Buffer;

beforeAll(async () => {
  await pulse.start();
  // The drivers run amixer/aplay with the agent's environment: point them at this server.
  Object.assign(process.env, pulse.env);
  promptsDir = mkdtempSync(join(tmpdir(), 'alsa-prompts-'));
  dirs.push(promptsDir);
  chime = writeChime(join(promptsDir, 'chime.wav'), 150);
});

afterAll(async () => {
  await killAll();
  await stopAllPulse();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** The mixer and PCM setup a unit would have, on the pulse devices. */
function alsaConfig(playedFile: string) {
  return {
    mixerDevice: 'pulse',
    volumeControl: 'Master',
    routes: { call: { Capture: 'cap' }, speaker: {}, off: { Capture: 'nocap' } },
    playbackDevice: `tee:SLAVE=pulse,FILE=${playedFile},FORMAT=raw`,
    promptsDir,
    initialVolume: 40,
  };
}

describe('call audio through the real amixer and aplay', () => {
  it('route → volume → unmute → prompt → dial → restore, on a real mixer, with the bytes played', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'alsa-real-'));
    dirs.push(dir);
    const played = join(dir, 'played.raw');
    const journal: string[] = [];
    // The real runner (execFile of the real tools), journalled so the order can be asserted.
    const runner: CommandRunner = async (cmd, args, opts) => {
      const r = await execCommandRunner(cmd, args, opts);
      journal.push(`${cmd} ${args.join(' ')} -> ${r.code}`);
      return r;
    };
    const audio = new AlsaAudio({ config: alsaConfig(played), run: runner });
    const inner = new SimulatorModem({ timers: systemTimers });
    inner.setRule(CALLEE, {
      outcome: 'answer',
      alertAfterMs: 50,
      answerAfterMs: 200,
      hangupAfterMs: 600,
    });
    const modem = new AudioRoutedModem({
      modem: inner,
      audio,
      policy: callAudioConfigSchema().parse({ volume: 85, announcement: 'chime' }),
      timers: systemTimers,
    });
    modem.onEvent((e) => {
      if (e.type === 'call') journal.push(`call ${e.event.state}`);
    });
    await audio.start();
    await modem.start();
    expect(audio.status()).toMatchObject({ ok: true, route: 'off', volume: 40 });
    expect(pulse.mixer('Master').percent).toBe(40);
    expect(pulse.mixer('Capture').on).toBe(false);
    journal.length = 0;

    let during: { master: number; masterOn: boolean; capture: boolean } | null = null;
    const call = await modem.dial({ number: CALLEE, ringTimeoutMs: 5_000, maxDurationMs: 5_000 });
    modem.onEvent((e) => {
      if (e.type === 'call' && e.event.state === 'active') {
        const m = pulse.mixer('Master');
        during = { master: m.percent, masterOn: m.on, capture: pulse.mixer('Capture').on };
      }
    });
    expect((await call.done).result).toBe('completed');
    for (let i = 0; i < 100 && modem.callAudioStatus().lastCall?.restoredAt == null; i++) {
      await sleep(50);
    }

    expect(journal).toEqual([
      'amixer -D pulse -q sset Capture cap -> 0',
      'amixer -D pulse -q sset Master 85% -> 0',
      'amixer -D pulse -q sset Master unmute -> 0',
      `aplay -q -D tee:SLAVE=pulse,FILE=${played},FORMAT=raw ${join(promptsDir, 'chime.wav')} -> 0`,
      'call dialing',
      'call alerting',
      'call active',
      'call ended',
      'amixer -D pulse -q sset Capture nocap -> 0',
      'amixer -D pulse -q sset Master 40% -> 0',
      'amixer -D pulse -q sset Master unmute -> 0',
    ]);
    expect(during).toEqual({ master: 85, masterOn: true, capture: true });
    expect(pulse.mixer('Master')).toEqual({ percent: 40, on: true });
    expect(pulse.mixer('Capture').on).toBe(false);
    // aplay pads the last period with silence: the prompt's PCM, then zeros only.
    const bytes = readFileSync(played);
    expect(bytes.subarray(0, chime.length).equals(chime)).toBe(true);
    expect(bytes.subarray(chime.length).every((b) => b === 0)).toBe(true);
    expect(modem.callAudioStatus().failures).toEqual({ prepare: 0, restore: 0 });
    await modem.stop();
  });

  it('a prompt that is missing fails the announcement step only: the call goes out', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'alsa-real-'));
    dirs.push(dir);
    const audio = new AlsaAudio({ config: alsaConfig(join(dir, 'played.raw')) });
    const inner = new SimulatorModem({ timers: systemTimers });
    inner.setRule(CALLEE, { outcome: 'busy', afterMs: 100 });
    const modem = new AudioRoutedModem({
      modem: inner,
      audio,
      policy: callAudioConfigSchema().parse({ announcement: 'no-such-prompt' }),
      timers: systemTimers,
    });
    const failures: string[] = [];
    modem.onAudioEvent((e) => {
      if (e.type === 'audio_failed') failures.push(`${e.failure.step}: ${e.failure.detail}`);
    });
    await audio.start();
    await modem.start();
    const call = await modem.dial({ number: CALLEE, ringTimeoutMs: 5_000, maxDurationMs: 5_000 });
    expect((await call.done).result).toBe('busy');
    expect(inner.dials).toHaveLength(1);
    expect(failures).toHaveLength(1);
    expect(failures[0]).toMatch(/^announcement: aplay failed \(1\)/);
    await modem.stop();
  });
});

describe('a booked call on the real agent with hal.audio.driver "alsa"', () => {
  beforeAll(() => assertBuilt());

  it('routes, announces, dials, and restores — in that order — and reports it in diagnostics', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'alsa-agent-'));
    dirs.push(dir);
    const played = join(dir, 'played.raw');
    const dialLog = join(dir, 'dials.jsonl');
    // Shims first on PATH journal each amixer/aplay with a timestamp, then exec the real tool.
    const bin = join(dir, 'bin');
    const journal = join(dir, 'audio.log');
    await run('mkdir', ['-p', bin]);
    for (const tool of ['amixer', 'aplay']) {
      const real = (await run('sh', ['-c', `command -v ${tool}`])).stdout.trim();
      writeFileSync(
        join(bin, tool),
        `#!/bin/sh\necho "$(date +%s%3N) ${tool} $*" >> ${journal}\nexec ${real} "$@"\n`,
      );
      chmodSync(join(bin, tool), 0o755);
    }
    const configPath = join(dir, 'config.json');
    writeFileSync(
      configPath,
      JSON.stringify({
        dataDir: join(dir, 'data'),
        clock: { floor: '2020-01-01T00:00:00Z' },
        scheduler: { externalPollSec: 1 },
        dialPolicy: { quietHours: null },
        diagnostics: { port: 0 },
        hal: {
          modem: {
            driver: 'simulator',
            simulator: {
              dialLogPath: dialLog,
              defaultRule: {
                outcome: 'answer',
                alertAfterMs: 100,
                answerAfterMs: 300,
                hangupAfterMs: 700,
              },
            },
          },
          audio: {
            driver: 'alsa',
            alsa: alsaConfig(played),
            call: { volume: 90, announcement: 'chime' },
          },
        },
      }),
    );
    const agent = startAgentProcess(configPath, { PATH: `${bin}:${process.env.PATH}` });
    await agent.ready;
    const booking = join(dir, 'booking.json');
    writeFileSync(
      booking,
      JSON.stringify([
        {
          type: 'booking.upsert',
          commandId: 'cmd-audio',
          booking: {
            id: 'audio-call',
            version: 1,
            callee: CALLEE,
            agentId: 'companion-default',
            schedule: { kind: 'once', at: new Date(Date.now() + 3_000).toISOString() },
          },
        },
      ]),
    );
    const cli = async (...args: string[]) =>
      (await run(process.execPath, [CLI, ...args, '--config', configPath], { timeout: 20_000 }))
        .stdout;
    expect(await cli('apply', booking)).toContain('1 accepted');

    type RunJson = { bookingId: string; status: string };
    let last: RunJson | undefined;
    for (let waited = 0; waited < 30_000; waited += 300) {
      const runs = JSON.parse(await cli('runs', '--json')) as {
        upcoming: RunJson[];
        recent: RunJson[];
      };
      last = [...runs.upcoming, ...runs.recent].find((r) => r.bookingId === 'audio-call');
      if (last?.status === 'completed') break;
      await sleep(300);
    }
    expect(last, agent.output().slice(-3000)).toMatchObject({ status: 'completed' });
    // The restore runs right after the call ends, one amixer at a time; wait for the agent's own
    // word that it finished (diagnostics' lastCall.restoredAt) — not for the first of its commands
    // in the journal, which raced the last one (CI, stop 25: read before "Master unmute").
    const token = readFileSync(join(dir, 'data', 'diagnostics.token'), 'utf8').trim();
    const url = /"url":"(http:\/\/[^"]+)"/.exec(agent.output())![1]!;
    const audioStatus = async () =>
      (await (
        await fetch(`${url}/v1/audio`, { headers: { authorization: `Bearer ${token}` } })
      ).json()) as Record<string, unknown> & { lastCall: { restoredAt: number | null } | null };
    let body = await audioStatus();
    for (let i = 0; i < 200 && body.lastCall?.restoredAt == null; i++) {
      await sleep(50);
      body = await audioStatus();
    }
    expect(body.lastCall?.restoredAt, 'the restore finished').not.toBeNull();

    const lines = readFileSync(journal, 'utf8').trim().split('\n');
    const dialAt = (JSON.parse(readFileSync(dialLog, 'utf8').trim()) as { at: number }).at;
    const entries = lines.map((l) => {
      const [ms, ...rest] = l.split(' ');
      return { at: Number(ms), what: rest.join(' ') };
    });
    // Start-up puts the mixer in its idle state (volume 40, route off) before any call.
    const startup = entries.slice(0, 2).map((e) => e.what);
    expect(startup).toEqual([
      'amixer -D pulse -q sset Master 40%',
      'amixer -D pulse -q sset Capture nocap',
    ]);
    const around = entries.slice(2);
    const before = around.filter((e) => e.at <= dialAt).map((e) => e.what);
    const after = around.filter((e) => e.at > dialAt).map((e) => e.what);
    expect(before).toEqual([
      'amixer -D pulse -q sset Capture cap',
      'amixer -D pulse -q sset Master 90%',
      'amixer -D pulse -q sset Master unmute',
      `aplay -q -D tee:SLAVE=pulse,FILE=${played},FORMAT=raw ${join(promptsDir, 'chime.wav')}`,
    ]);
    expect(after).toEqual([
      'amixer -D pulse -q sset Capture nocap',
      'amixer -D pulse -q sset Master 40%',
      'amixer -D pulse -q sset Master unmute',
    ]);
    expect(pulse.mixer('Master').percent).toBe(40);
    const bytes = readFileSync(played);
    expect(bytes.subarray(0, chime.length).equals(chime)).toBe(true);

    // Diagnostics show the audio and what the last call's audio did.
    expect(body).toMatchObject({
      audio: { driver: 'alsa', ok: true, route: 'off', volume: 40 },
      policy: { volume: 90, announcement: 'chime' },
      failures: { prepare: 0, restore: 0 },
      lastCall: { announcement: 'chime', failures: [] },
    });
    const metrics = await (
      await fetch(`${url}/metrics`, { headers: { authorization: `Bearer ${token}` } })
    ).text();
    expect(metrics).toMatch(/^companion_audio_ok 1$/m);
    agent.child.kill('SIGTERM');
    await agent.exited;
  });
});
