/**
 * The production watchdog: systemd's notify socket when present, otherwise nothing at all (a
 * developer's shell, tests, a container). Wired once in agent/main.ts.
 */
import type { Logger } from '../log.js';
import type { Store } from '../store/store.js';
import { databaseAnswers } from './db-probe.js';
import { notifierFromEnv, watchdogUsec, type Notifier } from './notifier.js';
import { Watchdog } from './watchdog.js';

export { Watchdog, type WatchdogEvent, type WatchdogOptions } from './watchdog.js';
export { SystemdNotifier, notifierFromEnv, watchdogUsec, type Notifier } from './notifier.js';
export { databaseAnswers } from './db-probe.js';

export interface SystemdHandle {
  ready(): Promise<void>;
  stopping(): Promise<void>;
  /** The unit's status line (`systemctl status`, `systemctl show -p StatusText`), sent in order. */
  status(text: string): Promise<void>;
}

const NOOP: SystemdHandle = {
  ready: async () => {},
  stopping: async () => {},
  status: async () => {},
};

/**
 * Status lines in the order they were set: each goes out through its own systemd-notify child, and
 * two children racing could leave systemd showing the older line.
 */
function orderedStatus(notifier: Notifier): (text: string) => Promise<void> {
  let last: Promise<void> = Promise.resolve();
  return (text) => (last = last.then(() => notifier.notify(`STATUS=${text}`)));
}

export function systemdWatchdog(
  store: Store,
  logger: Logger,
  env: NodeJS.ProcessEnv = process.env,
): SystemdHandle {
  const log = logger.child({ component: 'watchdog' });
  const notifier = notifierFromEnv(env, (state, err) =>
    log.warn({ state, err: err.message }, 'systemd-notify failed'),
  );
  if (!notifier) return NOOP;
  const usec = watchdogUsec(env);
  if (usec === null) {
    // Type=notify without WatchdogSec: READY/STOPPING still matter.
    return {
      ready: () => notifier.notify('READY=1'),
      stopping: () => notifier.notify('STOPPING=1'),
      status: orderedStatus(notifier),
    };
  }
  const intervalMs = Math.max(1000, Math.floor(usec / 1000 / 2));
  log.info({ intervalMs }, 'systemd watchdog enabled');
  const watchdog = new Watchdog({
    notifier,
    intervalMs,
    databaseAnswers: databaseAnswers(store),
    onEvent: (e) => {
      if (e.kind !== 'ping') log.warn(e, 'withholding watchdog ping: agent unhealthy');
    },
  });
  return {
    ready: () => watchdog.ready(),
    stopping: () => watchdog.stopping(),
    status: orderedStatus(notifier),
  };
}
