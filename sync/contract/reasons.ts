/**
 * Stable machine codes for rejections made by the link before a message reaches the applier
 * (docs/protocol.md lists these and the applier's own: invalid_schema, invalid_callee,
 * invalid_schedule, unknown_field, stale_version, tombstoned, covered_by_snapshot, command_id_reused,
 * dial_policy:*).
 */
export const LINK_REJECTIONS = {
  payload_too_large: 'the payload is larger than mqtt.maxPayloadBytes',
  invalid_json:
    'the payload is not UTF-8 JSON that can be canonicalised (a number out of range, a lone surrogate, nesting too deep)',
  invalid_envelope: 'the envelope does not match the contract (missing or unknown members)',
  unsupported_version: 'the envelope version is not one this unit speaks',
  unit_mismatch: 'the envelope is addressed to another unit',
  stale_message: 'sentAt is older than the freshness window, or too far in the future',
  signature_missing: 'a signature is required and the envelope has none',
  bad_signature: 'the signature does not verify against any pinned public key',
  msg_id_reused: 'this msgId already named another message; give every message its own id',
  invalid_body: 'the body does not match the schema of its topic',
  stale_snapshot: 'the snapshot is older than commands already applied',
  snapshot_mismatch: 'a snapshot chunk does not fit the snapshot being assembled',
  internal_error: 'the unit could not process the message (a bug: it is kept for audit and logged)',
  storage_full: "the unit's storage is full; nothing was applied, send it again later",
} as const;

export type LinkRejectionCode = keyof typeof LINK_REJECTIONS;

/** Codes a control result can carry besides the link's. */
export const CONTROL_CODES = {
  not_found: 'no run with that id',
  conflict: 'the run is not in a state the control applies to (e.g. not dead-lettered)',
  invalid: 'the control is not valid for this unit',
  'dial_policy:*': 'the dial policy refused the number (the reason follows the colon)',
} as const;
