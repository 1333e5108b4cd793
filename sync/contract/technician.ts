/**
 * Technician access tokens and the revocation list: the contract between the cloud (which issues
 * tokens and pushes revocations) and the unit (which verifies tokens offline). docs/diagnostics.md
 * describes it for implementers in other languages.
 *
 * A token is three dot-separated parts:
 *
 *     ctt1.<base64url(canonical JSON of the claims)>.<base64url(Ed25519 signature)>
 *
 * The signature covers the canonical bytes of the claims (the same `canonicalJson` as envelope
 * signatures, sync/contract/canonical.ts), made with a technician-authority key whose public half is
 * pinned in the unit's config in the same format as the cloud signing keys (sync/contract/signing.ts).
 * The verifier re-canonicalises the decoded claims, so it never depends on the issuer's byte layout.
 * `typ` inside the signed bytes keeps a token from ever being mistaken for a signed envelope.
 */
import { sign, verify, type KeyObject } from 'node:crypto';
import { z } from 'zod';
import { canonicalJson } from './canonical.js';
import { TOKEN_PREFIX, TOKEN_TYPE } from './technician-scopes.js';

export {
  TECHNICIAN_SCOPES,
  technicianKeyId,
  TOKEN_PREFIX,
  TOKEN_TYPE,
  type TechnicianScope,
} from './technician-scopes.js';

/** A technician's name as it appears in audit trails: letters, digits, space and . _ @ ' - */
export const technicianNameSchema = z
  .string()
  .regex(
    /^[\p{L}\p{N}][\p{L}\p{N} ._@'-]{0,63}$/u,
    'letters, digits, space, ".", "_", "@", "\'" or "-" (1-64, starting with a letter or digit)',
  );

/** Unit ids and site names as the unit knows them (same alphabet as unit ids). */
const targetSchema = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/);
const epochSec = z.number().int().min(0).max(253_402_300_799);

export const technicianClaimsSchema = z
  .object({
    typ: z.literal(TOKEN_TYPE),
    /** Key id of the authority key that signed it (technicianKeyId). */
    kid: z.string().regex(/^[0-9a-f]{16}$/),
    /** Token id: what a revocation list names. */
    tid: z.string().regex(/^[A-Za-z0-9_-]{8,64}$/),
    name: technicianNameSchema,
    /** Units this token is good for (by unit id) ... */
    units: z.array(targetSchema).max(200).default([]),
    /** ... and/or sites/groups (a unit knows its own from diagnostics.technician.sites). */
    sites: z.array(targetSchema).max(50).default([]),
    /** Scopes; values this unit does not know grant nothing (a newer cloud may add some). */
    allow: z.array(z.string().min(1).max(32)).min(1).max(32),
    /** Issued at, not before, expires: epoch seconds. */
    iat: epochSec,
    nbf: epochSec.optional(),
    exp: epochSec,
  })
  .strict()
  .refine((c) => c.units.length + c.sites.length > 0, {
    message: 'a token names at least one unit or site',
    path: ['units'],
  })
  .refine((c) => c.exp > c.iat, { message: 'exp must be after iat', path: ['exp'] });

export type TechnicianClaims = z.infer<typeof technicianClaimsSchema>;
export type TechnicianClaimsInput = z.input<typeof technicianClaimsSchema>;

export function technicianSignedBytes(claims: unknown): Buffer {
  return Buffer.from(canonicalJson(claims), 'utf8');
}

/** Sign claims into a token (the cloud side). The claims are validated first. */
export function encodeTechnicianToken(claims: TechnicianClaimsInput, key: KeyObject): string {
  const parsed = technicianClaimsSchema.parse(claims);
  const bytes = technicianSignedBytes(parsed);
  const sig = sign(null, bytes, key);
  return `${TOKEN_PREFIX}.${bytes.toString('base64url')}.${sig.toString('base64url')}`;
}

export type DecodeFailure = { ok: false; message: string };
export type Decoded = {
  ok: true;
  claims: TechnicianClaims;
  /** The bytes the signature must cover (re-canonicalised from the decoded claims). */
  signedBytes: Buffer;
  signature: Buffer;
};

const B64URL = /^[A-Za-z0-9_-]+$/;
/** Far above any real token; bounds the work a junk Authorization header can cause. */
export const MAX_TOKEN_LENGTH = 8192;

/** Split and parse a token without checking the signature. Never throws. */
export function decodeTechnicianToken(text: string): Decoded | DecodeFailure {
  if (text.length > MAX_TOKEN_LENGTH) return { ok: false, message: 'token is too long' };
  const parts = text.split('.');
  if (parts.length !== 3 || parts[0] !== TOKEN_PREFIX) {
    return {
      ok: false,
      message: `not a technician token (expected ${TOKEN_PREFIX}.<claims>.<sig>)`,
    };
  }
  const [, body, sig] = parts as [string, string, string];
  if (!B64URL.test(body) || !B64URL.test(sig)) {
    return { ok: false, message: 'token parts must be base64url' };
  }
  const signature = Buffer.from(sig, 'base64url');
  const claimBytes = Buffer.from(body, 'base64url');
  // One spelling per token: unused trailing bits must be zero (no two strings for one token).
  if (signature.toString('base64url') !== sig || claimBytes.toString('base64url') !== body) {
    return { ok: false, message: 'token parts are not canonical base64url' };
  }
  if (signature.length !== 64) return { ok: false, message: 'signature must be 64 bytes' };
  let value: unknown;
  try {
    value = JSON.parse(claimBytes.toString('utf8'));
  } catch {
    return { ok: false, message: 'claims are not JSON' };
  }
  const parsed = technicianClaimsSchema.safeParse(value);
  if (!parsed.success) {
    const i = parsed.error.issues[0];
    return {
      ok: false,
      message: `claims invalid: ${i ? `${i.path.join('.') || '(root)'}: ${i.message}` : 'invalid'}`,
    };
  }
  // The signature covers the claims exactly as sent (not with defaults filled in).
  return { ok: true, claims: parsed.data, signedBytes: technicianSignedBytes(value), signature };
}

export function verifyTechnicianSignature(d: Decoded, key: KeyObject): boolean {
  try {
    return verify(null, d.signedBytes, key, d.signature);
  } catch {
    return false;
  }
}

/**
 * The revocation list the cloud pushes as the `technician.revocations` control: always the FULL
 * current list. A unit replaces its list only with a higher `version`; the same version with other
 * content is refused (one version means one list).
 */
export const MAX_REVOKED_TOKENS = 2000;
export const MAX_REVOKED_TECHNICIANS = 500;

export const revocationListSchema = z
  .object({
    /** Rises with every change of the list. */
    version: z.number().int().min(1).max(Number.MAX_SAFE_INTEGER),
    issuedAt: z.iso.datetime({ offset: true }),
    /** Single tokens by id; `expiresAt` lets the unit forget an entry once the token is dead anyway. */
    tokens: z
      .array(
        z
          .object({
            tid: z.string().regex(/^[A-Za-z0-9_-]{8,64}$/),
            expiresAt: z.iso.datetime({ offset: true }),
          })
          .strict(),
      )
      .max(MAX_REVOKED_TOKENS)
      .default([]),
    /** Every token of a technician issued before an instant (someone left, a laptop was lost). */
    technicians: z
      .array(
        z
          .object({ name: technicianNameSchema, issuedBefore: z.iso.datetime({ offset: true }) })
          .strict(),
      )
      .max(MAX_REVOKED_TECHNICIANS)
      .default([]),
  })
  .strict();

export type RevocationList = z.infer<typeof revocationListSchema>;
export type RevocationListInput = z.input<typeof revocationListSchema>;

export const REVOCATIONS_ACTION = 'technician.revocations' as const;
