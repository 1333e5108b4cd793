import { LineSplitter } from '../line-splitter.js';
import type { HalTimers } from '../../types.js';
import type { SimBehavior } from '../../simulator/rules.js';
import { SimRuleBook } from '../../simulator/rules.js';
import { DEFAULT_SIM_BEHAVIOR } from '../../simulator/rules.js';
import {
  callStateUrcs,
  type SimCallStat,
  type SimDialect,
  type SimTraits,
} from './personalities.js';

export type { SimDialect } from './personalities.js';

export interface AtModemEngineOptions {
  /** How this modem behaves: dialect and the traits that set it apart (see personalities.ts). */
  traits: SimTraits;
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
  /** MCC+MNC, what +COPS? reports in numeric format. */
  operatorCode: string;
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
  /** ATD's result is still owed (a held-OK modem answers it on connect or release). */
  dialOutstanding: boolean;
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
    operatorCode: '26201',
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
  private readonly enabledUrcs = new Set<string>();
  private copsNumeric: boolean;

  constructor(private readonly o: AtModemEngineOptions) {
    this.copsNumeric = o.traits.numericCopsByDefault;
  }

  /** Whether the simulated line carries a call. */
  get callUp(): boolean {
    return this.call !== null;
  }

  get traits(): SimTraits {
    return this.o.traits;
  }

  scriptNext(b: SimBehavior): void {
    this.scripted.push(b);
  }

  receive(chunk: string): void {
    // V.250: any character from the host aborts a dial that is still being set up.
    if (this.call?.dialOutstanding && chunk.length > 0) {
      this.endCall();
      this.out('NO CARRIER');
      return;
    }
    for (const raw of chunk.split(/(?<=\r)/)) {
      for (const line of this.splitter.push(raw)) this.command(line);
    }
  }

  /** Forget the call (port dropped, reboot). */
  reset(): void {
    this.endCall();
    this.echo = true;
    this.enabledUrcs.clear();
    this.copsNumeric = this.o.traits.numericCopsByDefault;
  }

  private get silent(): boolean {
    return this.o.timers.now() < this.silentUntil;
  }

  private out(...lines: string[]): void {
    if (this.silent) return;
    const text = lines.map((l) => `\r\n${l}\r\n`).join('');
    const delay = this.o.traits.responseDelayMs;
    if (delay <= 0) return this.o.write(text);
    this.o.timers.setTimeout(() => {
      if (!this.silent) this.o.write(text);
    }, delay);
  }

  /** The modem stops answering for `ms` (as if its firmware hung), dropping any call. */
  goSilentFor(ms: number): void {
    this.endCall();
    this.silentUntil = this.o.timers.now() + ms;
  }

  /** Prints an unsolicited line, e.g. a +CLIP the driver has no use for. */
  emitUrc(line: string): void {
    this.out(line);
  }

  private command(line: string): void {
    // What the host sent is recorded even while silent: tests assert what a driver tried.
    this.received.push(line);
    if (this.silent) return;
    if (this.heldFinal !== null) this.out(this.heldFinal);
    this.heldFinal = null;
    if (this.echo) this.o.write(line + '\r');
    const cmd = line.toUpperCase();
    const t = this.o.traits;
    if (t.answersOnlyError) return this.out('ERROR');
    const d = t.dialect;
    const ok = (): void => this.out('OK');
    const err = (msg = 'operation not allowed'): void => this.out(`+CME ERROR: ${msg}`);
    if (cmd === 'AT') return t.atAnswersError ? this.out('ERROR') : ok();
    if (cmd === 'AT+CMEE=2' || cmd === 'AT+CTZU=1') return ok();
    if (cmd === 'AT+CREG=1' || cmd === 'AT+CEREG=1') return ok();
    if (cmd === 'ATE0' || cmd === 'ATE1') {
      this.echo = cmd === 'ATE1' || t.echoLocked;
      return ok();
    }
    if (cmd === 'ATI') return this.out(...identity(d), 'OK');
    if (this.identityQuery(cmd)) return;
    const urcEnable = { 'AT^DSCI=1': 'dsci', 'AT+CLCC=1': 'clcc', 'AT*ECAV=1': 'ecav' }[cmd];
    if (urcEnable) {
      if (t.callUrcs !== urcEnable) return this.out('ERROR');
      this.enabledUrcs.add(urcEnable);
      return ok();
    }
    if (cmd.startsWith('AT+QURCCFG') || cmd.startsWith('AT+QPCMV')) {
      return d === 'quectel' ? ok() : this.out('ERROR');
    }
    if (cmd.startsWith('AT+CPCMREG')) return d === 'simcom' ? ok() : this.out('ERROR');
    const copsFormat = /^AT\+COPS=3,([012])$/.exec(cmd);
    if (copsFormat) {
      this.copsNumeric = copsFormat[1] === '2';
      return ok();
    }
    if (cmd === 'AT+CLCC=?') {
      // A modem whose +CLCC can be unsolicited says so with the (0-1) range (SIMCom does).
      if (t.noClcc) return this.out('ERROR');
      return t.callUrcs === 'clcc' ? this.out('+CLCC: (0-1)', 'OK') : ok();
    }
    if (cmd === 'AT+CFUN?') return this.out('+CFUN: 1', 'OK');
    if (cmd === 'AT+CFUN=1') return ok();
    if (cmd === 'AT+CPIN?') {
      if (this.status.cpin === 'NOT INSERTED') return err('SIM not inserted');
      return this.out(`+CPIN: ${this.status.cpin}`, 'OK');
    }
    if (cmd === 'AT+CREG?') return this.out(`+CREG: 1,${this.status.creg}`, 'OK');
    if (cmd === 'AT+CEREG?') return this.out(`+CEREG: 1,${this.status.creg}`, 'OK');
    if (cmd === 'AT+CSQ') return this.out(`+CSQ: ${this.status.csq},99`, 'OK');
    if (cmd === 'AT+COPS?') {
      const op = this.status.operator;
      if (op === null) return this.out('+COPS: 0', 'OK');
      if (this.copsNumeric) return this.out(`+COPS: 0,2,"${this.status.operatorCode}",7`, 'OK');
      return this.out(`+COPS: 0,0,"${op}",7`, 'OK');
    }
    if (cmd === 'AT+CCLK?')
      return this.out(`+CCLK: "${cclk(this.o.timers.now(), this.status.tzQuarters)}"`, 'OK');
    if (cmd === 'AT+CLCC') {
      if (t.noClcc) return this.out('ERROR');
      const c = this.call;
      return c ? this.out(`+CLCC: 1,0,${c.stat},0,0,"${c.number}",145`, 'OK') : ok();
    }
    if (cmd === 'AT+CEER') {
      const text = t.ceerText ?? this.lastCeer;
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
    const held = this.o.traits.heldDialOk;
    const call: SimCall = {
      number,
      stat: 2,
      timers: [],
      ceer: 'Normal call clearing',
      dialOutstanding: held,
    };
    this.call = call;
    if (!held) this.out('OK');
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

  /** The call-state URC style in force: the modem's own, once the host enabled it. */
  private get urcStyle() {
    const style = this.o.traits.callUrcs;
    return this.enabledUrcs.has(style) ? style : 'none';
  }

  /** Reports a state change the way the modem does; a held ATD answers OK on connect. */
  private callState(stat: SimCallStat & number): void {
    const c = this.call;
    if (!c) return;
    c.stat = stat;
    const lines = callStateUrcs(this.urcStyle, this.o.traits.dialect, c.number, stat);
    if (lines.length > 0) this.out(...lines);
    if (stat === 0 && c.dialOutstanding) {
      c.dialOutstanding = false;
      this.out('OK');
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
    const busy = final === 'BUSY';
    const lines = callStateUrcs(
      this.urcStyle,
      this.o.traits.dialect,
      c.number,
      'released',
      cause,
      busy,
    );
    if (lines.length > 0) this.out(...lines);
    const answersDial = c.dialOutstanding;
    this.endCall();
    if (!byNetwork) return;
    if (this.o.holdTrailingFinal && !answersDial) this.heldFinal = final;
    else this.out(final); // a held ATD gets its result now: BUSY or NO CARRIER
  }

  /** What ModemManager (and technicians) ask a modem about itself. */
  private identityQuery(cmd: string): boolean {
    const d = this.o.traits.dialect;
    const answers: Record<string, string[]> = {
      'AT+CGMI': [d === 'quectel' ? 'Quectel' : d === 'simcom' ? 'SIMCOM INCORPORATED' : 'Generic'],
      'AT+CGMM': [d === 'quectel' ? 'EC25' : d === 'simcom' ? 'SIMCOM_SIM7600E-H' : 'Modem 27.007'],
      'AT+CGMR': [
        d === 'quectel' ? 'EC25EFAR06A06M4G' : d === 'simcom' ? 'SIM7600M22_V2.0' : '1.0',
      ],
      'AT+CGSN': ['861234567890123'],
      'AT+GCAP': ['+GCAP: +CGSM'],
      'AT+CIMI': ['262011234567890'],
    };
    const lines = answers[cmd];
    if (!lines) return false;
    this.out(...lines, 'OK');
    return true;
  }

  private goSilent(): void {
    this.goSilentFor(this.o.silentForMs ?? 1_500);
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
