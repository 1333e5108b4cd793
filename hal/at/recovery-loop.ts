import type { AtModemConfig } from '../config.js';
import type { HalLogger } from '../logger.js';
import type { HalTimers, ModemEvent } from '../types.js';
import { AtChannel } from './at-channel.js';
import { RecoveryLadder, runPowerCycle } from './recovery-ladder.js';
import type { AtTransportOpener } from './transport.js';

/** What the recovery loop needs from the driver it recovers. */
export interface RecoveryHost {
  isStopped(): boolean;
  /** Opens the port and initialises the modem; true when it answers again. */
  connect(): Promise<boolean>;
  dropPort(reason: string): Promise<void>;
  /** Sets state `recovering` with the reason (and reports the status). */
  markRecovering(reason: string): void;
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
 * Brings a vanished or silent modem back: drop the port, then climb the ladder (reopen with
 * backoff → AT+CFUN=1,1 → the power-cycle hook) until `connect()` succeeds or the driver stops.
 * Each step is reported as a `recovery` event; `recovered` closes the episode.
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

  async run(reason: string): Promise<void> {
    const { host, cfg } = this.o;
    if (this.running || host.isStopped()) return;
    this.running = true;
    host.markRecovering(reason);
    await host.dropPort(reason);
    while (!host.isStopped()) {
      const { step, delayMs } = this.ladder.next();
      await this.sleep(delayMs);
      if (host.isStopped()) break;
      let detail = `${step} ${cfg.path} (${reason})`;
      host.countStep();
      host.emit({ type: 'recovery', step, detail });
      if (step === 'power_cycle' && cfg.powerCycleCommand) {
        detail = await runPowerCycle(cfg.powerCycleCommand, cfg.powerCycleTimeoutMs);
        this.o.log.warn({ detail }, 'modem power cycle');
      } else if (step === 'reset') {
        await this.resetModem();
      }
      if (host.isStopped()) break;
      if (await host.connect()) {
        this.ladder.reset();
        this.running = false;
        host.emit({ type: 'recovery', step: 'recovered', detail: 'modem answers again' });
        return;
      }
      host.markRecovering(reason);
    }
    this.running = false;
  }

  /** AT+CFUN=1,1 reboots the module; its port vanishes and returns, which the next reopen finds. */
  private async resetModem(): Promise<void> {
    const { cfg, timers } = this.o;
    try {
      const transport = await this.o.open(cfg.path, cfg.baudRate);
      const channel = new AtChannel(transport, timers, () => {});
      await channel.send('AT+CFUN=1,1', { timeoutMs: cfg.commandTimeoutMs }).catch(() => {});
      channel.fail('reset sent');
      await transport.close().catch(() => {});
    } catch (err) {
      this.o.log.warn({ err: (err as Error).message }, 'cannot open port to reset the modem');
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
