import type { HalTimers } from '../types.js';
import type { AtTransport } from './transport.js';
import { type FinalResult, parseFinal } from './responses.js';
import { LineSplitter } from './line-splitter.js';

export interface AtResponse {
  /** Intermediate lines that belong to this command (URCs removed). */
  lines: string[];
  final: FinalResult;
}

export class AtTimeoutError extends Error {
  constructor(readonly command: string) {
    super(`no response to ${command.startsWith('ATD') ? 'ATD' : command}`);
    this.name = 'AtTimeoutError';
  }
}

export class AtClosedError extends Error {
  constructor(reason: string) {
    super(reason);
    this.name = 'AtClosedError';
  }
}

/** Optional commands may answer ERROR; only a silent or vanished port is a real failure. */
export function rethrowUnlessError(err: unknown): void {
  if (err instanceof AtTimeoutError || err instanceof AtClosedError) throw err;
}

export interface SendOptions {
  timeoutMs: number;
  /** ATD: BUSY / NO CARRIER / NO ANSWER are final results of this command, not URCs. */
  dial?: boolean;
  /** Response prefix (e.g. "+CLCC:") so that lines with this prefix are never taken for URCs. */
  expect?: string;
}

interface Pending {
  command: string;
  opts: SendOptions;
  lines: string[];
  resolve: (r: AtResponse) => void;
  reject: (e: Error) => void;
  timer: unknown;
}

/** Lines a modem may print at any time. Anything else during a command belongs to the command. */
const URC_PREFIXES = [
  '^DSCI:',
  '*ECAV:',
  'VOICE CALL:',
  '+CLCC:',
  'RING',
  '+CRING:',
  '+CLIP:',
  '+CREG:',
  '+CEREG:',
  '+CGREG:',
  '+CTZV:',
  '+CTZE:',
  '+QIND:',
  '+CPIN:',
  '+CFUN:',
  'RDY',
  'SMS DONE',
  'PB DONE',
  'CALL READY',
  'MISSED_CALL:',
  '+QUSIM:',
  '+CMTI:',
  '+CMT:',
  '+CDS:',
  '+CBM:',
  '+CUSD:',
  '+CCWA:',
  '+CSSI:',
  '+CSSU:',
  '+COLP:',
];

/**
 * One AT command at a time over one transport: a FIFO queue, a timeout per command, and URCs
 * separated from responses as lines arrive interleaved. A timeout rejects that command only; the
 * owner decides whether silence means the modem needs recovering.
 */
export class AtChannel {
  private readonly splitter = new LineSplitter();
  private readonly queue: Pending[] = [];
  private inFlight: Pending | null = null;
  private closedReason: string | null = null;

  constructor(
    private readonly transport: AtTransport,
    private readonly timers: HalTimers,
    private readonly onUrc: (line: string) => void,
  ) {
    transport.onData((text) => {
      for (const line of this.splitter.push(text)) this.onLine(line);
    });
  }

  send(command: string, opts: SendOptions): Promise<AtResponse> {
    if (this.closedReason !== null) return Promise.reject(new AtClosedError(this.closedReason));
    return new Promise<AtResponse>((resolve, reject) => {
      this.queue.push({ command, opts, lines: [], resolve, reject, timer: null });
      this.pump();
    });
  }

  /**
   * Writes bytes straight to the port, outside the queue. Only for aborting a dial whose result is
   * still outstanding: V.250 modems abort call set-up on any character from the host, and the
   * queued commands behind the ATD could never be sent otherwise.
   */
  writeRaw(text: string): void {
    if (this.closedReason === null) this.transport.write(text);
  }

  /** Fails the command in flight and everything queued; later sends reject at once. */
  fail(reason: string): void {
    if (this.closedReason !== null) return;
    this.closedReason = reason;
    const all = [...(this.inFlight ? [this.inFlight] : []), ...this.queue.splice(0)];
    this.inFlight = null;
    for (const p of all) {
      this.timers.clearTimeout(p.timer);
      p.reject(new AtClosedError(reason));
    }
  }

  private pump(): void {
    if (this.inFlight || this.closedReason !== null) return;
    const next = this.queue.shift();
    if (!next) return;
    this.inFlight = next;
    next.timer = this.timers.setTimeout(() => {
      if (this.inFlight !== next) return;
      this.inFlight = null;
      next.reject(new AtTimeoutError(next.command));
      this.pump();
    }, next.opts.timeoutMs);
    this.transport.write(next.command + '\r');
  }

  private onLine(line: string): void {
    const p = this.inFlight;
    if (!p) {
      if (!isEcho(line)) this.onUrc(line);
      return;
    }
    if (isEcho(line)) return; // echo before ATE0 took effect, or after a modem reset
    const final = parseFinal(line);
    if (final && (final.kind !== 'call_end' || p.opts.dial)) {
      this.inFlight = null;
      this.timers.clearTimeout(p.timer);
      p.resolve({ lines: p.lines, final });
      this.pump();
      return;
    }
    if (final) return this.onUrc(line); // NO CARRIER while polling: the call ended
    if (p.opts.expect && line.startsWith(p.opts.expect)) {
      p.lines.push(line);
      return;
    }
    if (URC_PREFIXES.some((u) => line.startsWith(u))) return this.onUrc(line);
    p.lines.push(line);
  }
}

function isEcho(line: string): boolean {
  return /^AT/i.test(line);
}
