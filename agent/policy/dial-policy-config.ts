/**
 * Dial policy configuration with safe defaults: a unit out of the box can call the countries our
 * care homes and their families are in, nothing premium, no short codes, a human-scale rate cap, and
 * no ringing at night.
 */
import { isSupportedCountry, parsePhoneNumberFromString } from 'libphonenumber-js/max';
import { z } from 'zod';
import { zoneRules } from '../schedule/zone.js';

const HHMM = /^([01]\d|2[0-3]):[0-5]\d$/;

/**
 * Default destinations: DACH + NL + GB + US + AU. Note '+1' numbers resolve to their NANP country:
 * Caribbean destinations (+1 876 JM, +1 809 DO — classic fraud targets) are not 'US'.
 */
export const DEFAULT_ALLOWED_COUNTRIES = ['DE', 'AT', 'CH', 'NL', 'GB', 'US', 'AU'];

const quietHoursSchema = () =>
  z
    .object({
      start: z.string().regex(HHMM, 'must be HH:MM (00:00–23:59)'),
      end: z.string().regex(HHMM, 'must be HH:MM (00:00–23:59)'),
      zone: z.string().refine((zone) => zoneRules(zone) !== null, 'is not a known IANA time zone'),
    })
    .strict()
    .refine(
      (q) => q.start !== q.end,
      'start and end must differ (use null to disable quiet hours)',
    );

export const dialPolicyConfigSchema = () =>
  z
    .object({
      /** ISO 3166 alpha-2 codes of countries that may be dialled. */
      allowedCountries: z
        .array(
          z
            .string()
            .transform((c) => c.toUpperCase())
            .refine(
              (c): boolean => isSupportedCountry(c),
              'is not a known ISO 3166 alpha-2 country code',
            ),
        )
        // Factories: a shared default array must not be mutable through one parsed config.
        .default(() => [...DEFAULT_ALLOWED_COUNTRIES]),
      /** E.164 numbers; when non-empty ONLY these may be dialled (on top of the country rule). */
      allowlist: z
        .array(
          z.string().refine((n) => {
            const p = /^\+[1-9]\d{1,14}$/.test(n) ? parsePhoneNumberFromString(n) : undefined;
            return p !== undefined && p.isValid();
          }, 'is not a valid E.164 number'),
        )
        .default(() => []),
      /**
       * Allow premium-rate, shared-cost and personal numbers (UK 070). With an allowlist, a listed
       * premium number is still refused unless this is true: the list says who, this says what cost.
       */
      allowPremium: z.boolean().default(false),
      /** Allow bare short codes (2–6 digits, e.g. 116117). */
      allowShortCodes: z.boolean().default(false),
      maxCallsPerHour: z.number().int().min(0).default(6),
      maxCallsPerDay: z.number().int().min(0).default(40),
      quietHours: quietHoursSchema()
        .nullable()
        .default(() => ({ start: '21:30', end: '07:30', zone: 'Europe/Berlin' })),
    })
    .strict();

export type DialPolicyConfig = z.output<ReturnType<typeof dialPolicyConfigSchema>>;
export type DialPolicyConfigInput = z.input<ReturnType<typeof dialPolicyConfigSchema>>;
