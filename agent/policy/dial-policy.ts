/**
 * The dial policy: the last gate before the modem dials (DESIGN.md rule 10, issue 7). A compromised
 * broker or a bad booking must not turn a unit into a toll-fraud dialler or a night-time nuisance, so
 * the call runner asks check() before every attempt and records a refusal as a terminal run state.
 *
 * Order of checks (first failure wins): short code → valid E.164 → allowed country → allowlist →
 * premium/shared-cost → quiet hours → hourly cap → daily cap. Number checks come first because they
 * are permanent (retrying cannot help); the time-based ones may pass later.
 */
import { parsePhoneNumberFromString, type NumberType } from 'libphonenumber-js/max';
import { zoneRules } from '../schedule/zone.js';
import {
  type DialPolicyConfig,
  type DialPolicyConfigInput,
  dialPolicyConfigSchema,
} from './dial-policy-config.js';
import { maskPhone } from './phone.js';

export {
  dialPolicyConfigSchema,
  type DialPolicyConfig,
  type DialPolicyConfigInput,
} from './dial-policy-config.js';

export type DialRefusal =
  | 'invalid_number'
  | 'country_not_allowed'
  | 'not_in_allowlist'
  | 'premium_rate'
  | 'short_code'
  | 'rate_limit_hour'
  | 'rate_limit_day'
  | 'quiet_hours';

export interface DialContext {
  /** Wall-clock epoch ms (passed in: this module never reads a clock). */
  now: number;
  /** Calls placed (dial issued) in the hour / day before `now`, as the store counts them. */
  callsLastHour: number;
  callsLastDay: number;
  /** The booking explicitly allows ringing during quiet hours. */
  allowQuietHours?: boolean;
}

export type DialDecision =
  | {
      ok: true;
      /** What to dial: E.164, or the bare digits of an allowed short code. */
      e164: string;
      /** ISO 3166 alpha-2; '' for a short code (national by nature). */
      country: string;
    }
  | { ok: false; reason: DialRefusal; message: string };

/** Number types that cost the caller extra or route money to the callee — the toll-fraud targets. */
const PREMIUM_TYPES: ReadonlySet<NumberType> = new Set<NumberType>([
  'PREMIUM_RATE',
  'SHARED_COST',
  'PERSONAL_NUMBER',
]);

const E164 = /^\+[1-9]\d{1,14}$/;
/** A bare service/short number as dialled locally (112, 116117, 4636). */
const SHORT_CODE = /^\d{2,6}$/;
/** Decisions remembered per policy (cleared when full: a unit dials a few dozen numbers). */
const DECISION_CACHE = 1024;

/**
 * Verdicts of validateCallee, remembered: a burst of bookings names the same few family numbers
 * over and over, and libphonenumber's parse is most of a booking's validation (6 of 11 µs, issue
 * 14). Bounded like the policy's decisions; the verdict depends on the number alone.
 */
const calleeVerdicts = new Map<string, string | null>();

/** Reason a callee is not a valid E.164 number, or null. For input validation of bookings. */
export function validateCallee(number: string): string | null {
  if (typeof number !== 'string' || !E164.test(number)) {
    return 'callee must be an E.164 number: "+", country code and number, digits only (e.g. +4915123456789)';
  }
  const known = calleeVerdicts.get(number);
  if (known !== undefined) return known;
  const parsed = parsePhoneNumberFromString(number);
  const verdict =
    !parsed || !parsed.isValid() ? `callee ${maskPhone(number)} is not a valid phone number` : null;
  if (calleeVerdicts.size >= DECISION_CACHE) calleeVerdicts.clear();
  calleeVerdicts.set(number, verdict);
  return verdict;
}

function refuse(reason: DialRefusal, message: string): DialDecision {
  return { ok: false, reason, message };
}

function minutesOfDay(hhmm: string): number {
  return Number(hhmm.slice(0, 2)) * 60 + Number(hhmm.slice(3, 5));
}

export class DialPolicy {
  readonly config: DialPolicyConfig;
  private readonly decided = new Map<string, DialDecision>();
  private readonly allowlist: ReadonlySet<string>;
  private readonly countries: ReadonlySet<string>;

  /** Throws (zod) on an invalid config; the config loader reports those errors with their paths. */
  constructor(config: DialPolicyConfigInput = {}) {
    this.config = dialPolicyConfigSchema().parse(config);
    this.allowlist = new Set(this.config.allowlist);
    this.countries = new Set(this.config.allowedCountries);
  }

  /**
   * The permanent checks only (short code, valid E.164, allowed country, premium, allowlist): what
   * a booking's callee must pass when it arrives. The number is taken exactly as given — no
   * trimming: the string that is checked is the string that is dialled (as its normalised form).
   */
  checkNumber(number: string): DialDecision {
    // A pure function of the number and this policy's fixed config; libphonenumber's parse is the
    // dearest step of applying a booking (a 500-booking batch usually names a handful of callees).
    const key = typeof number === 'string' ? number : '';
    const hit = this.decided.get(key);
    if (hit) return hit;
    if (this.decided.size >= DECISION_CACHE) this.decided.clear();
    const decision = Object.freeze(this.decide(key));
    this.decided.set(key, decision);
    return decision;
  }

  private decide(num: string): DialDecision {
    const masked = maskPhone(num);
    let target: { e164: string; country: string };

    if (SHORT_CODE.test(num)) {
      if (!this.config.allowShortCodes)
        return refuse('short_code', `short code ${masked} is not allowed`);
      target = { e164: num, country: '' };
    } else {
      const parsed = E164.test(num) ? parsePhoneNumberFromString(num) : undefined;
      if (!parsed || !parsed.isValid()) {
        // "+49 110"-style: a short code written with a country prefix. Reported as a short code so
        // the operator sees the real intent; the modem cannot dial it with the prefix anyway.
        if (parsed && parsed.nationalNumber.length <= 6) {
          return refuse(
            'short_code',
            `short code ${masked} is not allowed (and not dialable with a country code)`,
          );
        }
        return refuse('invalid_number', `${masked} is not a valid E.164 phone number`);
      }
      const country = parsed.country ?? '';
      if (!this.countries.has(country)) {
        return refuse(
          'country_not_allowed',
          country
            ? `destination country ${country} (${masked}) is not in the allowed countries`
            : `${masked} is a non-geographic number; only allowed countries may be dialled`,
        );
      }
      const type = parsed.getType();
      if (!this.config.allowPremium && type !== undefined && PREMIUM_TYPES.has(type)) {
        return refuse(
          'premium_rate',
          `${masked} is a ${type.toLowerCase().replace('_', '-')} number`,
        );
      }
      target = { e164: parsed.number, country };
    }

    if (this.allowlist.size > 0 && !this.allowlist.has(target.e164)) {
      return refuse('not_in_allowlist', `${masked} is not in the dial allowlist`);
    }
    return { ok: true, ...target };
  }

  /** Every check, before a dial: the number's, then quiet hours and the hourly/daily caps. */
  check(number: string, ctx: DialContext): DialDecision {
    const target = this.checkNumber(number);
    if (!target.ok) return target;
    if (!ctx.allowQuietHours && this.inQuietHours(ctx.now)) {
      const q = this.config.quietHours;
      return refuse('quiet_hours', `quiet hours ${q?.start}–${q?.end} (${q?.zone}) are in force`);
    }
    if (!(ctx.callsLastHour < this.config.maxCallsPerHour)) {
      return refuse(
        'rate_limit_hour',
        `${ctx.callsLastHour} calls in the last hour reach the cap of ${this.config.maxCallsPerHour}`,
      );
    }
    if (!(ctx.callsLastDay < this.config.maxCallsPerDay)) {
      return refuse(
        'rate_limit_day',
        `${ctx.callsLastDay} calls in the last 24 h reach the cap of ${this.config.maxCallsPerDay}`,
      );
    }
    return target;
  }

  /** Quiet hours are local wall time in their zone; a window with start > end spans midnight. */
  inQuietHours(now: number): boolean {
    const q = this.config.quietHours;
    if (!q) return false;
    // The schema guarantees the zone exists.
    const local = (zoneRules(q.zone) as NonNullable<ReturnType<typeof zoneRules>>).toLocalMs(now);
    const minute = Math.floor((((local % 86_400_000) + 86_400_000) % 86_400_000) / 60_000);
    const start = minutesOfDay(q.start);
    const end = minutesOfDay(q.end);
    return start < end ? minute >= start && minute < end : minute >= start || minute < end;
  }
}
