/** Checks of the hardware the configured drivers need: the modem's serial port, the ALSA card. */
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { Config } from '../config/config.js';
import { accessible } from './checks-host.js';
import { fail, ok, skip, type CheckResult, type DoctorEnv } from './types.js';

export function checkSerial(config: Config): CheckResult {
  const name = 'serial device';
  const m = config.hal.modem;
  if (m.driver !== 'at') return skip(name, `modem driver is "${m.driver}"`);
  const path = m.at.path;
  if (!existsSync(path)) {
    return fail(
      name,
      `${path} does not exist`,
      'plug the modem in, or set hal.modem.at.path (prefer a /dev/serial/by-id/... path)',
    );
  }
  if (!statSync(path).isCharacterDevice()) {
    return fail(
      name,
      `${path} is not a character device`,
      "point hal.modem.at.path at the modem's tty",
    );
  }
  if (!accessible(path)) {
    return fail(
      name,
      `${path} is not readable and writable by uid ${process.getuid?.() ?? '?'}`,
      "add the service user to the device's group: adduser companion dialout",
    );
  }
  return ok(name, `${path} present and accessible`);
}

export function checkAudio(config: Config, env: DoctorEnv): CheckResult {
  const name = 'audio device';
  const a = config.hal.audio;
  if (a.driver !== 'alsa') return skip(name, `audio driver is "${a.driver}"`);
  const card = a.alsa.card;
  // /proc/asound/card<N> for an index, /proc/asound/<id> (a symlink) for a card id.
  const procCard = join(env.procDir, 'asound', /^\d+$/.test(card) ? `card${card}` : card);
  if (!existsSync(procCard)) {
    return fail(
      name,
      `ALSA card "${card}" not found (${procCard})`,
      'check `aplay -l` and set hal.audio.alsa.card to a listed card',
    );
  }
  const snd = join(env.devDir, 'snd');
  if (!existsSync(snd) || !accessible(snd)) {
    return fail(
      name,
      `${snd} missing or not accessible`,
      'add the service user to the audio group: adduser companion audio',
    );
  }
  return ok(name, `ALSA card "${card}" present`);
}
