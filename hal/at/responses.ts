import type { Registration, SimState } from '../types.js';

/**
 * Pure parsers for AT response and URC lines as Quectel EC25/EG25 and SIMCom SIM7600 (and any
 * 3GPP 27.007 modem) print them. Every parser returns null for a line it cannot read instead of
 * throwing: a malformed status line must cost us one reading, never the driver.
 */

export type FinalResult =
  | { kind: 'ok' }
  | { kind: 'error'; message: string }
  | { kind: 'call_end'; code: 'NO CARRIER' | 'BUSY' | 'NO ANSWER' | 'NO DIALTONE' };

export function parseFinal(line: string): FinalResult | null {
  if (line === 'OK') return { kind: 'ok' };
  if (line === 'ERROR') return { kind: 'error', message: 'ERROR' };
  const cme = /^\+CM[ES] ERROR:\s*(.*)$/.exec(line);
  if (cme) return { kind: 'error', message: cme[1]!.trim() || 'ERROR' };
  if (line === 'NO CARRIER' || line === 'BUSY' || line === 'NO ANSWER' || line === 'NO DIALTONE') {
    return { kind: 'call_end', code: line };
  }
  return null;
}

/** Splits the value part of `+XYZ: a,"b,c",d` into ["a", "b,c", "d"], honouring quotes. */
export function splitFields(value: string): string[] {
  const out: string[] = [];
  let cur = '';
  let quoted = false;
  for (const ch of value) {
    if (ch === '"') quoted = !quoted;
    else if (ch === ',' && !quoted) {
      out.push(cur.trim());
      cur = '';
    } else cur += ch;
  }
  out.push(cur.trim());
  return out;
}

function fieldsOf(line: string, prefix: string): string[] | null {
  if (!line.startsWith(prefix)) return null;
  return splitFields(line.slice(prefix.length).trim());
}

function int(s: string | undefined): number | null {
  if (s === undefined || !/^-?\d+$/.test(s)) return null;
  return Number(s);
}

/** `+CSQ: <rssi>,<ber>`: rssi 0..31 → -113..-51 dBm, 99 = unknown. */
export function parseCsq(line: string): { dbm: number | null } | null {
  const f = fieldsOf(line, '+CSQ:');
  const rssi = int(f?.[0]);
  if (rssi === null) return null;
  if (rssi === 99) return { dbm: null };
  if (rssi < 0 || rssi > 31) return null;
  return { dbm: -113 + 2 * rssi };
}

/** `+CPIN: READY` / `SIM PIN` / `SIM PUK`; `+CME ERROR: SIM not inserted` (or code 10) → absent. */
export function parseCpin(line: string): SimState | null {
  const m = /^\+CPIN:\s*(.+)$/.exec(line);
  if (m) {
    const v = m[1]!.trim().toUpperCase();
    if (v === 'READY') return 'ready';
    if (v === 'SIM PIN' || v === 'PH-SIM PIN') return 'pin_required';
    if (v === 'SIM PUK') return 'puk_required';
    if (v === 'NOT INSERTED' || v === 'NOT READY') return 'absent';
    return 'error';
  }
  return null;
}

export function simStateFromError(message: string): SimState {
  const m = message.toLowerCase();
  if (m === '10' || m.includes('not inserted') || m.includes('no sim')) return 'absent';
  if (m === '13' || m.includes('failure')) return 'error';
  if (m === '14' || m.includes('busy')) return 'unknown';
  return 'error';
}

/**
 * `+CREG: <n>,<stat>[,...]` (response) or `+CREG: <stat>[,"lac","ci"...]` (URC); same for
 * +CEREG/+CGREG. The URC form with location has a quoted second field, which tells them apart.
 */
export function parseRegistration(
  line: string,
): { kind: 'CREG' | 'CEREG' | 'CGREG'; registration: Registration } | null {
  const m = /^\+(CREG|CEREG|CGREG):\s*(.*)$/.exec(line);
  if (!m) return null;
  const fields = splitFields(m[2]!);
  const raw = line.slice(line.indexOf(':') + 1);
  const secondQuoted = /^\s*\d+\s*,\s*"/.test(raw);
  const statField = fields.length >= 2 && !secondQuoted ? fields[1] : fields[0];
  const stat = int(statField);
  if (stat === null) return null;
  const registration = registrationFromStat(stat);
  if (!registration) return null;
  return { kind: m[1] as 'CREG' | 'CEREG' | 'CGREG', registration };
}

function registrationFromStat(stat: number): Registration | null {
  switch (stat) {
    case 0:
      return 'not_registered';
    case 1:
      return 'home';
    case 2:
      return 'searching';
    case 3:
      return 'denied';
    case 4:
      return 'unknown';
    case 5:
      return 'roaming';
    default:
      return null;
  }
}

/**
 * `+COPS: <mode>[,<format>,"<oper>"[,<act>]]`; no operator field means not registered. Format 0/1
 * is the long/short name, 2 the numeric MCC+MNC ("26201"): the driver asks for names with
 * AT+COPS=3,0, and a modem that ignores that still reports its numeric code rather than nothing.
 */
export function parseCops(line: string): { operator: string | null; numeric: boolean } | null {
  const f = fieldsOf(line, '+COPS:');
  if (!f || int(f[0]) === null) return null;
  const oper = f[2];
  return { operator: oper && oper.length > 0 ? oper : null, numeric: int(f[1]) === 2 };
}

/**
 * `+CCLK: "yy/MM/dd,hh:mm:ss±zz"` — local time and the zone in quarter hours (27.007). Returns the
 * UTC epoch ms. Without a zone (some firmware) the time is taken as UTC. Modems without network
 * time report their boot default (e.g. "80/01/06"/"04/01/01"); years before 2020 are rejected so a
 * bogus modem clock never counts as network time.
 */
export function parseCclk(line: string): { epochMs: number } | null {
  const m =
    /^\+CCLK:\s*"?(\d{2})\/(\d{2})\/(\d{2}),(\d{2}):(\d{2}):(\d{2})(?:([+-])(\d{1,2}))?"?\s*$/.exec(
      line,
    );
  if (!m) return null;
  const [, yy, mo, dd, hh, mi, ss, sign, quarters] = m;
  // Two-digit years: 70..99 are the 1970s-90s boot defaults some modems print ("80/01/06").
  const year = Number(yy) >= 70 ? 1900 + Number(yy) : 2000 + Number(yy);
  const month = Number(mo);
  const day = Number(dd);
  if (year < 2020 || month < 1 || month > 12 || day < 1 || day > 31) return null;
  if (Number(hh) > 23 || Number(mi) > 59 || Number(ss) > 60) return null;
  const offsetMin = sign ? (sign === '-' ? -1 : 1) * Number(quarters) * 15 : 0;
  if (Math.abs(offsetMin) > 14 * 60) return null;
  const localAsUtc = Date.UTC(year, month - 1, day, Number(hh), Number(mi), Number(ss));
  const d = new Date(localAsUtc);
  if (d.getUTCDate() !== day) return null; // 02/31 and friends
  return { epochMs: localAsUtc - offsetMin * 60_000 };
}

export type LineCallStat =
  'active' | 'held' | 'dialing' | 'alerting' | 'incoming' | 'waiting' | 'ended';

export interface ClccEntry {
  id: number;
  outgoing: boolean;
  stat: LineCallStat;
  voice: boolean;
}

const STATS: LineCallStat[] = [
  'active',
  'held',
  'dialing',
  'alerting',
  'incoming',
  'waiting',
  'ended',
];

/** `+CLCC: <id>,<dir>,<stat>,<mode>,<mpty>[,"number",type]` (SIMCom also uses stat 6 = released). */
export function parseClcc(line: string): ClccEntry | null {
  const f = fieldsOf(line, '+CLCC:');
  if (!f) return null;
  const [id, dir, stat, mode] = [int(f[0]), int(f[1]), int(f[2]), int(f[3])];
  if (id === null || dir === null || stat === null || mode === null) return null;
  const s = STATS[stat];
  if (!s) return null;
  return { id, outgoing: dir === 0, stat: s, voice: mode === 0 };
}

/**
 * Quectel `^DSCI: <id>,<dir>,<stat>,<type>,<number>,<num_type>[,<cause>]`; stat as CLCC, with
 * 6 = disconnected, and the 3GPP cause (24.008) as the last field when the call ended.
 */
export function parseDsci(line: string): (ClccEntry & { cause: number | null }) | null {
  const f = fieldsOf(line, '^DSCI:');
  if (!f) return null;
  const [id, dir, stat] = [int(f[0]), int(f[1]), int(f[2])];
  if (id === null || dir === null || stat === null) return null;
  const s = STATS[stat];
  if (!s) return null;
  const cause = s === 'ended' && f.length >= 7 ? int(f[f.length - 1]) : null;
  return { id, outgoing: dir === 0, stat: s, voice: true, cause };
}

/** What a 24.008 cause or a CEER text says about why an unanswered/ended call ended. */
export type EndClass = 'busy' | 'rejected' | 'no_answer' | 'failed' | 'normal' | 'unknown';

export function classifyCause(cause: number): EndClass {
  if (cause === 17) return 'busy';
  if (cause === 21) return 'rejected';
  if (cause === 18 || cause === 19) return 'no_answer';
  if (cause === 16 || cause === 31) return 'normal';
  if ([1, 3, 22, 27, 28, 34, 38, 41, 42, 44, 47, 50, 57, 58, 88].includes(cause)) return 'failed';
  return 'unknown';
}

/** Words in a CEER text that name a network-side refusal (24.008 cause names and firmware prose). */
const FAILURE_WORDS = [
  'fail',
  'unassigned',
  'unallocated',
  'invalid',
  'barred',
  'congestion',
  'out of order',
  'no route',
  'unavailable',
  'not available',
  'unobtainable',
  'no service',
  'not registered',
];

/** `+CEER: "text"` (Quectel), `+CEER: text` (SIMCom) or `+CEER: <cause>`; classified by keywords. */
export function parseCeer(line: string): { text: string; cls: EndClass } | null {
  const m = /^\+CEER:\s*(.*)$/.exec(line);
  if (!m) return null;
  const text = m[1]!.replace(/"/g, '').trim();
  const num = /^(?:CC\s+)?(\d+)$/.exec(text) ?? /cause\s*(\d+)/i.exec(text);
  if (num) return { text, cls: classifyCause(Number(num[1])) };
  const t = text.toLowerCase();
  let cls: EndClass = 'unknown';
  if (t.includes('busy')) cls = 'busy';
  else if (t.includes('reject')) cls = 'rejected';
  else if (t.includes('no answer') || t.includes('no user responding') || t.includes('alerting'))
    cls = 'no_answer';
  else if (t.includes('normal')) cls = 'normal';
  else if (FAILURE_WORDS.some((w) => t.includes(w))) cls = 'failed';
  // Anything else is firmware free text ("EXTENDED ERROR STRING"): it says nothing about why, so
  // it must not turn an ended call into a network failure.
  return { text, cls };
}

/**
 * `*ECAV: <ccid>,<ccstatus>,<calltype>[,<processid>][,<exitcause>]` (ST-Ericsson / MediaTek
 * family). ccstatus 0 idle (released), 1 calling, 2 connecting (the far end rings), 3 active,
 * 4 hold, 5 waiting, 6 alerting (incoming), 7 busy; calltype 1 is voice. The 24.008 exit cause,
 * when present, is the last field of a released call.
 */
export function parseEcav(
  line: string,
): (ClccEntry & { cause: number | null; busy: boolean }) | null {
  const f = fieldsOf(line, '*ECAV:');
  if (!f) return null;
  const [id, status, type] = [int(f[0]), int(f[1]), int(f[2])];
  if (id === null || status === null || type === null) return null;
  const map: (LineCallStat | null)[] = [
    'ended',
    'dialing',
    'alerting',
    'active',
    'held',
    'waiting',
    'incoming',
    'ended',
  ];
  const stat = map[status];
  if (!stat) return null;
  const outgoing = status !== 5 && status !== 6;
  const cause = stat === 'ended' && f.length >= 5 ? int(f[f.length - 1]) : null;
  return { id, outgoing, stat, voice: type === 1, cause, busy: status === 7 };
}

export type Vendor = 'quectel' | 'simcom' | 'generic';

/** Picks the dialect from ATI (and +CGMI/+CGMM) output lines. */
export function vendorFromIdentity(lines: string[]): { vendor: Vendor; model: string | null } {
  const all = lines.join('\n');
  const vendor: Vendor = /quectel/i.test(all)
    ? 'quectel'
    : /simcom/i.test(all)
      ? 'simcom'
      : 'generic';
  const modelLine =
    lines.find((l) => /^Model:/i.test(l))?.replace(/^Model:\s*/i, '') ??
    lines.find((l) => /^(EC|EG|BG|SIM|A76|UC)\w*/i.test(l)) ??
    lines.find((l) => !/^(Revision|Manufacturer|IMEI|\+GCAP)/i.test(l) && l !== 'ATI');
  return { vendor, model: modelLine?.trim() || null };
}
