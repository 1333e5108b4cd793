/**
 * How the agent talks to systemd's notify socket.
 *
 * Node has no AF_UNIX datagram sockets, and the npm packages that add them (sd-notify, ...) are
 * native addons linked against libsystemd: one more thing to compile per architecture for every
 * .deb. Instead we run systemd's own `systemd-notify` (always present where systemd is), a few times
 * a minute at most. Since systemd 246 it waits until PID 1 has processed the message (notify
 * barrier), so the short-lived sender is attributed to our unit reliably. A child process is not the
 * main PID, so the unit needs `NotifyAccess=all`.
 *
 * No NOTIFY_SOCKET (not started by systemd, tests, a developer's shell) means no notifier at all.
 */
import { execFile } from 'node:child_process';

export interface Notifier {
  /** Send one state line, e.g. "READY=1", "WATCHDOG=1", "STOPPING=1". Never throws. */
  notify(state: string): Promise<void>;
}

export interface SystemdNotifierOptions {
  /** The binary; overridable for tests and odd images. */
  command?: string;
  env?: NodeJS.ProcessEnv;
  timeoutMs?: number;
  onError?: (state: string, err: Error) => void;
}

export class SystemdNotifier implements Notifier {
  private inFlight = false;

  constructor(private readonly opts: SystemdNotifierOptions = {}) {}

  notify(state: string): Promise<void> {
    // A hung systemd-notify must not pile up children: drop a ping while one is still running.
    if (this.inFlight && state === 'WATCHDOG=1') return Promise.resolve();
    this.inFlight = true;
    return new Promise((resolve) => {
      execFile(
        this.opts.command ?? 'systemd-notify',
        [state],
        { env: this.opts.env ?? process.env, timeout: this.opts.timeoutMs ?? 5000 },
        (err) => {
          this.inFlight = false;
          if (err) this.opts.onError?.(state, err);
          resolve();
        },
      );
    });
  }
}

/** sd_watchdog_enabled(): the ping interval systemd asked for, or null when there is no watchdog. */
export function watchdogUsec(env: NodeJS.ProcessEnv, pid = process.pid): number | null {
  const usec = Number(env.WATCHDOG_USEC);
  if (!Number.isFinite(usec) || usec <= 0) return null;
  // WATCHDOG_PID names the process systemd expects pings from; a child that inherited it is not it.
  if (env.WATCHDOG_PID !== undefined && Number(env.WATCHDOG_PID) !== pid) return null;
  return usec;
}

export function notifierFromEnv(
  env: NodeJS.ProcessEnv,
  onError?: SystemdNotifierOptions['onError'],
): Notifier | null {
  if (!env.NOTIFY_SOCKET) return null;
  return new SystemdNotifier({ env, ...(onError ? { onError } : {}) });
}
