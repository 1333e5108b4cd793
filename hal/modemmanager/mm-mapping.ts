/**
 * Pure mappings from ModemManager's D-Bus enums (ModemManager-enums.h, MM 1.20) to the HAL's
 * types. Unknown values map to `unknown`, never throw: a newer ModemManager must cost us a
 * reading, not the driver.
 */
import type { CallEnd } from '../call-session.js';
import type { ModemState, Registration, SimState } from '../types.js';

export const MM = 'org.freedesktop.ModemManager1';
export const MM_PATH = '/org/freedesktop/ModemManager1';
export const IFACE = {
  modem: `${MM}.Modem`,
  voice: `${MM}.Modem.Voice`,
  m3gpp: `${MM}.Modem.Modem3gpp`,
  time: `${MM}.Modem.Time`,
  call: `${MM}.Call`,
  sim: `${MM}.Sim`,
  objectManager: 'org.freedesktop.DBus.ObjectManager',
  properties: 'org.freedesktop.DBus.Properties',
} as const;

/** MMModemState */
export const MODEM_STATE = {
  FAILED: -1,
  UNKNOWN: 0,
  INITIALIZING: 1,
  LOCKED: 2,
  DISABLED: 3,
  DISABLING: 4,
  ENABLING: 5,
  ENABLED: 6,
  SEARCHING: 7,
  REGISTERED: 8,
} as const;

/** MMCallState */
export const CALL_STATE = {
  UNKNOWN: 0,
  DIALING: 1,
  RINGING_OUT: 2,
  RINGING_IN: 3,
  ACTIVE: 4,
  HELD: 5,
  WAITING: 6,
  TERMINATED: 7,
} as const;

/** MMCallStateReason */
export const CALL_REASON = {
  UNKNOWN: 0,
  OUTGOING_STARTED: 1,
  INCOMING_NEW: 2,
  ACCEPTED: 3,
  TERMINATED: 4,
  REFUSED_OR_BUSY: 5,
  ERROR: 6,
  AUDIO_SETUP_FAILED: 7,
} as const;

/** MMModemStateFailedReason */
const FAILED_REASONS = [
  'none',
  'unknown',
  'SIM missing',
  'SIM error',
  'unknown capabilities',
  'eSIM without profiles',
];

/** The HAL state for a ModemManager modem state (calls add `in_call` on top). */
export function modemStateOf(
  mmState: number,
  failedReason: number,
): { state: ModemState; reason: string | null } {
  if (mmState === MODEM_STATE.FAILED) {
    return {
      state: 'failed',
      reason: `ModemManager: modem failed (${FAILED_REASONS[failedReason] ?? 'unknown'})`,
    };
  }
  // ModemManager refuses every call but emergency ones until the modem is registered.
  if (mmState >= MODEM_STATE.REGISTERED) return { state: 'ready', reason: null };
  if (mmState >= MODEM_STATE.ENABLED) {
    return {
      state: 'starting',
      reason: 'ModemManager: modem not registered (emergency calls only)',
    };
  }
  const names: Record<number, string> = {
    0: 'unknown',
    1: 'initializing',
    2: 'locked (SIM PIN)',
    3: 'disabled',
    4: 'disabling',
    5: 'enabling',
  };
  return { state: 'starting', reason: `ModemManager: modem ${names[mmState] ?? 'unknown'}` };
}

/** SIM state from the modem's Sim path, UnlockRequired (MMModemLock), state and failed reason. */
export function simStateOf(
  simPath: string | null,
  unlockRequired: number,
  mmState: number,
  failedReason: number,
): SimState {
  if (mmState === MODEM_STATE.FAILED && failedReason === 2) return 'absent';
  if (mmState === MODEM_STATE.FAILED && failedReason === 3) return 'error';
  if (!simPath || simPath === '/') return 'absent';
  if (unlockRequired === 4) return 'puk_required'; // SIM_PUK
  if (unlockRequired === 2 || mmState === MODEM_STATE.LOCKED) return 'pin_required'; // SIM_PIN
  if (unlockRequired === 1) return 'ready'; // NONE
  return 'unknown';
}

/** MMModem3gppRegistrationState */
export function registrationOf(state: number): Registration {
  switch (state) {
    case 0:
      return 'not_registered'; // idle
    case 1:
    case 6: // home, SMS only
    case 9: // home, CSFB not preferred
      return 'home';
    case 2:
      return 'searching';
    case 3:
    case 8: // emergency only
    case 11: // attached for RLOS
      return 'denied';
    case 5:
    case 7:
    case 10:
      return 'roaming';
    default:
      return 'unknown';
  }
}

/**
 * ModemManager reports signal quality as a percentage of the +CSQ range (rssi * 100 / 31); back
 * to the 27.007 dBm figure the rest of the agent uses. Null when MM has no recent reading.
 */
export function signalDbmOf(percent: number, recent: boolean): number | null {
  // 0 % is what ModemManager reports before its first reading (even flagged recent), not a value.
  if (percent <= 0 || !recent) return null;
  const rssi = Math.round((Math.min(100, Math.max(0, percent)) * 31) / 100);
  return -113 + 2 * rssi;
}

/**
 * Modem.Time.GetNetworkTime answers ISO 8601, often with a bare hour offset
 * ("2026-12-01T22:23:53+01"), which Date.parse refuses. Null when unreadable.
 */
export function parseNetworkTime(s: unknown): number | null {
  if (typeof s !== 'string' || s.length === 0) return null;
  const normalized = /[+-]\d{2}$/.test(s) ? `${s}:00` : s;
  const ms = Date.parse(normalized);
  if (Number.isNaN(ms) || ms < Date.UTC(2020, 0, 1)) return null;
  return ms;
}

/**
 * How a call ModemManager terminated on its own ended. MM does not pass the network's cause on:
 * REFUSED_OR_BUSY covers both a busy line and a declined call (reported `busy`), ERROR a refused
 * set-up (`failed`); anything else unanswered is `no_carrier`. An answered call that ends is the
 * far end hanging up.
 */
export function callEndOf(reason: number, answered: boolean): CallEnd {
  if (answered) return { result: 'completed', endedBy: 'remote' };
  if (reason === CALL_REASON.REFUSED_OR_BUSY) {
    return { result: 'busy', endedBy: 'network', detail: 'ModemManager: refused or busy' };
  }
  if (reason === CALL_REASON.ERROR || reason === CALL_REASON.AUDIO_SETUP_FAILED) {
    return { result: 'failed', endedBy: 'network', detail: 'ModemManager: call error' };
  }
  return { result: 'no_carrier', endedBy: 'network' };
}
