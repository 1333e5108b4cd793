/**
 * Signature test vectors for docs/protocol.md ("Signatures, canonical bytes and test vectors"):
 * a published TEST key and envelopes chosen where JSON serialisers disagree (non-ASCII, escapes,
 * number forms, key order by UTF-16 code units, nesting), each with its canonical bytes and its
 * signature. Ed25519 is deterministic, so a correct implementation in any language reproduces every
 * byte. `npm run vectors` writes them into the doc; a test fails when the doc and the code differ.
 *
 * The test key is the RFC 8032 §7.1 "TEST 1" key: anyone can sign with it. TEST ONLY — never pin its
 * public key on a unit.
 */
import { createPrivateKey, createPublicKey, type KeyObject } from 'node:crypto';
import { canonicalJson } from './canonical.js';
import { publicKeyToBase64, signEnvelope, signedBytes } from './signing.js';

/** The 32-byte Ed25519 seed ("private key" in RFC 8032 terms) of the published test key. */
export const TEST_SEED_HEX = '9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60';

/** DER prefix of an Ed25519 PKCS#8 PrivateKeyInfo (RFC 8410); the 32-byte seed follows it. */
export const ED25519_PKCS8_PREFIX_HEX = '302e020100300506032b657004220420';

/** PKCS#8 PEM of an Ed25519 key from its raw 32-byte seed: prefix + seed, base64, PEM armour. */
export function privateKeyPemFromSeed(seed: Buffer): string {
  if (seed.length !== 32) throw new Error('an ed25519 seed is 32 bytes');
  const der = Buffer.concat([Buffer.from(ED25519_PKCS8_PREFIX_HEX, 'hex'), seed]);
  return createPrivateKey({ key: der, format: 'der', type: 'pkcs8' })
    .export({ format: 'pem', type: 'pkcs8' })
    .toString();
}

export const TEST_PRIVATE_KEY_PEM = privateKeyPemFromSeed(Buffer.from(TEST_SEED_HEX, 'hex'));
const testKey: KeyObject = createPrivateKey(TEST_PRIVATE_KEY_PEM);
/** What `mqtt.signature.publicKeys` would hold for the test key (base64 of the 32 raw bytes). */
export const TEST_PUBLIC_KEY_BASE64 = publicKeyToBase64(createPublicKey(testKey));

export interface Vector {
  name: string;
  covers: string;
  /** The envelope without `sig`, as JSON text: spelled on purpose the way a sender might write it. */
  json: string;
}

export interface ComputedVector extends Vector {
  canonical: string;
  canonicalHex: string;
  sig: string;
}

const head = (name: string) =>
  `"v": 1, "msgId": "vec-${name}", "unitId": "unit-0042", "sentAt": "2026-12-01T08:00:00.000Z"`;

export const VECTORS: readonly Vector[] = [
  {
    name: 'ascii',
    covers: 'members out of order and whitespace between tokens: neither is part of the bytes',
    json: `{ "body": { "action": "resync" },\n  ${head('ascii')} }`,
  },
  {
    name: 'strings',
    covers:
      'non-ASCII is written as UTF-8, never as \\u escapes (whatever the sender wrote); a ' +
      'character outside the BMP (4 UTF-8 bytes); the escapes JCS keeps: quote, backslash, \\n, ' +
      '\\t, U+001F as \\u001f (lowercase hex); U+2028 and U+007F are NOT escaped',
    json: [
      `{ ${head('strings')},`,
      `  "body": {`,
      `    "name": "Frau Müller",`,
      `    "sameNameEscaped": "Frau M\\u00fcller",`,
      `    "emoji": "😀",`,
      `    "emojiEscaped": "\\ud83d\\ude00",`,
      `    "escapes": "quote \\" backslash \\\\ newline \\n tab \\t unit-separator \\u001f",`,
      `    "notEscaped": "line-separator \\u2028 delete \\u007f slash \\/ euro \\u20ac"`,
      `  } }`,
    ].join('\n'),
  },
  {
    name: 'numbers',
    covers:
      'every number is an IEEE 754 double written the ECMAScript way: 0.0 and -0 are 0, 1e21 ' +
      'is 1e+21, 1.5e-7 keeps its exponent, 0.000001 does not, 100.0 and 1E2 are 100, ' +
      '2**53-1 is exact; an array keeps its order',
    json: [
      `{ ${head('numbers')},`,
      `  "body": { "numbers": [0, 0.0, -0, 1e21, 1.5e-7, 0.2, 9007199254740991, 100,`,
      `    100.0, 1E2, -1.5, 0.000001, 1e-7, 123456789012345678901, 5e-324, 1.7976931348623157e308] } }`,
    ].join('\n'),
  },
  {
    name: 'key-order',
    covers:
      'members sorted by the UTF-16 code units of their names (not by code point, not by UTF-8 ' +
      'bytes): "😀" (D83D DE00) sorts BEFORE "Ａ" (FF21) although its code point is higher',
    json: [
      `{ ${head('key-order')},`,
      `  "body": { "a": 1, "B": 2, "é": 3, "€": 4, "😀": 5, "\\u0080": 6, "Ａ": 7, "aa": 8, "": 9 } }`,
    ].join('\n'),
  },
  {
    name: 'nested',
    covers:
      'objects inside arrays inside objects are sorted at every level; arrays keep their order; ' +
      'empty containers, null, true and false',
    json: [
      `{ ${head('nested')},`,
      `  "body": { "z": [ { "b": 1, "a": [] }, [], {}, [ { "y": null, "x": [true, false] } ] ],`,
      `    "a": { "d": { "c": { "b": "deep" } } } } }`,
    ].join('\n'),
  },
  {
    name: 'cmd',
    covers:
      'a real `cmd` message: a booking for agent "Frau Müller" with retry.jitter 0.2, and a ' +
      'cancel, as the unit validates and applies it',
    json: [
      `{`,
      `  "v": 1, "msgId": "vec-cmd", "unitId": "unit-0042", "seq": 18, "sentAt": "2026-12-01T08:00:00.000Z",`,
      `  "body": { "commands": [`,
      `    { "type": "booking.upsert", "commandId": "c-1",`,
      `      "booking": {`,
      `        "id": "mum-weekly", "version": 3, "callee": "+4930123456", "agentId": "Frau Müller",`,
      `        "schedule": { "kind": "weekly", "days": ["mon", "thu"], "time": "09:30", "zone": "Europe/Berlin" },`,
      `        "retry": { "maxAttempts": 3, "initialBackoffSec": 120, "maxBackoffSec": 900, "jitter": 0.2 } } },`,
      `    { "type": "booking.cancel", "commandId": "c-2", "bookingId": "old-call", "version": 5 }`,
      `  ] }`,
      `}`,
    ].join('\n'),
  },
];

export function computeVector(v: Vector): ComputedVector {
  const envelope = JSON.parse(v.json) as Record<string, unknown>;
  const bytes = signedBytes(envelope);
  const canonical = canonicalJson(envelope);
  if (Buffer.compare(bytes, Buffer.from(canonical, 'utf8')) !== 0) {
    throw new Error(`vector ${v.name}: signed bytes are not the canonical form`);
  }
  return { ...v, canonical, canonicalHex: bytes.toString('hex'), sig: signTest(envelope) };
}

function signTest(envelope: Record<string, unknown>): string {
  return signEnvelope(envelope, testKey).sig;
}

export function computeVectors(): ComputedVector[] {
  return VECTORS.map(computeVector);
}
