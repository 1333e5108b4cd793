/**
 * The hardware abstraction layer's contract. Everything here knows about modems and audio and
 * nothing about bookings, runs or the cloud. Drivers (simulator, AT serial, ALSA) implement these
 * interfaces; the agent wires one of each in `agent/main` and talks only to these types.
 */

/** Timers the HAL needs. The agent's Clock satisfies this structurally, so tests drive drivers with a fake clock. */
export interface HalTimers {
  /** Wall-clock epoch milliseconds. */
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export type CallState = 'dialing' | 'alerting' | 'active' | 'ended';

/**
 * How a call ended, from the point of view of the line.
 * - completed: the callee answered and the call ended normally (either side hung up, or max duration reached)
 * - busy / no_answer / rejected / no_carrier: the callee was not reached
 * - failed: the network refused the call for another reason (e.g. invalid number, no service)
 * - modem_error: the modem misbehaved (went silent, port vanished, dial command errored)
 */
export type CallResult =
  'completed' | 'busy' | 'no_answer' | 'rejected' | 'no_carrier' | 'failed' | 'modem_error';

export interface DialRequest {
  /** E.164 number, e.g. +4915123456789. Validated by the agent before it gets here. */
  number: string;
  /** If the callee has not answered after this long, the driver hangs up and ends with `no_answer`. */
  ringTimeoutMs: number;
  /** If an answered call lasts this long, the driver hangs up and ends with `completed` (endedBy `timeout`). */
  maxDurationMs: number;
  /**
   * The prompt played before the dial so the resident knows a call is coming (a name in the
   * prompts directory). Omitted = the unit's `hal.audio.call.announcement`; null = none.
   */
  announcement?: string | null;
}

export interface CallStateEvent {
  callId: string;
  state: CallState;
  /** Epoch ms from the driver's timers. */
  at: number;
}

export interface CallOutcome {
  result: CallResult;
  answered: boolean;
  /** Epoch ms when the callee answered, or null. */
  answeredAt: number | null;
  endedAt: number;
  /** Who ended the call. */
  endedBy: 'remote' | 'local' | 'network' | 'timeout' | 'modem';
  /** Free-text detail for logs and diagnostics (e.g. the modem's CEER text). Never contains the number. */
  detail?: string;
}

export interface ActiveCall {
  readonly callId: string;
  /** Ask the driver to hang up. Resolves when the hang-up was sent; `done` then resolves. */
  hangup(): Promise<void>;
  /** Resolves exactly once when the call has ended, whatever the reason. Never rejects. */
  readonly done: Promise<CallOutcome>;
  /**
   * Sends DTMF tones (0-9, *, #, A-D) on the answered call, one after the other; resolves when
   * the device accepted them all. Rejects with ModemError: `not_ready` when the call is not
   * answered (or has ended), `dtmf_failed` for invalid digits or a device that refused them.
   * Optional: a driver without DTMF leaves it out.
   */
  sendDtmf?(digits: string): Promise<void>;
}

export type SimState = 'ready' | 'pin_required' | 'puk_required' | 'absent' | 'error' | 'unknown';
export type Registration =
  'home' | 'roaming' | 'searching' | 'denied' | 'not_registered' | 'unknown';
export type ModemState = 'starting' | 'ready' | 'in_call' | 'recovering' | 'failed' | 'stopped';

export interface ModemStatus {
  driver: string;
  state: ModemState;
  /** Human-readable reason when state is not ready (e.g. "port /dev/ttyUSB2 vanished"). */
  reason: string | null;
  sim: SimState;
  registration: Registration;
  /** Signal strength in dBm, or null when unknown. */
  signalDbm: number | null;
  operator: string | null;
  /** The network's time (epoch ms) as last read, and when (epoch ms, local clock) it was read. */
  networkTime: { at: number; readAt: number } | null;
  /** How many times the driver had to recover the modem (reopen, reset, power-cycle). */
  recoveries: number;
  model: string | null;
}

export type ModemEvent =
  | { type: 'status'; status: ModemStatus }
  | { type: 'call'; event: CallStateEvent }
  | { type: 'recovery'; step: string; detail: string }
  | { type: 'network_time'; at: number; readAt: number };

/** DTMF digits a modem can send. */
export const DTMF_DIGITS = /^[0-9*#A-D]+$/;

export class ModemError extends Error {
  constructor(
    message: string,
    readonly code:
      'not_ready' | 'busy_line' | 'dial_failed' | 'dtmf_failed' | 'timeout' | 'port' | 'stopped',
  ) {
    super(message);
    this.name = 'ModemError';
  }
}

export interface Modem {
  /** Opens the port / initialises the device. Must not throw for a missing device: report via status. */
  start(): Promise<void>;
  stop(): Promise<void>;
  /**
   * Places a voice call. Resolves once the dial command was accepted by the device (the call is now
   * `dialing`); rejects with ModemError if it could not be issued (not ready, a call already up, dial
   * error). Exactly one call at a time.
   * `onState` receives every state change of this call, including the final `ended`.
   */
  dial(req: DialRequest, onState?: (e: CallStateEvent) => void): Promise<ActiveCall>;
  /** Hangs up whatever call the device has up (used after an agent restart). Never throws. */
  hangupAll(): Promise<void>;
  /** The last known status; cheap, no I/O. */
  status(): ModemStatus;
  /** Subscribe to events; returns an unsubscribe function. */
  onEvent(listener: (e: ModemEvent) => void): () => void;
  /**
   * Fresh identity and registration details for a technician (may do I/O; never while a call is up:
   * rejects with ModemError `busy_line` then). Unmasked: the diagnostics layer masks IMEI/ICCID/IMSI.
   * Optional: a driver without it is reported as "not supported".
   */
  details?(): Promise<ModemDetails>;
  /**
   * A technician-requested reset through the driver's recovery ladder (never a reboot of a modem that
   * answers, unless the ladder gets there). Rejects with ModemError `busy_line` while a call is up.
   */
  reset?(reason: string): Promise<ModemResetReport>;
}

/** What a technician sees of the modem and SIM (issue 15). Null = unknown / not reported. */
export interface ModemDetails {
  manufacturer: string | null;
  model: string | null;
  firmware: string | null;
  imei: string | null;
  iccid: string | null;
  imsi: string | null;
  sim: SimState;
  registration: Registration;
  operator: string | null;
  /** MCC + MNC, e.g. "26201". */
  operatorCode: string | null;
  /** e.g. "lte", "umts", "gsm". */
  accessTechnology: string | null;
  signalDbm: number | null;
  /** 0..100 when the device reports a quality figure. */
  signalQuality: number | null;
}

export interface ModemResetReport {
  ok: boolean;
  /** The recovery steps taken, in order (e.g. ["reopen", "at_reset"]). */
  steps: string[];
  detail: string;
}

export type AudioRoute = 'call' | 'speaker' | 'off';

export interface AudioStatus {
  driver: string;
  ok: boolean;
  reason: string | null;
  route: AudioRoute;
  /** 0..100 */
  volume: number;
  muted: boolean;
}

export interface Audio {
  start(): Promise<void>;
  stop(): Promise<void>;
  setRoute(route: AudioRoute): Promise<void>;
  setVolume(percent: number): Promise<void>;
  setMute(muted: boolean): Promise<void>;
  /** Plays a named prompt/chime (e.g. "incoming", "test-tone"). Resolves when playback finished. */
  play(name: string): Promise<void>;
  status(): AudioStatus;
  /** Plays a sine tone on the current route (speaker test). Optional. */
  playTone?(tone: { frequencyHz: number; durationMs: number }): Promise<void>;
  /** Records from the microphone for `durationMs` (microphone loopback test). Optional. */
  record?(durationMs: number): Promise<AudioClip>;
  /** Plays back a recorded clip on the current route. Optional (with `record`). */
  playClip?(clip: AudioClip): Promise<void>;
}

/** Raw PCM as recorded: signed 16-bit little-endian, interleaved. */
export interface AudioClip {
  format: 'S16_LE';
  rateHz: number;
  channels: number;
  data: Buffer;
}
