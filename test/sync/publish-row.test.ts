/**
 * The drain splices an outbox row's stored payload text into its envelope instead of parsing it
 * and printing it again (issue 14: a third of a drained row's allocations). The bytes on the wire
 * must be exactly what printing the parsed event gives — any payload, any row.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { envelopeFor, rowEnvelopeJson } from '../../sync/link/publish.js';

const publisher = { unitId: 'unit-7', now: () => Date.parse('2026-12-04T10:00:00.123Z') };

describe('rowEnvelopeJson', () => {
  it('is JSON.stringify of the envelope with the parsed payload, byte for byte', () => {
    fc.assert(
      fc.property(
        fc.record({
          seq: fc.integer({ min: 1, max: 2 ** 40 }),
          eventId: fc.uuid(),
          type: fc.constantFrom('command.result', 'booking.state', 'attempt.ended', 'x"\\\u2028'),
          class: fc.constantFrom('critical' as const, 'telemetry' as const),
          createdAt: fc.integer({ min: 0, max: 4_102_444_800_000 }),
        }),
        fc.dictionary(fc.string(), fc.jsonValue()),
        (row, payload) => {
          const payloadJson = JSON.stringify(payload);
          const text = rowEnvelopeJson(publisher, { ...row, payloadJson });
          const reference = JSON.stringify(
            envelopeFor<'events'>(
              publisher,
              {
                eventId: row.eventId,
                type: row.type,
                class: row.class,
                createdAt: new Date(row.createdAt).toISOString(),
                payload: JSON.parse(payloadJson) as Record<string, unknown>,
              },
              { msgId: row.eventId, seq: row.seq },
            ),
          );
          expect(text).toBe(reference);
        },
      ),
      { numRuns: 300 },
    );
  });
});
