/**
 * A zone's UTC offsets from the system's time zone database: the TZif files of Debian's `tzdata`
 * (RFC 8536) under /usr/share/zoneinfo, or $TZDIR as glibc reads it.
 *
 * Why not ICU (Intl / Temporal): ICU's zone and locale data, paged in by the first formatter with a
 * time zone, cost every process ~8 MB of RSS for the life of the process (issue 14's memory budget),
 * and its rules are frozen into the node binary until the package ships a new one; tzdata is
 * updated by the system's own upgrades. test/schedule/zone.test.ts checks every conversion against
 * Temporal (ICU's data, an independent implementation) for random instants in many zones.
 *
 * The file gives explicit transitions (64-bit data block, version 2+) and, in its footer, a POSIX TZ
 * string for every instant after the last one (e.g. `CET-1CEST,M3.5.0,M10.5.0/3`), with RFC 8536's
 * extensions (hours −167…167 in rule times). Files with leap seconds (`right/…`) are refused: their
 * timestamps are not POSIX time.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { daysFromCivil, daysInMonth, isLeapYear, weekdayFromDays } from './civil.js';

const MS_PER_DAY = 86_400_000;

/** One span of constant UTC offset: [start, end) in epoch ms. */
export interface Period {
  start: number;
  end: number;
  offsetMs: number;
}

/** A POSIX TZ rule date: Jn (1–365, Feb 29 never counted), n (0–365), or Mm.w.d. */
type RuleDate =
  | { kind: 'julian1'; day: number }
  | { kind: 'julian0'; day: number }
  | { kind: 'month'; month: number; week: number; weekday: number };

interface PosixRule {
  stdOffsetMs: number;
  /** Absent: no daylight saving time; the standard offset holds for ever. */
  dst?: {
    offsetMs: number;
    start: RuleDate;
    /** Seconds after local midnight (standard time) when DST starts; may be negative or > 24 h. */
    startTime: number;
    end: RuleDate;
    /** Seconds after local midnight (daylight time) when DST ends. */
    endTime: number;
  };
}

export class TzifError extends Error {}

/**
 * The merged offset history of one zone: `at[i]` is an instant (ms) where the offset changes to
 * `offsets[i]`; before `at[0]` the offset is `initialOffsetMs`; after the last, `rule` (if any).
 */
export class TzifZone {
  private constructor(
    private readonly at: number[],
    private readonly offsets: number[],
    private readonly initialOffsetMs: number,
    private readonly rule: PosixRule | null,
  ) {}

  /** UTC for ever (a unit without a time zone database). */
  static utc(): TzifZone {
    return new TzifZone([], [], 0, null);
  }

  static parse(buf: Buffer): TzifZone {
    const r = readTzif(buf);
    const at: number[] = [];
    const offsets: number[] = [];
    let last = r.initialOffsetMs;
    for (let i = 0; i < r.times.length; i++) {
      const off = r.offsets[i] as number;
      if (off === last) continue; // a change of name or isdst only: not a transition
      at.push(r.times[i] as number);
      offsets.push(off);
      last = off;
    }
    return new TzifZone(at, offsets, r.initialOffsetMs, r.footer ? parsePosixTz(r.footer) : null);
  }

  /** The span of constant offset containing epochMs. */
  periodAt(t: number): Period {
    const { at, offsets } = this;
    const n = at.length;
    if (n === 0 || t >= (at[n - 1] as number)) return this.tailPeriod(t);
    if (t < (at[0] as number))
      return { start: -Infinity, end: at[0] as number, offsetMs: this.initialOffsetMs };
    let lo = 0;
    let hi = n - 1; // at[lo] <= t < at[hi]
    while (hi - lo > 1) {
      const mid = (lo + hi) >> 1;
      if ((at[mid] as number) <= t) lo = mid;
      else hi = mid;
    }
    return { start: at[lo] as number, end: at[hi] as number, offsetMs: offsets[lo] as number };
  }

  /** After the last explicit transition: the footer's rule (or the last offset for ever). */
  private tailPeriod(t: number): Period {
    const n = this.at.length;
    const lastAt = n ? (this.at[n - 1] as number) : -Infinity;
    const lastOffset = n ? (this.offsets[n - 1] as number) : this.initialOffsetMs;
    const rule = this.rule;
    if (!rule) return { start: lastAt, end: Infinity, offsetMs: lastOffset };
    if (!rule.dst) {
      // A footer that disagrees with the data is the file's error; the footer is what is specified
      // for these instants (RFC 8536 §3.3), so it wins, from the last transition on.
      return { start: lastAt, end: Infinity, offsetMs: rule.stdOffsetMs };
    }
    const year = new Date(t).getUTCFullYear();
    const changes = [
      ...ruleChanges(rule, year - 1),
      ...ruleChanges(rule, year),
      ...ruleChanges(rule, year + 1),
    ].sort((a, b) => a.at - b.at);
    let start = -Infinity;
    let offset = NaN;
    let end = Infinity;
    for (const c of changes) {
      if (c.at <= t) {
        if (c.offsetMs !== offset) start = c.at;
        offset = c.offsetMs;
      } else if (c.offsetMs !== offset) {
        end = c.at;
        break;
      }
    }
    if (Number.isNaN(offset)) offset = lastOffset; // no change in two years: cannot happen with DST
    // Rule changes before the last explicit transition are the data's business, not the footer's.
    if (start < lastAt) start = lastAt;
    return { start, end, offsetMs: offset };
  }
}

/** The two instants (ms) where a DST rule changes the offset in a year, with the offset after. */
function ruleChanges(rule: PosixRule, year: number): { at: number; offsetMs: number }[] {
  const dst = rule.dst!;
  const startLocal = ruleDay(dst.start, year) * MS_PER_DAY + dst.startTime * 1000;
  const endLocal = ruleDay(dst.end, year) * MS_PER_DAY + dst.endTime * 1000;
  // The start is given in standard time, the end in daylight time (POSIX).
  return [
    { at: startLocal - rule.stdOffsetMs, offsetMs: dst.offsetMs },
    { at: endLocal - dst.offsetMs, offsetMs: rule.stdOffsetMs },
  ];
}

/** Days since 1970-01-01 of a rule date in a year. */
function ruleDay(d: RuleDate, year: number): number {
  const jan1 = daysFromCivil(year, 1, 1);
  switch (d.kind) {
    case 'julian1':
      return jan1 + d.day - 1 + (isLeapYear(year) && d.day >= 60 ? 1 : 0);
    case 'julian0':
      return jan1 + d.day;
    case 'month': {
      const first = daysFromCivil(year, d.month, 1);
      let day = 1 + ((d.weekday - weekdayFromDays(first) + 7) % 7) + (d.week - 1) * 7;
      const dim = daysInMonth(year, d.month);
      while (day > dim) day -= 7; // week 5 = the last such weekday of the month
      return first + day - 1;
    }
  }
}

interface TzifData {
  times: number[];
  offsets: number[];
  initialOffsetMs: number;
  footer: string | null;
}

/** RFC 8536: header, the version 1 block (skipped when a version 2+ block follows), footer. */
function readTzif(buf: Buffer): TzifData {
  const header = (at: number) => {
    if (buf.length < at + 44 || buf.toString('latin1', at, at + 4) !== 'TZif') {
      throw new TzifError('not a TZif file');
    }
    const c = (i: number) => buf.readUInt32BE(at + 20 + 4 * i);
    return {
      version: buf[at + 4] as number,
      isutcnt: c(0),
      isstdcnt: c(1),
      leapcnt: c(2),
      timecnt: c(3),
      typecnt: c(4),
      charcnt: c(5),
    };
  };
  const blockSize = (h: ReturnType<typeof header>, timeSize: number) =>
    h.timecnt * timeSize +
    h.timecnt +
    h.typecnt * 6 +
    h.charcnt +
    h.leapcnt * (timeSize + 4) +
    h.isstdcnt +
    h.isutcnt;
  let h = header(0);
  let pos = 44;
  let timeSize = 4;
  if (h.version >= 0x32) {
    pos += blockSize(h, 4);
    h = header(pos);
    pos += 44;
    timeSize = 8;
  }
  if (h.leapcnt > 0) throw new TzifError('the file counts leap seconds (a right/ zone)');
  if (h.typecnt === 0) throw new TzifError('no local time types');
  if (buf.length < pos + blockSize(h, timeSize)) throw new TzifError('truncated');
  const times: number[] = [];
  for (let i = 0; i < h.timecnt; i++) {
    const p = pos + i * timeSize;
    times.push((timeSize === 8 ? Number(buf.readBigInt64BE(p)) : buf.readInt32BE(p)) * 1000);
  }
  const idxAt = pos + h.timecnt * timeSize;
  const typesAt = idxAt + h.timecnt;
  const utoff = (type: number) => {
    if (type >= h.typecnt) throw new TzifError('transition names a missing local time type');
    return buf.readInt32BE(typesAt + type * 6) * 1000;
  };
  const offsets = times.map((_, i) => utoff(buf[idxAt + i] as number));
  let footer: string | null = null;
  if (timeSize === 8) {
    const start = pos + blockSize(h, 8);
    const end = buf.indexOf(0x0a, start + 1);
    if (buf[start] === 0x0a && end > start) {
      const s = buf.toString('latin1', start + 1, end);
      footer = s.length > 0 ? s : null;
    }
  }
  // Local time type 0 holds before the first transition (RFC 8536 §3.2).
  return { times, offsets, initialOffsetMs: utoff(0), footer };
}

/** A POSIX TZ string with RFC 8536's extensions: `std offset [dst [offset] ,rule[/time],rule[/time]]`. */
export function parsePosixTz(s: string): PosixRule {
  let i = 0;
  const fail = (what: string): never => {
    throw new TzifError(`TZ string ${JSON.stringify(s)}: ${what} at ${i}`);
  };
  const name = () => {
    if (s[i] === '<') {
      const close = s.indexOf('>', i);
      if (close < 0) fail('unclosed <name>');
      i = close + 1;
      return;
    }
    const m = /^[A-Za-z]{3,}/.exec(s.slice(i));
    if (!m) fail('a zone abbreviation');
    i += m![0].length;
  };
  /** [+-]hh[:mm[:ss]] in seconds. */
  const hms = (maxHours: number) => {
    const m = /^([+-]?)(\d{1,3})(?::(\d{2}))?(?::(\d{2}))?/.exec(s.slice(i));
    if (!m) fail('a time');
    i += m![0].length;
    const [h, mm, ss] = [Number(m![2]), Number(m![3] ?? 0), Number(m![4] ?? 0)];
    if (h > maxHours || mm > 59 || ss > 59) fail('a time out of range');
    return (m![1] === '-' ? -1 : 1) * (h * 3600 + mm * 60 + ss);
  };
  const date = (): RuleDate => {
    let m: RegExpExecArray | null;
    if ((m = /^J(\d{1,3})/.exec(s.slice(i)))) {
      i += m[0].length;
      const day = Number(m[1]);
      if (day < 1 || day > 365) fail('a Julian day 1–365');
      return { kind: 'julian1', day };
    }
    if ((m = /^M(\d{1,2})\.(\d)\.(\d)/.exec(s.slice(i)))) {
      i += m[0].length;
      const [month, week, weekday] = [Number(m[1]), Number(m[2]), Number(m[3])];
      if (month < 1 || month > 12 || week < 1 || week > 5 || weekday > 6) fail('a Mm.w.d date');
      return { kind: 'month', month, week, weekday };
    }
    if ((m = /^(\d{1,3})/.exec(s.slice(i)))) {
      i += m[0].length;
      const day = Number(m[1]);
      if (day > 365) fail('a day 0–365');
      return { kind: 'julian0', day };
    }
    return fail('a rule date');
  };
  const time = () => {
    if (s[i] !== '/') return 7200; // 02:00 by default
    i++;
    return hms(167);
  };
  name();
  // POSIX offsets are west of Greenwich: "CET-1" is UTC+1.
  const west = (seconds: number) => (seconds === 0 ? 0 : -seconds * 1000);
  const stdOffsetMs = west(hms(24));
  if (i === s.length) return { stdOffsetMs };
  name();
  const dstOffsetMs = s[i] !== ',' && i < s.length ? west(hms(24)) : stdOffsetMs + 3_600_000;
  if (s[i] !== ',') fail('DST rules (",start[/time],end[/time]")');
  i++;
  const start = date();
  const startTime = time();
  if (s[i] !== ',') fail('","');
  i++;
  const end = date();
  const endTime = time();
  if (i !== s.length) fail('the end');
  return {
    stdOffsetMs,
    dst: { offsetMs: dstOffsetMs, start, startTime, end, endTime },
  };
}

/** Where the zone files are: $TZDIR (as glibc reads it) or Debian's /usr/share/zoneinfo. */
export function zoneinfoDir(env: NodeJS.ProcessEnv = process.env): string {
  return env.TZDIR && env.TZDIR.startsWith('/') ? env.TZDIR : '/usr/share/zoneinfo';
}

/**
 * The zone file for an IANA name, or null when there is none. Names are matched case-insensitively,
 * as Temporal and ICU match them ("europe/berlin" is Europe/Berlin); the caller has checked the
 * name's characters (no "." so no path escapes). The posix/ and right/ trees are not zone names.
 */
export function readZoneFile(name: string, dir = zoneinfoDir()): Buffer | null {
  const parts = name.split('/');
  if (parts.some((p) => p === '') || /^(posix|right)$/i.test(parts[0] ?? '')) return null;
  try {
    return readFileSync(join(dir, ...parts));
  } catch {
    // fall through to the case-insensitive walk
  }
  let path = dir;
  for (const part of parts) {
    let entries: string[];
    try {
      entries = readdirSync(path);
    } catch {
      return null;
    }
    const hit = entries.find((e) => e.toLowerCase() === part.toLowerCase());
    if (!hit) return null;
    path = join(path, hit);
  }
  try {
    return readFileSync(path);
  } catch {
    return null;
  }
}
