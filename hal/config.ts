import { z } from 'zod';
import { simBehaviorSchema, simRuleSchema } from './simulator/rules.js';

/**
 * HAL configuration. The agent's config loader composes these under `hal: { modem, audio }`;
 * every field has a default so `{}` is a valid config (simulator modem + simulator audio).
 */
const ms = () => z.number().int().nonnegative();

export const simulatorModemConfigSchema = () =>
  z
    .object({
      rules: z.array(simRuleSchema()).default([]),
      defaultRule: simBehaviorSchema().optional(),
      /** Crash tests: every dial is appended + fsynced here before dial() resolves. */
      dialLogPath: z.string().optional(),
      silenceDetectMs: ms().default(10_000),
      recoveryMs: ms().default(2_000),
    })
    .strict();

export const atDialectSchema = () => z.enum(['auto', 'generic', 'quectel', 'simcom']);

export const atModemConfigSchema = () =>
  z
    .object({
      /** A stable path (/dev/serial/by-id/...) so a re-enumerated USB modem is found again. */
      path: z.string().default('/dev/ttyUSB2'),
      baudRate: z.number().int().positive().default(115_200),
      /** `auto` probes ATI and picks quectel/simcom, else generic 27.007. */
      dialect: atDialectSchema().default('auto'),
      /** A command that gets no final response within this time counts as a silent modem. */
      commandTimeoutMs: ms().default(5_000),
      /** ATD can take longer than ordinary commands on some networks. */
      dialTimeoutMs: ms().default(20_000),
      /** AT+CLCC poll period while a call is up and the modem gives no call-state URCs. */
      callPollMs: ms().default(1_000),
      /** Once URCs carry the call state, the poll is only a heartbeat that notices a silent modem. */
      callHeartbeatMs: ms().default(5_000),
      /**
       * How long ATD may go without a result before the dial counts as accepted and held: some modems
       * answer OK only when the callee picks up. An ERROR within this window rejects the dial.
       */
      dialAcceptMs: ms().default(2_000),
      /** Status refresh (signal, registration, operator, time) while idle. */
      statusPollMs: ms().default(60_000),
      reopenBackoff: z
        .object({ initialMs: ms().default(1_000), maxMs: ms().default(30_000) })
        .strict()
        .prefault({}),
      /** Failed reopen attempts before escalating to AT+CFUN=1,1. */
      reopenAttemptsBeforeReset: z.number().int().positive().default(3),
      /** Reset attempts (CFUN=1,1) before the power-cycle hook. */
      resetAttemptsBeforePowerCycle: z.number().int().positive().default(1),
      /**
       * At most this many AT+CFUN=1,1 resets per recovery episode (and never to a modem that answers):
       * after that, and after the power-cycle budget, the driver only reopens the port at maxMs.
       */
      maxResetsPerEpisode: z.number().int().nonnegative().default(2),
      maxPowerCyclesPerEpisode: z.number().int().nonnegative().default(1),
      /** Optional power-cycle hook, argv form (e.g. ["/usr/lib/companion/modem-power", "cycle"]). */
      powerCycleCommand: z.array(z.string()).min(1).nullable().default(null),
      powerCycleTimeoutMs: ms().default(30_000),
      /** Enables the vendor's voice-over-USB PCM (Quectel AT+QPCMV / SIMCom AT+CPCMREG) per call. */
      usbAudio: z.boolean().default(false),
    })
    .strict();

/** hal.modem.modemmanager: for units where ModemManager owns the modem (docs/hal.md). */
export const modemManagerConfigSchema = () =>
  z
    .object({
      /** A D-Bus address ("unix:path=/run/dbus/system_bus_socket"); null = the system bus. */
      busAddress: z.string().min(1).nullable().default(null),
      /** Which modem: null = the first with voice; else a substring of its object path, device or IMEI. */
      modem: z.string().min(1).nullable().default(null),
      /** Enable the modem when ModemManager has it disabled (nothing else on the unit would). */
      enable: z.boolean().default(true),
      /** A D-Bus call without an answer in this time fails (Modem.Enable can take seconds). */
      callTimeoutMs: ms().default(30_000),
      /** How often to look for ModemManager or the modem again while it is missing. */
      rescanMs: ms().default(5_000),
    })
    .strict();

export const modemConfigSchema = () =>
  z
    .object({
      driver: z.enum(['simulator', 'at', 'modemmanager']).default('simulator'),
      simulator: simulatorModemConfigSchema().prefault({}),
      at: atModemConfigSchema().prefault({}),
      modemmanager: modemManagerConfigSchema().prefault({}),
    })
    .strict();

export const alsaAudioConfigSchema = () =>
  z
    .object({
      /** ALSA card for amixer (-c). */
      card: z.string().default('0'),
      /** An ALSA control device for amixer (-D, e.g. "pulse", "hw:1"); overrides `card` when set. */
      mixerDevice: z.string().min(1).optional(),
      /** ALSA PCM device for aplay (-D). */
      playbackDevice: z.string().default('default'),
      volumeControl: z.string().default('Master'),
      /** Mixer control toggled for mute; defaults to the volume control. */
      muteControl: z.string().optional(),
      /** Per route, amixer `sset` assignments applied in order, e.g. { "Headphone": "on" }. */
      routes: z
        .object({
          call: z.record(z.string(), z.string()).default({}),
          speaker: z.record(z.string(), z.string()).default({}),
          off: z.record(z.string(), z.string()).default({}),
        })
        .strict()
        .prefault({}),
      /** Directory holding <name>.wav prompts. */
      promptsDir: z.string().default('/usr/share/companion-agent/prompts'),
      mixerTimeoutMs: ms().default(5_000),
      playTimeoutMs: ms().default(60_000),
      initialVolume: z.number().int().min(0).max(100).default(70),
    })
    .strict();

export const simulatorAudioConfigSchema = () =>
  z
    .object({
      playDurationMs: ms().default(0),
    })
    .strict();

/** Prompt names become file names: no paths, no dots, nothing a shell or a traversal could use. */
export const promptNameSchema = () =>
  z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, 'a prompt name: letters, digits, - and _');

/** What every call does with the audio (hal/call-audio.ts, docs/hal.md "Audio around a call"). */
export const callAudioConfigSchema = () =>
  z
    .object({
      /** Call volume, 0..100, set before the dial; the previous volume is restored after. */
      volume: z.number().int().min(0).max(100).default(80),
      /** Unmute before the dial (and put the mute state back after). */
      unmute: z.boolean().default(true),
      /** A chime or spoken prompt (`<promptsDir>/<name>.wav`) played before the dial; null = none. */
      announcement: promptNameSchema().nullable().default(null),
      /**
       * The dial waits for the announcement at most this long (it plays before the dial, so the call
       * goes out its length later); a prompt that overruns is reported and the call goes out anyway.
       */
      announcementTimeoutMs: ms().default(15_000),
    })
    .strict();

export const audioConfigSchema = () =>
  z
    .object({
      driver: z.enum(['simulator', 'alsa']).default('simulator'),
      call: callAudioConfigSchema().prefault({}),
      simulator: simulatorAudioConfigSchema().prefault({}),
      alsa: alsaAudioConfigSchema().prefault({}),
    })
    .strict();

export const halConfigSchema = () =>
  z
    .object({
      modem: modemConfigSchema().prefault({}),
      audio: audioConfigSchema().prefault({}),
    })
    .strict();

export type ModemConfig = z.output<ReturnType<typeof modemConfigSchema>>;
export type ModemConfigInput = z.input<ReturnType<typeof modemConfigSchema>>;
export type AtModemConfig = z.output<ReturnType<typeof atModemConfigSchema>>;
export type ModemManagerConfig = z.output<ReturnType<typeof modemManagerConfigSchema>>;
export type AudioConfig = z.output<ReturnType<typeof audioConfigSchema>>;
export type AudioConfigInput = z.input<ReturnType<typeof audioConfigSchema>>;
export type AlsaAudioConfig = z.output<ReturnType<typeof alsaAudioConfigSchema>>;
export type CallAudioConfig = z.output<ReturnType<typeof callAudioConfigSchema>>;
export type HalConfig = z.output<ReturnType<typeof halConfigSchema>>;
