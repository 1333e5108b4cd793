/**
 * A small 5-field cron parser (minute hour day-of-month month day-of-week) and a wall-clock matcher.
 * We need our own: the next-time search must run in local wall-clock minutes so the DST rules in
 * slots.ts can be applied explicitly, and node-cron exposes no such function.
 *
 * Grammar per field: comma list of `*`, `*\/step`, `n`, `a-b`, `a-b/step`, `n/step` (= n-max/step);
 * month names jan–dec and weekday names sun–sat (case-insensitive, also inside ranges); Sunday is 0
 * or 7. Day rule as in Vixie cron: when both day-of-month and day-of-week are restricted (neither
 * field starts with `*`), a day matches if EITHER matches; otherwise both must match.
 */
import {
  civilFromDays,
  daysFromCivil,
  daysInMonth,
  maxDaysInMonth,
  MINUTES_PER_DAY,
  weekdayFromDays,
} from './civil.js';

export interface CronSpec {
  /** nextMinute[v] = first allowed minute ≥ v, or -1 (length 61, so v = 60 reads -1). */
  nextMinute: Int8Array;
  nextHour: Int8Array;
  /** Allowed values as flags, indexed by value. */
  dom: Uint8Array; // 1..31
  month: Uint8Array; // 1..12
  dow: Uint8Array; // 0..6
  /** Vixie rule: both day fields restricted → OR, else AND. */
  dayOr: boolean;
}

interface FieldDef {
  name: string;
  min: number;
  max: number;
  names?: readonly string[];
  /** Offset of names[0] (months start at 1). */
  nameBase?: number;
}

const MONTH_NAMES = [
  'jan',
  'feb',
  'mar',
  'apr',
  'may',
  'jun',
  'jul',
  'aug',
  'sep',
  'oct',
  'nov',
  'dec',
];
const DOW_NAMES = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'];

const FIELDS: readonly FieldDef[] = [
  { name: 'minute', min: 0, max: 59 },
  { name: 'hour', min: 0, max: 23 },
  { name: 'day-of-month', min: 1, max: 31 },
  { name: 'month', min: 1, max: 12, names: MONTH_NAMES, nameBase: 1 },
  // 7 is accepted as Sunday and folded to 0 after parsing.
  { name: 'day-of-week', min: 0, max: 7, names: DOW_NAMES, nameBase: 0 },
];

export type CronParse = { ok: true; spec: CronSpec } | { ok: false; errors: string[] };

/** Parse a cron expression; on failure, every problem found is reported (one reason per field). */
export function parseCron(expr: string): CronParse {
  if (typeof expr !== 'string') return { ok: false, errors: ['cron expression must be a string'] };
  const parts = expr.trim().split(/\s+/);
  if (parts.length !== 5 || parts[0] === '') {
    return {
      ok: false,
      errors: [
        `cron expression must have 5 fields (minute hour day-of-month month day-of-week), got ${parts[0] === '' ? 0 : parts.length}`,
      ],
    };
  }
  const errors: string[] = [];
  const sets: Uint8Array[] = [];
  FIELDS.forEach((def, i) => {
    const r = parseField(parts[i] as string, def);
    if (typeof r === 'string') errors.push(r);
    else sets.push(r);
  });
  if (errors.length > 0) return { ok: false, errors };
  const [minute, hour, dom, month, dowRaw] = sets as [
    Uint8Array,
    Uint8Array,
    Uint8Array,
    Uint8Array,
    Uint8Array,
  ];
  const dow = dowRaw.slice(0, 7);
  if (dowRaw[7]) dow[0] = 1;
  const spec: CronSpec = {
    nextMinute: nextTable(minute, 60),
    nextHour: nextTable(hour, 24),
    dom,
    month,
    dow,
    dayOr: !(parts[2] as string).startsWith('*') && !(parts[4] as string).startsWith('*'),
  };
  if (!canEverFire(spec)) {
    return {
      ok: false,
      errors: [`cron expression "${expr.trim()}" can never fire (no month has such a day)`],
    };
  }
  return { ok: true, spec };
}

/** Field text → flags indexed by value, or a human-readable reason. */
function parseField(text: string, def: FieldDef): Uint8Array | string {
  const flags = new Uint8Array(def.max + 1);
  for (const item of text.split(',')) {
    const m = /^([^/]+)(?:\/(.*))?$/.exec(item);
    if (!m) return `${def.name}: empty item in "${text}"`;
    const [, rangeText = '', stepText] = m;
    let step = 1;
    if (stepText !== undefined) {
      if (!/^\d+$/.test(stepText) || Number(stepText) < 1 || Number(stepText) > def.max) {
        return `${def.name}: bad step "/${stepText}" in "${text}" (must be 1–${def.max})`;
      }
      step = Number(stepText);
    }
    let lo: number;
    let hi: number;
    if (rangeText === '*') {
      lo = def.min;
      // `*` in day-of-week means 0–6; 7 would only duplicate Sunday.
      hi = def.name === 'day-of-week' ? 6 : def.max;
    } else {
      const bounds = rangeText.split('-');
      if (bounds.length > 2) return `${def.name}: bad range "${rangeText}"`;
      const a = parseValue(bounds[0] as string, def);
      if (typeof a === 'string') return a;
      lo = a;
      if (bounds.length === 2) {
        let b = parseValue(bounds[1] as string, def);
        if (typeof b === 'string') return b;
        // "mon-sun" / "5-0": Sunday closing a weekday range means 7, as in most crons.
        if (def.name === 'day-of-week' && b === 0 && a > 0) b = 7;
        if (b < a) return `${def.name}: range "${rangeText}" runs backwards`;
        hi = b;
      } else {
        hi = stepText !== undefined ? def.max : a; // `n/step` means n through max
      }
    }
    for (let v = lo; v <= hi; v += step) flags[v] = 1;
  }
  return flags;
}

function parseValue(s: string, def: FieldDef): number | string {
  if (/^\d+$/.test(s)) {
    const v = Number(s);
    if (v < def.min || v > def.max)
      return `${def.name}: ${v} is out of range ${def.min}–${def.max}`;
    return v;
  }
  const idx = def.names?.indexOf(s.toLowerCase()) ?? -1;
  if (idx >= 0) return idx + (def.nameBase ?? 0);
  return def.names
    ? `${def.name}: unknown value "${s}" (numbers ${def.min}–${def.max} or ${def.names[0]}–${def.names[def.names.length - 1]})`
    : `${def.name}: "${s}" is not a number`;
}

function nextTable(flags: Uint8Array, size: number): Int8Array {
  const t = new Int8Array(size + 1).fill(-1);
  for (let v = size - 1; v >= 0; v--) t[v] = flags[v] ? v : (t[v + 1] as number);
  return t;
}

/** With AND semantics a day-of-month must exist in some allowed month (31 February never does). */
function canEverFire(spec: CronSpec): boolean {
  if (spec.dayOr) return true;
  for (let m = 1; m <= 12; m++) {
    if (!spec.month[m]) continue;
    for (let d = 1; d <= maxDaysInMonth(m); d++) if (spec.dom[d]) return true;
  }
  return false;
}

function dayMatches(spec: CronSpec, days: number, d: number): boolean {
  const domOk = spec.dom[d] === 1;
  const dowOk = spec.dow[weekdayFromDays(days)] === 1;
  return spec.dayOr ? domOk || dowOk : domOk && dowOk;
}

/**
 * First matching wall-clock minute ≥ fromMin (minutes since 1970-01-01 local), or null if none
 * ≤ limitMin. Skips whole months, then days, then hours, then minutes — never minute-by-minute.
 */
export function nextCronMinute(spec: CronSpec, fromMin: number, limitMin: number): number | null {
  let days = Math.floor(fromMin / MINUTES_PER_DAY);
  const minOfDay = fromMin - days * MINUTES_PER_DAY;
  let h = Math.floor(minOfDay / 60);
  let mi = minOfDay - h * 60;
  while (days * MINUTES_PER_DAY <= limitMin) {
    const { y, m, d } = civilFromDays(days);
    if (!spec.month[m]) {
      days = m === 12 ? daysFromCivil(y + 1, 1, 1) : daysFromCivil(y, m + 1, 1);
      h = 0;
      mi = 0;
      continue;
    }
    if (d > daysInMonth(y, m) || !dayMatches(spec, days, d)) {
      days++;
      h = 0;
      mi = 0;
      continue;
    }
    const hh = spec.nextHour[h] as number;
    if (hh < 0) {
      days++;
      h = 0;
      mi = 0;
      continue;
    }
    if (hh !== h) mi = 0;
    const mm = spec.nextMinute[mi] as number;
    if (mm < 0) {
      h = hh + 1;
      mi = 0;
      if (h > 23) {
        days++;
        h = 0;
      }
      continue;
    }
    const found = days * MINUTES_PER_DAY + hh * 60 + mm;
    return found <= limitMin ? found : null;
  }
  return null;
}

/**
 * The housekeeping schedule's grammar: the 5-field cron of booking schedules, or node-cron's 6-field
 * form (seconds first) when the seconds are one number — what configurations written for node-cron
 * use; the run then starts at that minute.
 */
export function parseHousekeepingCron(
  expr: string,
): { ok: true; spec: CronSpec } | { ok: false; error: string } {
  const fields = typeof expr === 'string' ? expr.trim().split(/\s+/) : [];
  if (fields.length === 6) {
    if (!/^\d{1,2}$/.test(fields[0]!) || Number(fields[0]) > 59) {
      return { ok: false, error: 'a seconds field (6 fields) must be one number 0–59' };
    }
    fields.shift();
  }
  const r = parseCron(fields.join(' '));
  return r.ok ? r : { ok: false, error: r.errors.join('; ') };
}
