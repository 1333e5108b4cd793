/**
 * The size limits of the contract, derived from one another (docs/protocol.md "Limits"):
 *
 * - one booking command is at most MAX_COMMAND_BYTES of JSON (every member at its maximum length —
 *   checked by test/sync/limits.test.ts);
 * - a `cmd` message carries at most MAX_COMMANDS_PER_BATCH commands, so the largest valid batch
 *   (plus the envelope) fits in DEFAULT_MAX_PAYLOAD_BYTES; likewise a snapshot chunk;
 * - the unit advertises a maximum packet size of PACKET_LIMIT_FACTOR × its payload limit on CONNECT:
 *   a message a little too large still arrives and is refused with `payload_too_large` (kept for
 *   audit, answered); one far larger is dropped by the broker before the unit would buffer it.
 */

/** The largest booking command the contract allows, as JSON (bytes). */
export const MAX_COMMAND_BYTES = 1280;
/** Room for the envelope (ids, seq, sentAt, the signature) and the body's own members. */
export const ENVELOPE_ALLOWANCE_BYTES = 16 * 1024;
/** The unit's default inbound payload limit (`mqtt.maxPayloadBytes`). */
export const DEFAULT_MAX_PAYLOAD_BYTES = 1024 * 1024;

export const MAX_COMMANDS_PER_BATCH =
  Math.floor((DEFAULT_MAX_PAYLOAD_BYTES - ENVELOPE_ALLOWANCE_BYTES) / MAX_COMMAND_BYTES / 100) *
  100;
export const MAX_BOOKINGS_PER_CHUNK = MAX_COMMANDS_PER_BATCH;
export const MAX_RECEIPT_RANGES = 1000;

export const PACKET_LIMIT_FACTOR = 2;
