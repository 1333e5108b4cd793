import type { ModemStatus } from '../types.js';
import type { AtResponse, SendOptions } from './at-channel.js';
import {
  parseCclk,
  parseCops,
  parseCpin,
  parseCsq,
  parseRegistration,
  simStateFromError,
} from './responses.js';

export type Send = (command: string, opts?: Partial<SendOptions>) => Promise<AtResponse>;

export interface StatusReading {
  sim?: ModemStatus['sim'];
  registration?: ModemStatus['registration'];
  signalDbm?: number | null;
  operator?: string | null;
  /** UTC epoch ms as the network told the modem. */
  networkTime?: number;
}

/**
 * Reads SIM, registration, signal, operator and network time. Each query stands alone: an ERROR
 * or an unreadable line leaves that field unchanged. Timeouts propagate (a silent modem is not
 * a status, it is a failure the driver must recover from).
 */
export async function readStatus(send: Send): Promise<StatusReading> {
  const out: StatusReading = {};

  const cpin = await send('AT+CPIN?', { expect: '+CPIN:' });
  if (cpin.final.kind === 'error') out.sim = simStateFromError(cpin.final.message);
  else {
    const sim = cpin.lines.map(parseCpin).find((s) => s !== null);
    if (sim) out.sim = sim;
  }

  // LTE-only modules report on +CEREG, 2G/3G on +CREG; the better of the two counts.
  const regs: NonNullable<StatusReading['registration']>[] = [];
  for (const [cmd, prefix] of [
    ['AT+CREG?', '+CREG:'],
    ['AT+CEREG?', '+CEREG:'],
  ] as const) {
    const r = await send(cmd, { expect: prefix });
    for (const line of r.lines) {
      const reg = parseRegistration(line);
      if (reg) regs.push(reg.registration);
    }
  }
  const rank = ['home', 'roaming', 'searching', 'denied', 'not_registered', 'unknown'] as const;
  if (regs.length > 0) {
    out.registration = [...regs].sort((a, b) => rank.indexOf(a) - rank.indexOf(b))[0]!;
  }

  const csq = await send('AT+CSQ', { expect: '+CSQ:' });
  const signal = csq.lines.map(parseCsq).find((s) => s !== null);
  if (signal) out.signalDbm = signal.dbm;

  const cops = await send('AT+COPS?', { expect: '+COPS:' });
  const op = cops.lines.map(parseCops).find((s) => s !== null);
  if (op) out.operator = op.operator;

  const cclk = await send('AT+CCLK?', { expect: '+CCLK:' });
  const t = cclk.lines.map(parseCclk).find((s) => s !== null);
  if (t) out.networkTime = t.epochMs;

  return out;
}

/**
 * What an unsolicited line says about the modem's status: a registration or SIM change, or
 * 'network_time' when the network just sent its time (NITZ) and +CCLK is worth reading now.
 */
export function statusFromUrc(
  line: string,
): Pick<ModemStatus, 'registration'> | Pick<ModemStatus, 'sim'> | 'network_time' | null {
  const reg = parseRegistration(line);
  if (reg) return { registration: reg.registration };
  const sim = parseCpin(line);
  if (sim) return { sim };
  if (line.startsWith('+CTZV') || line.startsWith('+CTZE') || line.startsWith('+QIND: "nitz"')) {
    return 'network_time';
  }
  return null;
}
