/**
 * Turns a stored Schedule into what the slot search needs — a wall-clock matcher plus zone rules, or
 * an instant — and collects every reason it cannot. validateSchedule() and nextSlot() share this so
 * a schedule the validator accepts is exactly one the search can evaluate.
 */
import { Temporal } from 'temporal-polyfill';
import { type CronSpec, parseCron } from './cron.js';
import type { Schedule, Weekday } from './types.js';
import { type ZoneRules, forgetZoneRules, zoneRules } from './zone.js';

export type Compiled =
  { kind: 'once'; at: number } | { kind: 'recurring'; spec: CronSpec; zone: ZoneRules };

export type CompileResult = { ok: true; compiled: Compiled } | { ok: false; errors: string[] };

export const WEEKDAYS: readonly Weekday[] = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'];

const HHMM = /^([01]\d|2[0-3]):([0-5]\d)$/;

/** Builds the matcher for "at HH:MM on these weekdays" (daily = all seven). */
function timeSpec(hour: number, minute: number, dow: Uint8Array): CronSpec {
  const nextMinute = new Int8Array(61).fill(-1);
  for (let v = 0; v <= minute; v++) nextMinute[v] = minute;
  const nextHour = new Int8Array(25).fill(-1);
  for (let v = 0; v <= hour; v++) nextHour[v] = hour;
  return {
    nextMinute,
    nextHour,
    dom: new Uint8Array(32).fill(1),
    month: new Uint8Array(13).fill(1),
    dow,
    dayOr: false,
  };
}

function checkTime(time: unknown, errors: string[]): [number, number] | null {
  const m = typeof time === 'string' ? HHMM.exec(time) : null;
  if (!m) {
    errors.push(`time ${JSON.stringify(time)} is not a valid HH:MM (00:00–23:59)`);
    return null;
  }
  return [Number(m[1]), Number(m[2])];
}

function checkZone(zone: unknown, errors: string[]): ZoneRules | null {
  const rules = typeof zone === 'string' ? zoneRules(zone) : null;
  if (!rules) errors.push(`zone ${JSON.stringify(zone)} is not a known IANA time zone`);
  return rules;
}

function compileUncached(s: Schedule): CompileResult {
  const errors: string[] = [];
  // Runtime input may not match the static type (it came over MQTT or from a file).
  const raw = s as unknown as Record<string, unknown>;
  switch (s?.kind) {
    case 'once': {
      let at = NaN;
      try {
        at = Temporal.Instant.from(String(raw.at)).epochMilliseconds;
      } catch {
        errors.push(
          `at ${JSON.stringify(raw.at)} is not a valid ISO 8601 instant with offset or Z`,
        );
      }
      return errors.length ? { ok: false, errors } : { ok: true, compiled: { kind: 'once', at } };
    }
    case 'daily':
    case 'weekly': {
      const zone = checkZone(raw.zone, errors);
      const time = checkTime(raw.time, errors);
      const dow = new Uint8Array(7);
      if (s.kind === 'daily') dow.fill(1);
      else if (!Array.isArray(raw.days) || raw.days.length === 0) {
        errors.push('weekly schedule needs at least one weekday');
      } else {
        for (const d of raw.days) {
          const i = WEEKDAYS.indexOf(d as Weekday);
          if (i < 0)
            errors.push(`unknown weekday ${JSON.stringify(d)} (use ${WEEKDAYS.join(', ')})`);
          else dow[i] = 1;
        }
      }
      if (errors.length || !zone || !time) return { ok: false, errors };
      return {
        ok: true,
        compiled: { kind: 'recurring', spec: timeSpec(time[0], time[1], dow), zone },
      };
    }
    case 'cron': {
      const zone = checkZone(raw.zone, errors);
      const parsed = parseCron(raw.expr as string);
      if (!parsed.ok) errors.push(...parsed.errors);
      if (!parsed.ok || !zone) return { ok: false, errors };
      return { ok: true, compiled: { kind: 'recurring', spec: parsed.spec, zone } };
    }
    default:
      return {
        ok: false,
        errors: [`unknown schedule kind ${JSON.stringify(raw?.kind)} (once, daily, weekly, cron)`],
      };
  }
}

const CACHE_MAX = 20_000;
const cache = new Map<string, CompileResult>();

/** Forget compiled schedules and the zone rules they hold: the zone files on disk changed. */
export function forgetCompiledSchedules(): void {
  cache.clear();
  forgetZoneRules();
}

/** Cached compile: planning evaluates the same few thousand schedules over and over. */
export function compileSchedule(s: Schedule): CompileResult {
  if (s?.kind !== 'once' && s?.kind !== 'daily' && s?.kind !== 'weekly' && s?.kind !== 'cron') {
    return compileUncached(s);
  }
  // JSON keeps field boundaries unambiguous whatever the (possibly hostile) strings contain.
  const raw = s as unknown as Record<string, unknown>;
  const key = JSON.stringify([s.kind, raw.at, raw.time, raw.zone, raw.days, raw.expr]);
  let r = cache.get(key);
  if (!r) {
    r = compileUncached(s);
    // Bounded: a flood of distinct schedules only costs recompiles, never unbounded memory.
    if (cache.size >= CACHE_MAX) cache.clear();
    cache.set(key, r);
  }
  return r;
}
