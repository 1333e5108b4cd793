import { LineSplitter } from '../line-splitter.js';
import type { HalTimers } from '../../types.js';
import type { SimBehavior } from '../../simulator/rules.js';
import { SimRuleBook } from '../../simulator/rules.js';
import { DEFAULT_SIM_BEHAVIOR } from '../../simulator/rules.js';

export type SimDialect = 'quectel' | 'simcom' | 'generic';

export interface AtModemEngineOptions {
  dialect: SimDialect;
  timers: HalTimers;
  rules: SimRuleBook;
  /** Writes bytes to the driver's side. */
  write(text: string): void;
  /** Asked to make the port vanish for downMs (the pty host kills and restarts socat). */
  dropPort?(downMs: number): void;
  /** How long a "silent" modem stays silent before it answers again (like a watchdog reboot). */
  silentForMs?: number;
  /**
   * The NO CARRIER / BUSY that follows a call's end URC stays in the modem's output buffer until
   * the next command arrives (USB modems flush in bulk), so the driver reads it just before the
   * answer to whatever it sends next — possibly the next ATD.
   */
  holdTrailingFinal?: boolean;
}

/** Status the simulated modem reports; tests change it to exercise the status parsers. */
export interface SimModemStatus {
  cpin: string; // "READY", "SIM PIN", or "NOT INSERTED" (answered as +CME ERROR)
  creg: number;
  csq: number;
  operator: string | null;
  /** Network time zone in quarter hours, or null when the network sent no time. */
  tzQuarters: number | null;
}

interface SimCall {
  number: string;
  stat: number; // CLCC stat: 0 active, 2 dialing, 3 alerting
  timers: unknown[];
  ceer: string;
}

/**
 * The AT side of a simulated modem: parses commands the driver writes and answers the way the
 * chosen vendor's firmware does, playing scripted calls (the simulator rule format) with URCs.
 * Knows nothing about ptys; PtyModemSimulator wires it to one end of a socat pair.
 */
export class AtModemEngine {
  readonly received: string[] = [];
  /** DTMF tones the driver sent (AT+VTS) during answered calls, in order. */
  dtmf = '';
  status: SimModemStatus = {
    cpin: 'READY',
    creg: 1,
    csq: 21,
    operator: 'Telekom.de',
    tzQuarters: 4,
  };
  private readonly splitter = new LineSplitter();
  private echo = true;
  private silentUntil = 0;
  private call: SimCall | null = null;
  private readonly scripted: SimBehavior[] = [];
  private heldFinal: string | null = null;

  constructor(private readonly o: AtModemEngineOptions) {}

  scriptNext(b: SimBehavior): void {
    this.scripted.push(b);
  }

  receive(chunk: string): void {
    for (const raw of chunk.split(/(?<=\r)/)) {
      for (const line of this.splitter.push(raw)) this.command(line);
    }
  }

  /** Forget the call (port dropped, reboot). */
  reset(): void {
    this.endCall();
    this.echo = true;
  }

  private get silent(): boolean {
    return this.o.timers.now() < this.silentUntil;
  }

  private out(...lines: string[]): void {
    if (this.silent) return;
    this.o.write(lines.map((l) => `\r\n${l}\r\n`).join(''));
  }

  private command(line: string): void {
    if (this.silent) return;
    if (this.heldFinal !== null) this.out(this.heldFinal);
    this.heldFinal = null;
    this.received.push(line);
    if (this.echo) this.o.write(line + '\r');
    const cmd = line.toUpperCase();
    const d = this.o.dialect;
    const ok = (): void => this.out('OK');
    const err = (msg = 'operation not allowed'): void => this.out(`+CME ERROR: ${msg}`);
    if (cmd === 'AT' || cmd === 'AT+CMEE=2' || cmd === 'AT+CTZU=1') return ok();
    if (cmd === 'AT+CREG=1' || cmd === 'AT+CEREG=1') return ok();
    if (cmd === 'ATE0' || cmd === 'ATE1') {
      this.echo = cmd === 'ATE1';
      return ok();
    }
    if (cmd === 'ATI') return this.out(...identity(d), 'OK');
    if (cmd.startsWith('AT^DSCI=') || cmd.startsWith('AT+QURCCFG') || cmd.startsWith('AT+QPCMV')) {
      return d === 'quectel' ? ok() : this.out('ERROR');
    }
    if (cmd.startsWith('AT+CPCMREG') || cmd === 'AT+CLCC=1') {
      return d === 'simcom' ? ok() : this.out('ERROR');
    }
    if (cmd === 'AT+CPIN?') {
      if (this.status.cpin === 'NOT INSERTED') return err('SIM not inserted');
      return this.out(`+CPIN: ${this.status.cpin}`, 'OK');
    }
    if (cmd === 'AT+CREG?') return this.out(`+CREG: 1,${this.status.creg}`, 'OK');
    if (cmd === 'AT+CEREG?') return this.out(`+CEREG: 1,${this.status.creg}`, 'OK');
    if (cmd === 'AT+CSQ') return this.out(`+CSQ: ${this.status.csq},99`, 'OK');
    if (cmd === 'AT+COPS?') {
      const op = this.status.operator;
      return this.out(op === null ? '+COPS: 0' : `+COPS: 0,0,"${op}",7`, 'OK');
    }
    if (cmd === 'AT+CCLK?')
      return this.out(`+CCLK: "${cclk(this.o.timers.now(), this.status.tzQuarters)}"`, 'OK');
    if (cmd === 'AT+CLCC') {
      const c = this.call;
      return c ? this.out(`+CLCC: 1,0,${c.stat},0,0,"${c.number}",145`, 'OK') : ok();
    }
    if (cmd === 'AT+CEER') {
      const text = this.lastCeer;
      return this.out(d === 'quectel' ? `+CEER: "${text}"` : `+CEER: ${text}`, 'OK');
    }
    if (cmd === 'AT+CHUP' || cmd === 'ATH') {
      if (this.call) this.remoteEnd('Normal call clearing', 16, false);
      return ok();
    }
    if (cmd === 'AT+CFUN=1,1') {
      ok();
      this.reset();
      this.o.timers.setTimeout(() => this.out('RDY'), 200);
      return;
    }
    const vts = /^AT\+VTS="?([0-9*#A-D]+)"?(,\d+)?$/.exec(cmd);
    if (vts) {
      if (this.call?.stat !== 0) return err();
      this.dtmf += vts[1]!;
      return ok();
    }
    const dial = /^ATD(\+?[0-9*#]+);$/.exec(cmd);
    if (dial) return this.dial(dial[1]!);
    this.out('ERROR');
  }

  private lastCeer = 'No cause information available';

  private dial(number: string): void {
    if (this.call) return this.out('+CME ERROR: phone busy');
    const b = this.scripted.shift() ?? this.o.rules.match(number) ?? DEFAULT_SIM_BEHAVIOR;
    if (b.outcome === 'dial_error') return this.out(`+CME ERROR: ${b.message}`);
    const call: SimCall = { number, stat: 2, timers: [], ceer: 'Normal call clearing' };
    this.call = call;
    this.out('OK');
    this.callState(2);
    const at = (ms: number, fn: () => void): void => {
      call.timers.push(this.o.timers.setTimeout(() => this.call === call && fn(), ms));
    };
    switch (b.outcome) {
      case 'answer':
        if (b.alertAfterMs < b.answerAfterMs) at(b.alertAfterMs, () => this.callState(3));
        at(b.answerAfterMs, () => {
          this.callState(0);
          if (b.hangupAfterMs !== undefined) {
            at(b.hangupAfterMs, () => this.remoteEnd('Normal call clearing', 16, true));
          }
          if (b.silentAfterMs !== undefined) at(b.silentAfterMs, () => this.goSilent());
        });
        return;
      case 'busy':
        return at(b.afterMs, () => this.remoteEnd('User busy', 17, true, 'BUSY'));
      case 'no_answer':
        return at(b.alertAfterMs, () => this.callState(3));
      case 'rejected':
        at(b.alertAfterMs, () => this.callState(3));
        return at(b.afterMs, () => this.remoteEnd('Call rejected', 21, true));
      case 'failed':
        return at(b.afterMs, () => this.remoteEnd(b.detail, null, true));
      case 'no_carrier':
        return at(b.afterMs, () => this.remoteEnd('Normal, unspecified', 31, true));
      case 'silent':
        return at(b.afterMs, () => this.goSilent());
      case 'drop_port':
        return at(b.afterMs, () => {
          this.endCall();
          this.o.dropPort?.(b.downMs);
        });
      case 'hang':
        return;
    }
  }

  /** Reports a state change the way each vendor does. */
  private callState(stat: number): void {
    const c = this.call;
    if (!c) return;
    c.stat = stat;
    if (this.o.dialect === 'quectel') this.out(`^DSCI: 1,0,${stat},0,${c.number},145`);
    if (this.o.dialect === 'simcom') {
      this.out(`+CLCC: 1,0,${stat},0,0,"${c.number}",145`);
      if (stat === 0) this.out('VOICE CALL: BEGIN');
    }
  }

  private remoteEnd(
    ceer: string,
    cause: number | null,
    byNetwork: boolean,
    final = 'NO CARRIER',
  ): void {
    const c = this.call;
    if (!c) return;
    this.lastCeer = ceer;
    const d = this.o.dialect;
    if (d === 'quectel') {
      this.out(
        cause === null
          ? `^DSCI: 1,0,6,0,${c.number},145`
          : `^DSCI: 1,0,6,0,${c.number},145,${cause}`,
      );
    }
    if (d === 'simcom') this.out(`+CLCC: 1,0,6,0,0,"${c.number}",145`, 'VOICE CALL: END: 000000');
    this.endCall();
    if (byNetwork && this.o.holdTrailingFinal) this.heldFinal = final;
    else if (byNetwork) this.out(final);
  }

  private goSilent(): void {
    this.endCall();
    this.silentUntil = this.o.timers.now() + (this.o.silentForMs ?? 1_500);
  }

  private endCall(): void {
    if (!this.call) return;
    for (const t of this.call.timers) this.o.timers.clearTimeout(t);
    this.call = null;
  }
}

function identity(d: SimDialect): string[] {
  if (d === 'quectel') return ['Quectel', 'EC25', 'Revision: EC25EFAR06A06M4G'];
  if (d === 'simcom') {
    return [
      'Manufacturer: SIMCOM INCORPORATED',
      'Model: SIMCOM_SIM7600E-H',
      'Revision: SIM7600M22_V2.0',
      'IMEI: 861234567890123',
      '+GCAP: +CGSM',
    ];
  }
  return ['Generic 27.007 modem', 'Revision: 1.0'];
}

/** The modem's local time with the zone in quarter hours, as +CCLK prints it. */
function cclk(nowMs: number, tzQuarters: number | null): string {
  if (tzQuarters === null) return '80/01/06,00:00:12+00'; // no network time yet: boot default
  const local = new Date(nowMs + tzQuarters * 15 * 60_000);
  const p = (n: number): string => String(n).padStart(2, '0');
  const sign = tzQuarters < 0 ? '-' : '+';
  return (
    `${p(local.getUTCFullYear() % 100)}/${p(local.getUTCMonth() + 1)}/${p(local.getUTCDate())},` +
    `${p(local.getUTCHours())}:${p(local.getUTCMinutes())}:${p(local.getUTCSeconds())}` +
    `${sign}${p(Math.abs(tzQuarters))}`
  );
}
