/**
 * The light part of the technician token contract (no schemas): the token prefix and type, the
 * scopes, and the key id. The unit loads only this at start; the schemas in technician.ts are
 * loaded when the first technician token arrives.
 */
import { createHash, type KeyObject } from 'node:crypto';
import { publicKeyToBase64 } from './signing.js';

export const TOKEN_PREFIX = 'ctt1';
export const TOKEN_TYPE = 'companion.technician';

/** What a token can allow. `read` opens every GET; each action names its own scope. */
export const TECHNICIAN_SCOPES = [
  'read',
  'test-call',
  'replay',
  'resync',
  'modem-reset',
  'speaker-test',
  'mic-test',
] as const;
export type TechnicianScope = (typeof TECHNICIAN_SCOPES)[number];

/** First 16 hex digits of SHA-256 over the 32 raw public key bytes. */
export function technicianKeyId(publicKey: KeyObject): string {
  const raw = Buffer.from(publicKeyToBase64(publicKey), 'base64');
  return createHash('sha256').update(raw).digest('hex').slice(0, 16);
}
