/**
 * Stable machine codes for rejections made by the link before a command reaches the applier. The
 * applier adds its own (invalid_schema, invalid_callee, stale_version, tombstoned...).
 */
export const LINK_REJECTIONS = {
  payload_too_large: 'the payload is larger than mqtt.maxPayloadBytes',
  invalid_json: 'the payload is not UTF-8 JSON',
  invalid_envelope: 'the envelope does not match the contract (missing or unknown members)',
  unsupported_version: 'the envelope version is not one this unit speaks',
  unit_mismatch: 'the envelope is addressed to another unit',
  signature_missing: 'a signature is required and the envelope has none',
  bad_signature: 'the signature does not verify against any pinned public key',
  invalid_body: 'the body does not match the schema of its topic',
  stale_snapshot: 'the snapshot is older than commands already applied',
  snapshot_mismatch: 'a snapshot chunk does not fit the snapshot being assembled',
  control_failed: 'the control could not be carried out',
  storage_full: "the unit's storage is full; nothing was applied, send it again later",
} as const;

export type LinkRejectionCode = keyof typeof LINK_REJECTIONS;
