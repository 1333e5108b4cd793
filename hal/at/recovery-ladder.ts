import { execFile } from 'node:child_process';

export type RecoveryStep = 'reopen' | 'reset' | 'power_cycle';

export interface RecoveryLadderOptions {
  initialMs: number;
  maxMs: number;
  reopenAttemptsBeforeReset: number;
  resetAttemptsBeforePowerCycle: number;
  powerCycleAvailable: boolean;
}

/**
 * Decides the next recovery step and its delay. Reopening is cheap and fixes most USB hiccups, so
 * it comes first; a modem reset (AT+CFUN=1,1) after several failed reopens; the power-cycle hook
 * only after resets did not help. Backoff doubles up to maxMs so a dead modem is not hammered.
 */
export class RecoveryLadder {
  private attempt = 0;
  private reopensSinceEscalation = 0;
  private resetsSincePowerCycle = 0;

  constructor(private readonly opts: RecoveryLadderOptions) {}

  next(): { step: RecoveryStep; delayMs: number } {
    const delayMs = Math.min(
      this.opts.maxMs,
      this.opts.initialMs * 2 ** Math.min(this.attempt, 20),
    );
    this.attempt++;
    if (this.reopensSinceEscalation < this.opts.reopenAttemptsBeforeReset) {
      this.reopensSinceEscalation++;
      return { step: 'reopen', delayMs };
    }
    this.reopensSinceEscalation = 0;
    if (
      this.opts.powerCycleAvailable &&
      this.resetsSincePowerCycle >= this.opts.resetAttemptsBeforePowerCycle
    ) {
      this.resetsSincePowerCycle = 0;
      return { step: 'power_cycle', delayMs };
    }
    this.resetsSincePowerCycle++;
    return { step: 'reset', delayMs };
  }

  /** The modem answers again: the next failure starts from the bottom. */
  reset(): void {
    this.attempt = 0;
    this.reopensSinceEscalation = 0;
    this.resetsSincePowerCycle = 0;
  }
}

/** Runs the configured power-cycle hook with a timeout; resolves with a description, never throws. */
export function runPowerCycle(argv: string[], timeoutMs: number): Promise<string> {
  const [cmd, ...args] = argv;
  return new Promise((resolve) => {
    execFile(cmd!, args, { timeout: timeoutMs, killSignal: 'SIGKILL' }, (err) => {
      resolve(err ? `power-cycle hook failed: ${err.message}` : 'power-cycle hook ran');
    });
  });
}
