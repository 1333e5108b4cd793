import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  DialPolicy,
  dialPolicyConfigSchema,
  validateCallee,
  type DialContext,
} from '../../agent/policy/dial-policy.js';

const NOON_BERLIN = Date.parse('2025-06-02T10:00:00Z');
const ctx = (over: Partial<DialContext> = {}): DialContext => ({
  now: NOON_BERLIN,
  callsLastHour: 0,
  callsLastDay: 0,
  ...over,
});
const reason = (p: DialPolicy, n: string, c = ctx()) => {
  const d = p.check(n, c);
  return d.ok ? 'ok' : d.reason;
};

describe('dialPolicyConfigSchema', () => {
  it('has safe defaults', () => {
    expect(dialPolicyConfigSchema().parse({})).toEqual({
      allowedCountries: ['DE', 'AT', 'CH', 'NL', 'GB', 'US', 'AU'],
      allowlist: [],
      allowPremium: false,
      allowShortCodes: false,
      maxCallsPerHour: 6,
      maxCallsPerDay: 40,
      quietHours: { start: '21:30', end: '07:30', zone: 'Europe/Berlin' },
    });
  });

  it('reports every bad field with its path', () => {
    const r = dialPolicyConfigSchema().safeParse({
      allowedCountries: ['de', 'XX'],
      allowlist: ['+49151'],
      maxCallsPerHour: -1,
      quietHours: { start: '25:00', end: '07:30', zone: 'Mars/Base' },
      extra: true,
    });
    expect(r.success).toBe(false);
    const paths = r.error!.issues.map((i) => i.path.join('.') || i.code);
    expect(paths).toEqual(
      expect.arrayContaining([
        'allowedCountries.1',
        'allowlist.0',
        'maxCallsPerHour',
        'quietHours.start',
        'quietHours.zone',
      ]),
    );
    expect(dialPolicyConfigSchema().parse({ allowedCountries: ['de'] }).allowedCountries).toEqual([
      'DE',
    ]);
    expect(
      dialPolicyConfigSchema().safeParse({
        quietHours: { start: '10:00', end: '10:00', zone: 'UTC' },
      }).success,
    ).toBe(false);
  });

  it('defaults are not shared between parsed configs', () => {
    const a = dialPolicyConfigSchema().parse({});
    a.allowedCountries.push('FR');
    expect(dialPolicyConfigSchema().parse({}).allowedCountries).not.toContain('FR');
  });
});

describe('validateCallee', () => {
  it('accepts valid E.164 and explains the rest', () => {
    expect(validateCallee('+4915123456789')).toBeNull();
    expect(validateCallee('015123456789')).toMatch(/E\.164/);
    expect(validateCallee('+49 151 23456789')).toMatch(/digits only/);
    expect(validateCallee('+4913712345')).toMatch(/not a valid phone number/);
    expect(validateCallee('+4913712345')).not.toContain('13712345'); // masked
    expect(validateCallee(42 as unknown as string)).toMatch(/E\.164/);
  });
});

describe('DialPolicy.check', () => {
  const p = new DialPolicy();

  it('allows a valid number in an allowed country and returns E.164 + country', () => {
    expect(p.check('+4915123456789', ctx())).toEqual({
      ok: true,
      e164: '+4915123456789',
      country: 'DE',
    });
    expect(p.check('+61412345678', ctx())).toEqual({
      ok: true,
      e164: '+61412345678',
      country: 'AU',
    });
  });

  it('raw-whitespace callee: checks the exact string it is given (no trimming), so what passes is what is dialled', () => {
    for (const n of [
      ' +61412345678 ',
      '+4915123456789\r',
      '+4915123456789\n',
      '\t+4915123456789',
    ]) {
      expect(p.check(n, ctx())).toMatchObject({ ok: false, reason: 'invalid_number' });
      expect(p.checkNumber(n)).toMatchObject({ ok: false, reason: 'invalid_number' });
    }
  });

  it('invalid_number', () => {
    for (const n of [
      '',
      'hello',
      '+4913712345',
      '+15551234567',
      '0049151234567',
      '+49 151 23456789',
    ]) {
      expect(reason(p, n), n).toBe('invalid_number');
    }
    const d = p.check('+4913712345', ctx());
    expect(!d.ok && d.message).not.toContain('13712345');
  });

  it('country_not_allowed (incl. Caribbean +1 and non-geographic numbers)', () => {
    expect(reason(p, '+33612345678')).toBe('country_not_allowed'); // FR
    expect(reason(p, '+18762345678')).toBe('country_not_allowed'); // JM, +1 but not US
    expect(reason(new DialPolicy({ allowedCountries: ['FR'] }), '+33612345678')).toBe('ok');
  });

  it('premium_rate: premium, shared-cost and personal numbers unless allowed', () => {
    expect(reason(p, '+449098790000')).toBe('premium_rate'); // GB premium
    expect(reason(p, '+19005551234')).toBe('premium_rate'); // US 900
    expect(reason(p, '+4918012345678')).toBe('premium_rate'); // DE shared cost
    expect(reason(p, '+447012345678')).toBe('premium_rate'); // GB personal number
    expect(reason(new DialPolicy({ allowPremium: true }), '+449098790000')).toBe('ok');
    expect(reason(p, '+4980012345678')).toBe('ok'); // toll-free is fine
  });

  it('short_code: bare or with a country prefix, unless allowed', () => {
    expect(reason(p, '116117')).toBe('short_code');
    expect(reason(p, '112')).toBe('short_code');
    expect(reason(p, '+49110')).toBe('short_code');
    const allowed = new DialPolicy({ allowShortCodes: true });
    expect(allowed.check('116117', ctx())).toEqual({ ok: true, e164: '116117', country: '' });
    expect(reason(allowed, '+49110')).toBe('short_code'); // not dialable with a prefix
  });

  it('not_in_allowlist: a non-empty allowlist admits only its numbers', () => {
    const a = new DialPolicy({ allowlist: ['+4915123456789'] });
    expect(reason(a, '+4915123456789')).toBe('ok');
    expect(reason(a, '+4915123456780')).toBe('not_in_allowlist');
    expect(reason(a, '+33612345678')).toBe('country_not_allowed'); // country rule still applies
    expect(
      reason(new DialPolicy({ allowlist: ['+4915123456789'], allowShortCodes: true }), '112'),
    ).toBe('not_in_allowlist');
  });

  it('rate caps at the boundary', () => {
    expect(reason(p, '+4915123456789', ctx({ callsLastHour: 5 }))).toBe('ok');
    expect(reason(p, '+4915123456789', ctx({ callsLastHour: 6 }))).toBe('rate_limit_hour');
    expect(reason(p, '+4915123456789', ctx({ callsLastDay: 39 }))).toBe('ok');
    expect(reason(p, '+4915123456789', ctx({ callsLastDay: 40 }))).toBe('rate_limit_day');
    expect(reason(p, '+4915123456789', ctx({ callsLastHour: 6, callsLastDay: 40 }))).toBe(
      'rate_limit_hour',
    );
    const none = new DialPolicy({ maxCallsPerHour: 0 });
    expect(reason(none, '+4915123456789')).toBe('rate_limit_hour');
  });

  it('rate caps under a burst: exactly maxCallsPerHour calls go out', () => {
    const pol = new DialPolicy({ quietHours: null });
    let placed = 0;
    for (let i = 0; i < 100; i++) {
      if (pol.check('+4915123456789', ctx({ callsLastHour: placed, callsLastDay: placed })).ok)
        placed++;
    }
    expect(placed).toBe(6);
  });

  describe('quiet hours (21:30–07:30 Europe/Berlin by default)', () => {
    const at = (iso: string) => reason(p, '+4915123456789', ctx({ now: Date.parse(iso) }));

    it('span midnight', () => {
      expect(at('2025-06-02T19:29:00Z')).toBe('ok'); // 21:29 CEST
      expect(at('2025-06-02T19:30:00Z')).toBe('quiet_hours'); // 21:30 CEST
      expect(at('2025-06-02T22:00:00Z')).toBe('quiet_hours'); // 00:00 CEST
      expect(at('2025-06-03T05:29:00Z')).toBe('quiet_hours'); // 07:29 CEST
      expect(at('2025-06-03T05:30:00Z')).toBe('ok'); // 07:30 CEST
    });

    it('follow local time across DST', () => {
      // 05:45Z is 06:45 CET the day before the spring change (quiet) and 07:45 CEST on it (not).
      expect(at('2025-03-29T05:45:00Z')).toBe('quiet_hours');
      expect(at('2025-03-30T05:45:00Z')).toBe('ok');
      // Fall-back night: 06:15Z is 07:15 CET → still quiet; a day earlier 08:15 CEST.
      expect(at('2025-10-26T06:15:00Z')).toBe('quiet_hours');
      expect(at('2025-10-25T06:15:00Z')).toBe('ok');
    });

    it('a booking may be allowed to ring in them; null disables them', () => {
      const night = Date.parse('2025-06-02T23:00:00Z');
      expect(reason(p, '+4915123456789', ctx({ now: night, allowQuietHours: true }))).toBe('ok');
      expect(
        reason(new DialPolicy({ quietHours: null }), '+4915123456789', ctx({ now: night })),
      ).toBe('ok');
    });

    it('a window that does not span midnight, in another zone', () => {
      const q = new DialPolicy({
        quietHours: { start: '12:00', end: '14:00', zone: 'Australia/Sydney' },
      });
      expect(reason(q, '+61412345678', ctx({ now: Date.parse('2025-06-02T02:30:00Z') }))).toBe(
        'quiet_hours',
      ); // 12:30 AEST
      expect(reason(q, '+61412345678', ctx({ now: Date.parse('2025-06-02T04:00:00Z') }))).toBe(
        'ok',
      ); // 14:00
    });
  });

  it('never throws and never echoes the number in messages (fuzz)', () => {
    fc.assert(
      fc.property(
        fc.oneof(fc.string(), fc.stringMatching(/^\+?\d{1,18}$/)),
        fc.nat(100),
        (n, calls) => {
          const d = p.check(n, ctx({ callsLastHour: calls, callsLastDay: calls }));
          if (!d.ok) {
            const digits = n.replace(/\D/g, '');
            if (digits.length >= 6) expect(d.message).not.toContain(digits);
          }
        },
      ),
      { numRuns: 500 },
    );
  });
});
