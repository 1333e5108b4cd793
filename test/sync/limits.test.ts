/**
 * The contract's size limits derive from one another (sync/contract/limits.ts): the largest valid
 * booking command is at most MAX_COMMAND_BYTES, so a full batch of MAX_COMMANDS_PER_BATCH of them,
 * in its envelope, fits in the unit's default payload limit — no valid batch is refused for size.
 */
import { describe, expect, it } from 'vitest';
import {
  DEFAULT_MAX_PAYLOAD_BYTES,
  MAX_COMMAND_BYTES,
  MAX_COMMANDS_PER_BATCH,
} from '../../sync/contract/limits.js';
import { bookingCommandShape } from '../../sync/contract/booking.js';
import { commandBatchBodySchema } from '../../sync/contract/bodies.js';

const long = (n: number, c = 'a') => c.repeat(n);

/** Every member at its maximum length or widest value. */
function largestCommand(i: number) {
  return {
    type: 'booking.upsert',
    commandId: `${String(i).padStart(6, '0')}${long(122)}`,
    booking: {
      id: `${String(i).padStart(6, '0')}${long(58)}`,
      version: Number.MAX_SAFE_INTEGER,
      callee: '+491512345678901',
      agentId: long(128),
      schedule: { kind: 'cron', expr: long(256, '*'), zone: long(64, 'Z') },
      startsAt: '2026-12-01T08:00:00.000+01:00',
      endsAt: '2036-12-01T08:00:00.000+01:00',
      paused: false,
      remaining: 1_000_000,
      ringTimeoutSec: 180,
      maxDurationSec: 14_400,
      retry: {
        maxAttempts: 10,
        initialBackoffSec: 3600,
        maxBackoffSec: 21_600,
        jitter: 0.123456789,
      },
      catchUpWindowSec: 86_400,
      misfire: 'fire_once',
      dstGap: 'shift',
      allowQuietHours: false,
      announcement: long(64, 'p'),
    },
  };
}

describe('limits', () => {
  it('the largest valid command is within MAX_COMMAND_BYTES', () => {
    const c = largestCommand(1);
    expect(bookingCommandShape.safeParse(c).success).toBe(true);
    expect(Buffer.byteLength(JSON.stringify(c))).toBeLessThanOrEqual(MAX_COMMAND_BYTES);
  });

  it(`a batch of ${MAX_COMMANDS_PER_BATCH} of them fits in the default payload limit, one more is invalid`, () => {
    const commands = Array.from({ length: MAX_COMMANDS_PER_BATCH }, (_, i) => largestCommand(i));
    const env = {
      v: 1,
      msgId: long(128),
      unitId: long(64),
      seq: Number.MAX_SAFE_INTEGER,
      sentAt: '2026-12-01T08:00:00.000Z',
      sig: long(88),
      body: { commands },
    };
    expect(Buffer.byteLength(JSON.stringify(env))).toBeLessThanOrEqual(DEFAULT_MAX_PAYLOAD_BYTES);
    expect(commandBatchBodySchema.safeParse({ commands }).success).toBe(true);
    const over = { commands: [...commands, largestCommand(MAX_COMMANDS_PER_BATCH)] };
    expect(commandBatchBodySchema.safeParse(over).success).toBe(false);
  });
});
