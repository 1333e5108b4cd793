/**
 * The last line of defence before a number reaches a modem: only "+" and digits (what the agent's
 * dial policy produces — E.164, or the bare digits of an allowed short code). Anything else, a
 * stray "\r" or ";" above all, could turn `ATD<number>;` into a different command (a data call, a
 * second command on the line), so every driver refuses it.
 */
import { ModemError } from './types.js';

const DIAL_STRING = /^\+?[0-9]{2,15}$/;

export function assertDialString(number: string): void {
  if (typeof number !== 'string' || !DIAL_STRING.test(number)) {
    throw new ModemError(
      'refusing to dial: the number must be "+" and 2-15 digits, nothing else',
      'dial_failed',
    );
  }
}
