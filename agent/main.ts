/**
 * The production entry: builds the real clock, logger, drivers and policy from config and runs the
 * agent until SIGTERM/SIGINT. Everything below this file is built from injected parts.
 */
import { Agent } from './app.js';
import { SystemClock } from './clock.js';
import { createLogger, LogRing, type Logger } from './log.js';
import type { Config } from './config/config.js';
import { createAudio, createModem } from '../hal/factory.js';
import { DialPolicy } from './policy/dial-policy.js';
import { backupsFor, refuseOnFailedUpgrade } from './store/upgrade-guard.js';
import { systemdWatchdog } from './watchdog/index.js';
import { DiagnosticsMetrics, DiagnosticsService } from './diagnostics/index.js';

export interface Runtime {
  agent: Agent;
  logger: Logger;
  diagnostics: DiagnosticsService;
  stop(): Promise<void>;
}

export interface RuntimeOptions {
  /** Recent log lines for GET /v1/logs (the ring the logger tees into). */
  logRing?: LogRing;
}

export async function startRuntime(
  config: Config,
  logger?: Logger,
  opts: RuntimeOptions = {},
): Promise<Runtime> {
  const log = logger ?? createLogger({ level: config.log.level });
  const clock = new SystemClock(config.clock.offsetMs);
  const modem = createModem(config.hal.modem, {
    timers: clock,
    logger: log.child({ component: 'modem' }),
  });
  const audio = createAudio(config.hal.audio, {
    timers: clock,
    logger: log.child({ component: 'audio' }),
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
    openOptions: backups.openOptions,
    observe: metrics.observers(),
  });
  await refuseOnFailedUpgrade(backups, () => agent.start());
  if (backups.lastBackup())
    log.info({ backup: backups.lastBackup() }, 'database backed up, then migrated');
  const diagnostics = new DiagnosticsService({
    config: config.diagnostics,
    dataDir: config.dataDir,
    agent,
    clock,
    logger: log,
    dialGuard,
    metrics,
    logRing: opts.logRing ?? null,
  });
  // Calls matter more than the technician's endpoint: a port in use is logged, not fatal.
  await diagnostics.start().catch((err: unknown) => log.error({ err }, 'diagnostics not started'));
  return {
    agent,
    logger: log,
    diagnostics,
    async stop() {
      await diagnostics.stop();
      await agent.stop();
    },
  };
}

/** Run until a termination signal; resolves with the process exit code. */
export async function runUntilSignal(config: Config): Promise<number> {
  const logRing = new LogRing(config.diagnostics.logBufferLines);
  const logger = createLogger({ level: config.log.level, ring: logRing });
  const rt = await startRuntime(config, logger, { logRing });
  logger.info({ pid: process.pid }, 'ready');
  // READY=1, then WATCHDOG=1 only while the loop and the database are healthy (no-op without systemd).
  const systemd = systemdWatchdog(rt.agent.store, logger);
  await systemd.ready();
  const signal = await new Promise<string>((resolve) => {
    process.once('SIGTERM', () => resolve('SIGTERM'));
    process.once('SIGINT', () => resolve('SIGINT'));
  });
  logger.info({ signal }, 'stopping');
  await systemd.stopping();
  await rt.stop();
  logger.flush();
  return 0;
}
