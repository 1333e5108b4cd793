import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { AlsaAudio } from '../../hal/alsa/alsa-audio.js';
import { type CommandRunner, execCommandRunner } from '../../hal/alsa/command-runner.js';

/**
 * The machine has no sound hardware and no alsa-utils (`which aplay amixer` finds nothing), so the
 * driver is tested two ways: with an injected runner that records argv, and with the real
 * execFile runner against stand-in `amixer`/`aplay` scripts put first on PATH.
 */
function recordingRunner(fail: (cmd: string, args: string[]) => boolean = () => false) {
  const calls: { cmd: string; args: string[]; timeoutMs: number }[] = [];
  const run: CommandRunner = async (cmd, args, opts) => {
    calls.push({ cmd, args, timeoutMs: opts.timeoutMs });
    return fail(cmd, args)
      ? { code: 1, stdout: '', stderr: `${cmd}: Unable to find simple control`, timedOut: false }
      : { code: 0, stdout: '', stderr: '', timedOut: false };
  };
  return { calls, run };
}

const CONFIG = {
  card: '1',
  playbackDevice: 'plughw:1,0',
  volumeControl: 'Speaker',
  muteControl: 'Speaker Switch',
  routes: { call: { 'Mic Capture': 'cap', Headset: 'on' }, speaker: { Headset: 'off' }, off: {} },
  promptsDir: '/opt/prompts',
  mixerTimeoutMs: 1_500,
  playTimeoutMs: 9_000,
  initialVolume: 60,
};

describe('AlsaAudio with an injected runner', () => {
  it('drives amixer and aplay with the configured devices and timeouts', async () => {
    const { calls, run } = recordingRunner();
    const audio = new AlsaAudio({ config: CONFIG, run });
    await audio.start();
    await audio.setRoute('call');
    await audio.setVolume(120);
    await audio.setMute(true);
    await audio.play('incoming');
    expect(calls.map((c) => [c.cmd, ...c.args].join(' '))).toEqual([
      'amixer -c 1 -q sset Speaker 60%',
      'amixer -c 1 -q sset Mic Capture cap',
      'amixer -c 1 -q sset Headset on',
      'amixer -c 1 -q sset Speaker 100%',
      'amixer -c 1 -q sset Speaker Switch mute',
      'aplay -q -D plughw:1,0 /opt/prompts/incoming.wav',
    ]);
    expect(calls.filter((c) => c.cmd === 'amixer').every((c) => c.timeoutMs === 1_500)).toBe(true);
    expect(calls.at(-1)!.timeoutMs).toBe(9_000);
    expect(audio.status()).toMatchObject({ ok: true, route: 'call', volume: 100, muted: true });
  });

  it('start reports a missing mixer in status instead of throwing', async () => {
    const { run } = recordingRunner((cmd) => cmd === 'amixer');
    const audio = new AlsaAudio({ config: CONFIG, run });
    await audio.start();
    expect(audio.status()).toMatchObject({ ok: false });
    expect(audio.status().reason).toMatch(/amixer failed \(1\): .*Unable to find simple control/);
    await expect(audio.setMute(true)).rejects.toThrow(/amixer failed/);
  });

  it('refuses prompt names that could escape the prompts directory', async () => {
    const { calls, run } = recordingRunner();
    const audio = new AlsaAudio({ config: CONFIG, run });
    for (const bad of ['../etc/passwd', 'a b', '', 'x.wav', '-D hw:0']) {
      await expect(audio.play(bad)).rejects.toThrow(/invalid prompt name/);
    }
    expect(calls).toHaveLength(0);
  });
});

describe('AlsaAudio with the real execFile runner and stand-in tools on PATH', () => {
  const bin = mkdtempSync(join(tmpdir(), 'alsa-bin-'));
  const log = join(bin, 'argv.log');
  const script = (body: string) => `#!/bin/sh\n${body}\n`;
  writeFileSync(join(bin, 'amixer'), script(`echo "amixer $*" >> ${log}`));
  writeFileSync(
    join(bin, 'aplay'),
    script(
      `echo "aplay $*" >> ${log}\ncase "$*" in *slow*) exec sleep 5;; *missing*) echo "aplay: No such file" >&2; exit 1;; esac`,
    ),
  );
  chmodSync(join(bin, 'amixer'), 0o755);
  chmodSync(join(bin, 'aplay'), 0o755);
  const originalPath = process.env.PATH;
  process.env.PATH = `${bin}:${originalPath}`;
  afterAll(() => {
    process.env.PATH = originalPath;
    rmSync(bin, { recursive: true, force: true });
  });

  it('runs the tools, surfaces their errors, and kills a prompt that overruns its timeout', async () => {
    const audio = new AlsaAudio({ config: { ...CONFIG, playTimeoutMs: 300 } });
    await audio.start();
    await audio.play('chime');
    await expect(audio.play('missing')).rejects.toThrow(/aplay failed \(1\): aplay: No such file/);
    await expect(audio.play('slow')).rejects.toThrow(/aplay timed out/);
    expect(readFileSync(log, 'utf8')).toContain('aplay -q -D plughw:1,0 /opt/prompts/chime.wav');
    expect(audio.status().ok).toBe(true);
  });

  it('reports a program that does not exist without throwing', async () => {
    const r = await execCommandRunner('definitely-not-a-program-xyz', [], { timeoutMs: 1_000 });
    expect(r).toMatchObject({ code: null, timedOut: false });
    expect(r.stderr).toMatch(/ENOENT/);
  });
});
