/**
 * Ed25519 signatures over the canonical form of an envelope (every member except `sig`). The cloud
 * signs, the unit verifies against the public keys pinned in its config, so a compromised broker
 * (or anyone with broker credentials) cannot book calls: it cannot produce a valid `sig`, and a
 * replayed signed message is harmless (command ids de-duplicate, versions go stale, the unit id
 * inside the signed bytes stops replay to another unit).
 */
import {
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  sign,
  verify,
  type KeyObject,
} from 'node:crypto';
import { canonicalJson } from './canonical.js';

export class KeyFormatError extends Error {
  override name = 'KeyFormatError';
}

/** DER prefix of an Ed25519 SubjectPublicKeyInfo; the 32 raw key bytes follow it. */
const ED25519_SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');

/** Accepts a PEM public key, or the 32 raw bytes in base64 (what `companion-cloud keygen` prints). */
export function loadPublicKey(text: string): KeyObject {
  const t = text.trim();
  try {
    const key = t.startsWith('-----BEGIN')
      ? createPublicKey(t)
      : createPublicKey({
          key: Buffer.concat([ED25519_SPKI_PREFIX, rawKeyBytes(t)]),
          format: 'der',
          type: 'spki',
        });
    if (key.asymmetricKeyType !== 'ed25519') {
      throw new KeyFormatError(`expected an ed25519 key, got ${key.asymmetricKeyType}`);
    }
    return key;
  } catch (err) {
    if (err instanceof KeyFormatError) throw err;
    throw new KeyFormatError(`not an ed25519 public key: ${(err as Error).message}`);
  }
}

function rawKeyBytes(b64: string): Buffer {
  const raw = Buffer.from(b64, 'base64');
  if (raw.length !== 32)
    throw new KeyFormatError('raw ed25519 public key must be 32 bytes (base64)');
  return raw;
}

export function loadPrivateKey(pem: string): KeyObject {
  try {
    const key = createPrivateKey(pem);
    if (key.asymmetricKeyType !== 'ed25519') {
      throw new KeyFormatError(`expected an ed25519 key, got ${key.asymmetricKeyType}`);
    }
    return key;
  } catch (err) {
    if (err instanceof KeyFormatError) throw err;
    throw new KeyFormatError(`not an ed25519 private key (PEM): ${(err as Error).message}`);
  }
}

/** Base64 of the 32 raw public key bytes: short enough to paste into a unit's config. */
export function publicKeyToBase64(key: KeyObject): string {
  const der = key.export({ format: 'der', type: 'spki' });
  return der.subarray(ED25519_SPKI_PREFIX.length).toString('base64');
}

export interface GeneratedKeyPair {
  privateKeyPem: string;
  publicKeyPem: string;
  publicKeyBase64: string;
}

export function generateSigningKeyPair(): GeneratedKeyPair {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  return {
    privateKeyPem: privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(),
    publicKeyPem: publicKey.export({ format: 'pem', type: 'spki' }).toString(),
    publicKeyBase64: publicKeyToBase64(publicKey),
  };
}

/** The bytes covered by a signature: the envelope minus `sig`, canonicalised. */
export function signedBytes(envelope: Record<string, unknown>): Buffer {
  const { sig: _sig, ...rest } = envelope;
  return Buffer.from(canonicalJson(rest), 'utf8');
}

export function signEnvelope<T extends Record<string, unknown>>(
  envelope: T,
  key: KeyObject,
): T & { sig: string } {
  const sig = sign(null, signedBytes(envelope), key).toString('base64');
  return { ...envelope, sig };
}

const STRICT_SIG = /^[A-Za-z0-9+/]{86}==$/;

/**
 * Whether one of `keys` signed this envelope. `data` is its signedBytes when the caller has them
 * already (the unit canonicalises a message once: the digest that names it and the signature).
 */
export function verifyEnvelope(
  envelope: Record<string, unknown>,
  keys: KeyObject[],
  data?: Buffer,
): boolean {
  const sig = envelope.sig;
  // Exactly one spelling: standard base64 of 64 bytes, padded (Buffer would also take base64url,
  // missing padding and stray characters — one message must not carry many different `sig`s).
  if (typeof sig !== 'string' || !STRICT_SIG.test(sig)) return false;
  const sigBytes = Buffer.from(sig, 'base64');
  if (sigBytes.length !== 64) return false;
  const bytes = data ?? signedBytes(envelope);
  return keys.some((k) => verify(null, bytes, k, sigBytes));
}
