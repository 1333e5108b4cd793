/**
 * Phone numbers are personal data (DESIGN.md rule 10): logs and diagnostics show only enough of a
 * number to tell calls apart — country code, up to 3 leading national digits, the last 2 — and a
 * fixed run of bullets so the length is not revealed either.
 */
// The max build, as the dial policy uses: one metadata set in the process, not two.
import { getCountries, getCountryCallingCode } from 'libphonenumber-js/max';

const BULLETS = '••• ••';

/** Every ITU country calling code libphonenumber knows; built once (≈200 entries). */
const CALLING_CODES: ReadonlySet<string> = new Set(
  getCountries().map((c) => getCountryCallingCode(c) as string),
);

/** Longest known calling-code prefix (1–3 digits) of a digit string, or '' if none matches. */
function splitCallingCode(digits: string): string {
  for (let len = 3; len >= 1; len--) {
    const cc = digits.slice(0, len);
    // A code must leave a national part behind, else the "code" is the whole number.
    if (cc.length === len && digits.length > len && CALLING_CODES.has(cc)) return cc;
  }
  return '';
}

/** At least this many national digits always stay hidden, so short numbers are not half-shown. */
const MIN_HIDDEN = 4;

/**
 * Mask a phone number for display: `+4915123456789` → `+49 151 ••• ••89`.
 * Never echoes input: odd or short input degrades to fewer revealed digits, never more.
 */
export function maskPhone(e164: string): string {
  // Loggers may hand us anything at runtime; never throw from a masking helper.
  const digits = typeof e164 === 'string' ? e164.replace(/\D/g, '') : '';
  const hasPlus = typeof e164 === 'string' && e164.trimStart().startsWith('+');
  const cc = hasPlus ? splitCallingCode(digits) : '';
  const national = digits.slice(cc.length);
  // Reveal the tail only if enough stays hidden, then the head only if still enough stays hidden.
  const tail = national.length >= 2 + MIN_HIDDEN ? 2 : 0;
  const head = tail ? Math.max(0, Math.min(3, national.length - tail - MIN_HIDDEN)) : 0;
  const parts: string[] = [];
  if (cc) parts.push(`+${cc}`);
  if (head > 0) parts.push(national.slice(0, head));
  parts.push(BULLETS + national.slice(national.length - tail));
  const out = parts.join(' ');
  return cc || !hasPlus ? out : `+${out}`;
}

/**
 * `+` then 6 or more digits, optionally separated by single spaces or dashes. Longer runs than
 * E.164's 15 digits are masked too: over-masking is harmless, a leaked tail is not.
 */
const PHONE_RUN = /\+\d(?:[ -]?\d){5,}/g;

/** Mask every phone-number-like run in free text (log lines, error messages). Idempotent. */
export function maskPhonesInText(s: string): string {
  if (typeof s !== 'string') return s;
  return s.replace(PHONE_RUN, (match: string, offset: number, whole: string) => {
    // Already-masked output ("+353 861 ••• ••89") contains 6 digits; leave it as it is.
    if (whole.startsWith(' •', offset + match.length)) return match;
    return maskPhone(match);
  });
}
