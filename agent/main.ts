/**
 * The production entry: builds the real clock, logger, drivers and policy from config and runs the
 * agent until SIGTERM/SIGINT. Everything below this file is built from injected parts.
 */
import { Agent } from './app.js';
import { READY_STATUS_LINE, restartHoldStatusLine, type RestartHoldState } from './restart-hold.js';
import { processMemoryReducer } from './memory-reducer.js';
import { SystemClock } from './clock.js';
import { createLogger, LogRing, type Logger } from './log.js';
import type { Config } from './config/config.js';
import { createAudio, createModem } from '../hal/factory.js';
import { AudioRoutedModem } from '../hal/call-audio.js';
import { reportCallAudio } from './call-audio-report.js';
import { DialPolicy } from './policy/dial-policy.js';
import { backupsFor, refuseOnFailedUpgrade } from './store/upgrade-guard.js';
import { systemdWatchdog } from './watchdog/index.js';
import { DiagnosticsMetrics, DiagnosticsService } from './diagnostics/index.js';
import type { SyncLink } from '../sync/link/link.js';
import { requestSnapshotWhenNeeded } from './storage-sync.js';
import { missingNodeFlags } from './node-flags.js';

export interface Runtime {
  agent: Agent;
  logger: Logger;
  diagnostics: DiagnosticsService;
  link: SyncLink | null;
  stop(): Promise<void>;
}

export interface RuntimeOptions {
  /** Recent log lines for GET /v1/logs (the ring the logger tees into). */
  logRing?: LogRing;
  /** A restart's hold changed (SIGUSR2: agent/restart-hold.ts). */
  onRestartHold?: (s: RestartHoldState) => void;
}

export async function startRuntime(
  config: Config,
  logger?: Logger,
  opts: RuntimeOptions = {},
): Promise<Runtime> {
  const log = logger ?? createLogger({ level: config.log.level, format: config.log.format });
  const clock = new SystemClock(config.clock.offsetMs);
  const audio = createAudio(config.hal.audio, {
    timers: clock,
    logger: log.child({ component: 'audio' }),
  });
  // Every call routes, sets and restores the audio around itself (issue 12, docs/hal.md).
  const modem = new AudioRoutedModem({
    modem: createModem(config.hal.modem, {
      timers: clock,
      logger: log.child({ component: 'modem' }),
    }),
    audio,
    policy: config.hal.audio.call,
    timers: clock,
    logger: log.child({ component: 'call-audio' }),
  });
  // Back the store up before any migration; a failed upgrade refuses to start, naming the backup.
  const backups = backupsFor(config.dataDir, config.backups.keep);
  const metrics = new DiagnosticsMetrics();
  const dialGuard = new DialPolicy(config.dialPolicy);
  const agent = new Agent({
    config,
    clock,
    logger: log,
    modem,
    audio,
    dialGuard,
    openOptions: {
      ...backups.openOptions,
      // A corrupt file is moved aside and replaced (a failed migration still refuses to start).
      recoverCorruption: true,
      now: () => clock.now(),
      ...(config.storage.maxPageCount > 0 ? { maxPageCount: config.storage.maxPageCount } : {}),
    },
    observe: metrics.observers(),
    callAudio: () => modem.callAudioStatus(),
    ...(opts.onRestartHold ? { onRestartHold: opts.onRestartHold } : {}),
  });
  await refuseOnFailedUpgrade(backups, () => agent.start());
  const offCallAudio = reportCallAudio({
    source: modem,
    store: () => agent.store,
    clock,
    logger: log,
    onFailure: (phase, step) => metrics.audioFailure(phase, step),
  });
  if (backups.lastBackup())
    log.info({ backup: backups.lastBackup() }, 'database backed up, then migrated');
  // technician access (issue 15): one revocation list for the control handler and diagnostics;
  // the diagnostics TLS fingerprint goes out in the heartbeat's health.
  const revocations = agent.revocations;
  const tech: TechnicianHooks = { tls: () => diagnostics.tlsIdentity() };
  const link = config.mqtt.enabled ? await startLink(config, agent, clock, log, tech) : null;
  const diagnostics = new DiagnosticsService({
    config: config.diagnostics,
    dataDir: config.dataDir,
    agent,
    audio,
    revocations,
    clock,
    logger: log,
    dialGuard,
    metrics,
    logRing: opts.logRing ?? null,
    link: link && {
      state: () => link.state(),
      connection: () => link.connection(),
      requestResync: () => link.requestSync('resync'),
    },
  });
  // Calls matter more than the technician's endpoint: a port in use is logged, not fatal.
  await diagnostics.start().catch((err: unknown) => log.error({ err }, 'diagnostics not started'));
  return {
    agent,
    logger: log,
    diagnostics,
    link,
    async stop() {
      await diagnostics.stop();
      await link?.stop();
      await agent.stop();
      offCallAudio();
    },
  };
}

/** technician access (issue 15): what the link needs from it. */
interface TechnicianHooks {
  tls: () => unknown;
}

/**
 * The cloud link: commands in through the agent's one apply path, outbox events out. Firing never
 * waits on it (rule 7): the link starts after the agent and reconnects on its own.
 */
async function startLink(
  config: Config,
  agent: Agent,
  clock: SystemClock,
  log: Logger,
  tech: TechnicianHooks,
): Promise<SyncLink> {
  // mqtt.js is loaded only when the link is on: a unit provisioned offline does not carry it in memory.
  const { SyncLink } = await import('../sync/link/link.js');
  const { store } = agent;
  const sink = agent.sync;
  const link = new SyncLink({
    unitId: config.unitId,
    config: config.mqtt,
    sink,
    outbox: store.outbox,
    meta: store.meta,
    clock,
    // Sent marks commit crash-safe but unflushed (synchronous=NORMAL): one a power cut loses only
    // means that row is sent again and the cloud de-duplicates it; a FULL flush per PUBACK batch
    // sat in every round trip (sync_roundtrip_p50 1.46 → 1.23 ms, issue 14).
    transaction: (fn) => store.txLight(fn),
    health: () => ({
      clockTrusted: agent.clockState()?.trusted ?? null,
      modem: agent.modem.status().state,
      nextCallAt: store.bookings.nextSlotAt(),
      diagnosticsTls: tech.tls(), // technician access (issue 15): the certificate to pin
    }),
    log: log.child({ component: 'sync' }),
  });
  // Every committed outbox write is drained at once (not on a poll), so results reach the cloud fast.
  store.onOutboxCommit(() => link.kick());
  requestSnapshotWhenNeeded(store, link);
  // A link that cannot start (a key that will not load, a TLS file missing) is loud, never silent.
  void link.start().catch((err: unknown) => log.error({ err }, 'MQTT link failed to start'));
  return link;
}

/** Run until a termination signal; resolves with the process exit code. */
export async function runUntilSignal(config: Config): Promise<number> {
  const logRing = new LogRing(config.diagnostics.logBufferLines);
  const logger = createLogger({
    level: config.log.level,
    format: config.log.format,
    ring: logRing,
  });
  const missing = missingNodeFlags();
  if (missing.length > 0)
    logger.warn(
      { missing },
      'started without the node flags the memory budget relies on (use the companion-agent command or npm start)',
    );
  // SIGUSR2 (a restart is coming: agent/restart-hold.ts) is caught from the start: Node's default
  // would kill the agent; one that arrives while it starts is carried out once it runs.
  let restartRequestedEarly = false;
  let onRestartRequest: () => void = () => {
    restartRequestedEarly = true;
  };
  process.on('SIGUSR2', () => onRestartRequest());
  let announce: (s: RestartHoldState) => void = () => {};
  const rt = await startRuntime(config, logger, { logRing, onRestartHold: (s) => announce(s) });
  logger.info({ pid: process.pid }, 'ready');
  // READY=1, then WATCHDOG=1 only while the loop and the database are healthy (no-op without systemd).
  const systemd = systemdWatchdog(rt.agent.store, logger);
  await systemd.ready();
  // An upgrade asks before it restarts the agent (packaging/debian/postinst): the call in progress
  // ends by itself, no other starts, and the systemd status line says when (agent/restart-hold.ts).
  // A status line of its own from the start: postinst reads it to know when a restart may come,
  // so no line of a previous process may ever be taken for this one's.
  void systemd.status(READY_STATUS_LINE);
  announce = (s) => void systemd.status(restartHoldStatusLine(s));
  onRestartRequest = () => {
    if (rt.agent.restartHold() === null) return; // already stopping
    logger.info('SIGUSR2: a restart is coming');
    rt.agent.requestRestart();
  };
  if (restartRequestedEarly) onRestartRequest();
  // The heap a burst grew is given back once the agent is quiet (agent/memory-reducer.ts).
  const reducer = processMemoryReducer(new SystemClock(), logger.child({ component: 'memory' }));
  reducer?.start();
  const signal = await new Promise<string>((resolve) => {
    process.once('SIGTERM', () => resolve('SIGTERM'));
    process.once('SIGINT', () => resolve('SIGINT'));
  });
  logger.info({ signal }, 'stopping');
  onRestartRequest = () => undefined; // stopping anyway
  reducer?.stop();
  await systemd.stopping();
  await rt.stop();
  logger.flush();
  return 0;
}
