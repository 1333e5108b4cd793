/**
 * Watching a call in progress: a deadline (ring timeout + max duration + grace) guarantees that a
 * modem which never reports the end cannot hang the runner — the one voice line is cleared and the
 * attempt ends as a modem error.
 */
import type { Clock } from '../clock.js';
import type { ActiveCall, CallOutcome } from '../../hal/types.js';

export interface WatchOptions {
  call: ActiveCall;
  clock: Clock;
  /** After this long the call is hung up; after `graceMs` more it is abandoned. */
  limitMs: number;
  graceMs: number;
  answeredAt: () => number | undefined;
  /** The hard way to free the line when the driver lost track of the call. */
  clearLine: () => Promise<void>;
  /**
   * Resolves, with the reason, when the agent stops waiting for this call (a shutdown, or a cancel
   * the modem ignored): the line is cleared at once.
   */
  abandon?: Promise<string>;
}

export async function watchCall(o: WatchOptions): Promise<CallOutcome> {
  const { clock } = o;
  let deadline: unknown = null;
  const hung = new Promise<CallOutcome>((resolve) => {
    deadline = clock.setTimeout(() => {
      void o.call.hangup().catch(() => undefined);
      // Give the driver one more grace period to report the end, then give up on it.
      deadline = clock.setTimeout(() => {
        void o.clearLine().finally(() =>
          resolve({
            result: 'modem_error',
            answered: o.answeredAt() !== undefined,
            answeredAt: o.answeredAt() ?? null,
            endedAt: clock.now(),
            endedBy: 'modem',
            detail: 'call never ended; abandoned after the deadline',
          }),
        );
      }, o.graceMs);
    }, o.limitMs);
  });
  const abandoned = new Promise<CallOutcome>((resolve) => {
    void o.abandon?.then((why) =>
      o.clearLine().finally(() =>
        resolve({
          result: 'modem_error',
          answered: o.answeredAt() !== undefined,
          answeredAt: o.answeredAt() ?? null,
          endedAt: clock.now(),
          endedBy: 'modem',
          detail: why,
        }),
      ),
    );
  });
  try {
    return await Promise.race([o.call.done, hung, abandoned]);
  } finally {
    clock.clearTimeout(deadline);
  }
}
