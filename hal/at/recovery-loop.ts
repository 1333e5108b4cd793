import type { AtModemConfig } from '../config.js';
import type { HalLogger } from '../logger.js';
import type { HalTimers, ModemEvent, ModemState } from '../types.js';
import { AtChannel } from './at-channel.js';
import { type ConnectFailure, RecoveryLadder, runPowerCycle } from './recovery-ladder.js';
import type { AtTransportOpener } from './transport.js';

/** What the recovery loop needs from the driver it recovers. */
export interface RecoveryHost {
  isStopped(): boolean;
  /** Opens the port and initialises the modem: true when it is usable again, else why not. */
  connect(): Promise<true | ConnectFailure>;
  dropPort(reason: string): Promise<void>;
  /** Sets state `recovering` (or `failed` once escalation is spent) with the reason. */
  markState(state: Extract<ModemState, 'recovering' | 'failed'>, reason: string): void;
  /** One more recovery step was taken (status().recoveries). */
  countStep(): void;
  emit(e: ModemEvent): void;
}

export interface RecoveryLoopOptions {
  cfg: AtModemConfig;
  timers: HalTimers;
  log: HalLogger;
  open: AtTransportOpener;
  host: RecoveryHost;
}

/**
 * Brings a vanished, silent or confused modem back: drop the port, then climb the ladder (reopen
 * with backoff → AT+CFUN=1,1 → the power-cycle hook, each bounded per episode) until `connect()`
 * succeeds or the driver stops. A reset is only sent after the modem failed to answer a plain AT
 * on its own port: a modem that answers anything is never rebooted. Each step is reported as a
 * `recovery` event; `recovered` closes the episode.
 */
export class RecoveryLoop {
  private readonly ladder: RecoveryLadder;
  private running = false;
  private sleeping: { handle: unknown; wake: () => void } | null = null;

  constructor(private readonly o: RecoveryLoopOptions) {
    const c = o.cfg;
    this.ladder = new RecoveryLadder({
      initialMs: c.reopenBackoff.initialMs,
      maxMs: c.reopenBackoff.maxMs,
      reopenAttemptsBeforeReset: c.reopenAttemptsBeforeReset,
      resetAttemptsBeforePowerCycle: c.resetAttemptsBeforePowerCycle,
      maxResetsPerEpisode: c.maxResetsPerEpisode,
      maxPowerCyclesPerEpisode: c.maxPowerCyclesPerEpisode,
      powerCycleAvailable: c.powerCycleCommand !== null,
    });
  }

  get active(): boolean {
    return this.running;
  }

  /** The driver stops: cut a backoff sleep short so the loop notices at once. */
  interrupt(): void {
    const s = this.sleeping;
    if (!s) return;
    this.o.timers.clearTimeout(s.handle);
    s.wake();
  }

  async run(reason: string, why: ConnectFailure): Promise<void> {
    const { host, cfg } = this.o;
    if (this.running || host.isStopped()) return;
    this.running = true;
    host.markState(why === 'unusable' ? 'failed' : 'recovering', reason);
    await host.dropPort(reason);
    let last = why;
    while (!host.isStopped()) {
      const plan = this.ladder.next(last);
      await this.sleep(plan.delayMs);
      if (host.isStopped()) break;
      host.countStep();
      let step: string = plan.step;
      let detail = `${plan.step} ${cfg.path} (${reason})`;
      if (plan.step === 'power_cycle' && cfg.powerCycleCommand) {
        detail = await runPowerCycle(cfg.powerCycleCommand, cfg.powerCycleTimeoutMs);
        this.o.log.warn({ detail }, 'modem power cycle');
      } else if (plan.step === 'reset') {
        const answered = await this.resetUnlessAnswering();
        if (answered) {
          step = 'reset_skipped';
          detail = `modem on ${cfg.path} answers AT: re-initialising instead of rebooting it`;
        }
      }
      host.emit({ type: 'recovery', step, detail });
      if (host.isStopped()) break;
      const r = await host.connect();
      if (r === true) {
        this.ladder.reset();
        this.running = false;
        host.emit({ type: 'recovery', step: 'recovered', detail: 'modem answers again' });
        return;
      }
      last = r;
      const { resets, powerCycles } = this.ladder.spent;
      if (r === 'unusable') {
        host.markState('failed', `${reason}; the modem answers but not usefully, retrying`);
      } else if (plan.exhausted) {
        host.markState(
          'failed',
          `${reason}; recovery exhausted (${resets} resets, ${powerCycles} power cycles), ` +
            `reopening every ${Math.round(cfg.reopenBackoff.maxMs / 1000)} s`,
        );
      } else host.markState('recovering', reason);
    }
    this.running = false;
  }

  /**
   * Opens the port on its own and sends AT. A modem that answers anything (OK or ERROR) is alive:
   * it is not rebooted and true is returned. Only a silent modem gets AT+CFUN=1,1; its port then
   * vanishes and returns, which the next reopen finds.
   */
  private async resetUnlessAnswering(): Promise<boolean> {
    const { cfg, timers } = this.o;
    try {
      const transport = await this.o.open(cfg.path, cfg.baudRate);
      const channel = new AtChannel(transport, timers, () => {});
      const timeoutMs = cfg.commandTimeoutMs;
      const answered = await channel.send('AT', { timeoutMs }).then(
        () => true,
        () => false,
      );
      if (!answered) {
        this.o.log.warn({ path: cfg.path }, 'modem silent: sending AT+CFUN=1,1');
        await channel.send('AT+CFUN=1,1', { timeoutMs }).catch(() => {});
      }
      channel.fail(answered ? 'modem answers' : 'reset sent');
      await transport.close().catch(() => {});
      return answered;
    } catch (err) {
      this.o.log.warn({ err: (err as Error).message }, 'cannot open port to reset the modem');
      return false;
    }
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const wake = (): void => {
        this.sleeping = null;
        resolve();
      };
      this.sleeping = { handle: this.o.timers.setTimeout(wake, ms), wake };
    });
  }
}
