/**
 * fast-check generators for the unit's inbound surfaces: mostly-valid values with one field bent,
 * plus plain garbage, so both the "valid effect" and the "clear rejection" paths are exercised.
 */
import fc from 'fast-check';

export const UNIT = 'fuzz-unit';

const iso = fc
  .integer({ min: Date.UTC(2026, 10, 1), max: Date.UTC(2028, 0, 1) })
  .map((t) => new Date(t).toISOString());

/** Cron expressions from the grammar's own tokens, glued together, often wrong. */
export const cronExpr = fc
  .array(
    fc.oneof(
      fc.constantFrom(
        '*',
        '*/5',
        '0',
        '59',
        '1-5',
        'mon-fri',
        'jan',
        '7',
        '0,30',
        '60',
        '-1',
        'x',
        '*/0',
        '5/15',
      ),
      fc.string({ maxLength: 6 }),
    ),
    { minLength: 0, maxLength: 7 },
  )
  .map((parts) => parts.join(' '));

const zone = fc.constantFrom(
  'UTC',
  'Europe/Berlin',
  'America/New_York',
  'Mars/Olympus',
  '',
  'Etc/GMT+14',
);

export const schedule = fc.oneof(
  fc.record({ kind: fc.constant('once'), at: fc.oneof(iso, fc.string({ maxLength: 30 })) }),
  fc.record({
    kind: fc.constant('daily'),
    time: fc.oneof(
      fc.constantFrom('09:00', '23:59', '24:00', '9:00', '02:30'),
      fc.string({ maxLength: 6 }),
    ),
    zone,
  }),
  fc.record({
    kind: fc.constant('weekly'),
    days: fc.array(
      fc.oneof(fc.constantFrom('mon', 'sun', 'xyz'), fc.integer({ min: -1, max: 8 })),
      { maxLength: 8 },
    ),
    time: fc.constantFrom('10:00', '25:00'),
    zone,
  }),
  fc.record({ kind: fc.constant('cron'), expr: cronExpr, zone }),
  fc.anything(),
);

const callee = fc.oneof(
  fc.constantFrom(
    '+4915123456789',
    '+441632960961',
    '+19005550100',
    '110',
    '+49',
    '004915123456789',
  ),
  fc.string({ maxLength: 20 }),
);

export const booking = fc.record(
  {
    id: fc.oneof(fc.constantFrom('b1', 'b2', 'b3'), fc.string({ maxLength: 70 })),
    version: fc.oneof(fc.integer({ min: -2, max: 5 }), fc.constant('1')),
    callee,
    agentId: fc.oneof(fc.constant('companion-default'), fc.string({ maxLength: 3 })),
    schedule,
    ringTimeoutSec: fc.integer({ min: 0, max: 400 }),
    catchUpWindowSec: fc.integer({ min: -1, max: 100_000 }),
    misfire: fc.constantFrom('skip', 'fire_once', 'later'),
    paused: fc.boolean(),
    remaining: fc.integer({ min: -1, max: 3 }),
    extra: fc.anything(),
  },
  { requiredKeys: ['id', 'version', 'callee', 'agentId', 'schedule'] },
);

/** A booking the contract accepts, so the "valid effect" path gets real traffic. */
export const validBooking = fc.record({
  id: fc.constantFrom('b1', 'b2', 'b3', 'b4', 'b5'),
  version: fc.integer({ min: 1, max: 6 }),
  callee: fc.constant('+4915123456789'),
  agentId: fc.constant('companion-default'),
  schedule: fc.oneof(
    iso.map((at) => ({ kind: 'once', at })),
    fc.constant({ kind: 'daily', time: '09:00', zone: 'Europe/Berlin' }),
    fc.constant({ kind: 'cron', expr: '*/5 * * * *', zone: 'UTC' }),
  ),
});

export const command = fc.oneof(
  {
    weight: 3,
    arbitrary: fc.record({
      type: fc.constant('booking.upsert'),
      commandId: fc.uuid(),
      booking: validBooking,
    }),
  },
  fc.record({
    type: fc.constant('booking.upsert'),
    commandId: fc.oneof(fc.uuid(), fc.constantFrom('dup-1', '')),
    booking,
  }),
  fc.record({
    type: fc.constant('booking.cancel'),
    commandId: fc.uuid(),
    bookingId: fc.constantFrom('b1', 'b2', 'nope'),
    version: fc.integer({ min: 0, max: 9 }),
  }),
  fc.anything(),
);

export function envelopeOf(body: fc.Arbitrary<unknown>) {
  return fc.record(
    {
      v: fc.oneof({ weight: 5, arbitrary: fc.constant(1) }, fc.anything()),
      msgId: fc.oneof({ weight: 5, arbitrary: fc.uuid() }, fc.string({ maxLength: 140 })),
      unitId: fc.oneof(fc.constant(UNIT), fc.constant(UNIT), fc.constant('other-unit')),
      seq: fc.integer({ min: -1, max: 20 }),
      sentAt: fc.oneof({ weight: 5, arbitrary: iso }, fc.string({ maxLength: 10 })),
      sig: fc.string({ maxLength: 20 }),
      body,
    },
    { requiredKeys: ['v', 'msgId', 'unitId', 'sentAt', 'body'], noNullPrototype: true },
  );
}

export const commandBody = fc.record({
  commands: fc.array(command, { minLength: 0, maxLength: 6 }),
});

export const snapshotBody = fc.record({
  snapshotId: fc.constantFrom('s1', 's2'),
  chunk: fc.integer({ min: -1, max: 3 }),
  chunks: fc.integer({ min: 0, max: 3 }),
  bookings: fc.array(fc.oneof(validBooking, booking, fc.anything()), { maxLength: 4 }),
});

export const controlBody = fc.oneof(
  fc.record({ action: fc.constant('resync') }),
  fc.record({ action: fc.constant('test-call'), callee }),
  fc.record({ action: fc.constant('replay'), runId: fc.string({ maxLength: 130 }) }),
  fc.record({ action: fc.string({ maxLength: 10 }), x: fc.anything() }),
);
