import { execFile } from 'node:child_process';

export type RecoveryStep = 'reopen' | 'reset' | 'power_cycle';

/** Why the last attempt to bring the modem up failed. */
export type ConnectFailure =
  /** The port could not be opened (USB modem gone or re-enumerating). */
  | 'no_port'
  /** The port opened but the modem did not answer within the command timeout. */
  | 'silent'
  /** The modem answers, but not usefully (ERROR to everything): alive, so never rebooted. */
  | 'unusable';

export interface RecoveryLadderOptions {
  initialMs: number;
  maxMs: number;
  reopenAttemptsBeforeReset: number;
  resetAttemptsBeforePowerCycle: number;
  maxResetsPerEpisode: number;
  maxPowerCyclesPerEpisode: number;
  powerCycleAvailable: boolean;
}

export interface RecoveryPlan {
  step: RecoveryStep;
  delayMs: number;
  /** Every reset and power cycle of this episode is spent: only reopening at maxMs is left. */
  exhausted: boolean;
}

/**
 * Decides the next recovery step and its delay. Reopening is cheap and fixes most USB hiccups, so
 * it comes first; a modem reset (AT+CFUN=1,1) after several failed reopens of a *silent* modem;
 * the power-cycle hook only after resets did not help. A modem that answers anything is only ever
 * reopened and re-initialised, never rebooted. Escalation is bounded per episode and the backoff
 * doubles up to maxMs, so a dead modem is neither hammered nor rebooted forever.
 */
export class RecoveryLadder {
  private attempt = 0;
  private reopensSinceEscalation = 0;
  private resetsSincePowerCycle = 0;
  private resets = 0;
  private powerCycles = 0;

  constructor(private readonly opts: RecoveryLadderOptions) {}

  next(last: ConnectFailure): RecoveryPlan {
    const o = this.opts;
    const delayMs = Math.min(o.maxMs, o.initialMs * 2 ** Math.min(this.attempt, 20));
    this.attempt++;
    const canReset = last === 'silent' && this.resets < o.maxResetsPerEpisode;
    const canCycle = o.powerCycleAvailable && this.powerCycles < o.maxPowerCyclesPerEpisode;
    if (last === 'unusable') return { step: 'reopen', delayMs, exhausted: false };
    const exhausted = !canReset && !canCycle;
    if (this.reopensSinceEscalation < o.reopenAttemptsBeforeReset) {
      this.reopensSinceEscalation++;
      return { step: 'reopen', delayMs, exhausted };
    }
    this.reopensSinceEscalation = 0;
    const cycleDue = this.resetsSincePowerCycle >= o.resetAttemptsBeforePowerCycle || !canReset;
    if (canCycle && cycleDue) {
      this.powerCycles++;
      this.resetsSincePowerCycle = 0;
      return { step: 'power_cycle', delayMs, exhausted: false };
    }
    if (canReset) {
      this.resets++;
      this.resetsSincePowerCycle++;
      return { step: 'reset', delayMs, exhausted: false };
    }
    return { step: 'reopen', delayMs, exhausted: true };
  }

  /** The modem answers again: the next failure starts from the bottom. */
  reset(): void {
    this.attempt = 0;
    this.reopensSinceEscalation = 0;
    this.resetsSincePowerCycle = 0;
    this.resets = 0;
    this.powerCycles = 0;
  }

  get spent(): { resets: number; powerCycles: number } {
    return { resets: this.resets, powerCycles: this.powerCycles };
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
