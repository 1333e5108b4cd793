import type { AtModemConfig } from '../config.js';
import type { HalLogger } from '../logger.js';
import type { HalTimers } from '../types.js';
import { AtChannel, AtClosedError, type AtResponse, type SendOptions } from './at-channel.js';
import type { AtTransport, AtTransportOpener } from './transport.js';

export interface AtPortOptions {
  cfg: Pick<AtModemConfig, 'path' | 'baudRate' | 'commandTimeoutMs'>;
  timers: HalTimers;
  log: HalLogger;
  open: AtTransportOpener;
  /** Unsolicited lines from the modem. */
  onUrc(line: string): void;
  /** The open port went away by itself (EIO, unplugged); not called for `drop()`. */
  onLost(reason: string): void;
  isStopped(): boolean;
}

/** The modem's AT port while it is open: one transport and the command channel on top of it. */
export class AtPort {
  private transport: AtTransport | null = null;
  private channel: AtChannel | null = null;

  constructor(private readonly o: AtPortOptions) {}

  /** Opens the port; false (logged) when it cannot be opened or the driver stopped meanwhile. */
  async open(): Promise<boolean> {
    const { o } = this;
    let transport: AtTransport;
    try {
      transport = await o.open(o.cfg.path, o.cfg.baudRate);
    } catch (err) {
      o.log.warn({ path: o.cfg.path, err: (err as Error).message }, 'cannot open modem port');
      return false;
    }
    if (o.isStopped()) {
      await transport.close();
      return false;
    }
    const channel = new AtChannel(transport, o.timers, (line) => o.onUrc(line));
    transport.onClose((reason) => {
      channel.fail(reason);
      if (this.channel === channel) o.onLost(reason);
    });
    this.transport = transport;
    this.channel = channel;
    return true;
  }

  send(command: string, opts: Partial<SendOptions> = {}): Promise<AtResponse> {
    const channel = this.channel;
    if (!channel) return Promise.reject(new AtClosedError('port not open'));
    return channel.send(command, { timeoutMs: this.o.cfg.commandTimeoutMs, ...opts });
  }

  /** See AtChannel.writeRaw: aborts a dial whose result is still outstanding. */
  writeRaw(text: string): void {
    this.channel?.writeRaw(text);
  }

  /** Fails whatever is in flight and closes the port. */
  async drop(reason: string): Promise<void> {
    const transport = this.transport;
    this.channel?.fail(reason);
    this.channel = null;
    this.transport = null;
    if (transport) await transport.close().catch(() => {});
  }
}
