/**
 * One envelope for every message on every topic: protocol version, message id, the unit it is
 * for/from, an optional per-unit sequence, when it was sent, an optional signature and the body.
 * `.strict()` everywhere: a member we do not know is a contract violation, not something to ignore,
 * because ignoring it would let a newer cloud believe an older unit honoured it.
 */
import { z } from 'zod';

export const PROTOCOL_VERSION = 1 as const;

export const unitIdSchema = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/, 'must be 1-64 letters, digits, ".", "_" or "-"');

export const msgIdSchema = z.string().min(1).max(128);

/** Per-unit sequence: cloud→unit command sequence, or unit→cloud outbox event sequence. */
export const seqSchema = z.number().int().min(1).max(Number.MAX_SAFE_INTEGER);

export const instantSchema = z.iso.datetime({ offset: true });

export function envelopeSchema<B extends z.ZodType>(body: B) {
  return z
    .object({
      v: z.literal(PROTOCOL_VERSION),
      msgId: msgIdSchema,
      unitId: unitIdSchema,
      seq: seqSchema.optional(),
      sentAt: instantSchema,
      /** Base64 Ed25519 signature over the canonical JSON of every other member. */
      sig: z.string().max(128).optional(),
      body,
    })
    .strict();
}

/** The envelope with the body left open: step one of inbound validation (body checked per topic). */
export const anyEnvelopeSchema = envelopeSchema(z.unknown());

export interface Envelope<B> {
  v: typeof PROTOCOL_VERSION;
  msgId: string;
  unitId: string;
  seq?: number;
  sentAt: string;
  sig?: string;
  body: B;
}
