/**
 * Offline verification of technician tokens (format: sync/contract/technician.ts). The unit needs
 * no network: the authority's public keys are pinned in its config, and the revocation list is the
 * last one the cloud pushed. Every refusal has a reason code and a sentence a technician can act on.
 *
 * Time: the unit's clock may be wrong (an RTC-less boot reads 1970). When the clock is untrusted,
 * "not yet valid" cannot be judged and is skipped, and "expired" is judged against the latest time
 * the unit knows has passed (the build floor, the highest time ever seen) — so a technician can
 * still get in to fix a unit whose clock is broken, but a token that had expired before is refused.
 */
import type { KeyObject } from 'node:crypto';
import {
  decodeTechnicianToken,
  TECHNICIAN_SCOPES,
  technicianKeyId,
  verifyTechnicianSignature,
  type Decoded,
  type TechnicianClaims,
  type TechnicianScope,
} from '../../sync/contract/technician.js';

export type RefusalReason =
  | 'malformed'
  | 'unknown_key'
  | 'bad_signature'
  | 'wrong_unit'
  | 'too_long_lived'
  | 'not_yet_valid'
  | 'expired'
  | 'revoked'
  | 'missing_scope';

export interface Refusal {
  ok: false;
  reason: RefusalReason;
  message: string;
}

export interface TechnicianPrincipal {
  kind: 'technician';
  name: string;
  tokenId: string;
  keyId: string;
  scopes: TechnicianScope[];
  /** Scopes in the token this unit does not know (they grant nothing). */
  unknownScopes: string[];
  units: string[];
  sites: string[];
  issuedAt: number;
  expiresAt: number;
}

/** What the unit knows about the time now. */
export interface TimeView {
  now: number;
  trusted: boolean;
  /** An instant the real time is certainly past (max of build floor and highest time seen). */
  atLeast: number;
}

export interface RevocationCheck {
  /** Why this token is revoked, or null. */
  revokedBecause(claims: TechnicianClaims): string | null;
}

export interface VerifierOptions {
  keys: KeyObject[];
  unitId: string;
  /** Sites/groups this unit belongs to. */
  sites: string[];
  maxTtlSec: number;
  skewSec: number;
  revocations: RevocationCheck;
  time: () => TimeView;
}

/** Signature checks are cached per token; everything else is checked on every request. */
const CACHE_SIZE = 64;

const iso = (ms: number) => new Date(ms).toISOString();
const KNOWN = new Set<string>(TECHNICIAN_SCOPES);

export class TechnicianVerifier {
  private readonly keys: Map<string, KeyObject>;
  private readonly verified = new Map<string, Decoded & { kid: string }>();

  constructor(private readonly o: VerifierOptions) {
    this.keys = new Map(o.keys.map((k) => [technicianKeyId(k), k]));
  }

  get keyIds(): string[] {
    return [...this.keys.keys()];
  }

  verify(token: string): { ok: true; principal: TechnicianPrincipal } | Refusal {
    const signed = this.checkSignature(token);
    if (!signed.ok) return signed;
    const c = signed.claims;
    const o = this.o;
    if (!c.units.includes(o.unitId) && !c.sites.some((s) => o.sites.includes(s))) {
      const targets = [...c.units.map((u) => `unit ${u}`), ...c.sites.map((s) => `site ${s}`)];
      return refuse(
        'wrong_unit',
        `this token is for ${targets.join(', ')}; this is unit ${o.unitId}` +
          (o.sites.length ? ` (sites ${o.sites.join(', ')})` : ''),
      );
    }
    if (c.exp - c.iat > o.maxTtlSec) {
      return refuse(
        'too_long_lived',
        `this token is valid for ${hours(c.exp - c.iat)} h; this unit accepts at most ${hours(o.maxTtlSec)} h ` +
          '(diagnostics.technician.maxTtlHours)',
      );
    }
    const t = o.time();
    const from = (c.nbf ?? c.iat) * 1000;
    const until = c.exp * 1000;
    const skew = o.skewSec * 1000;
    if (t.trusted && t.now + skew < from) {
      return refuse(
        'not_yet_valid',
        `this token is valid from ${iso(from)}; the unit's clock reads ${iso(t.now)}`,
      );
    }
    const now = t.trusted ? t.now : Math.max(t.now, t.atLeast);
    if (now - skew >= until) {
      return refuse(
        'expired',
        `this token expired at ${iso(until)}` +
          (t.trusted ? '' : ` (the unit's clock is untrusted; it is at least ${iso(now)})`) +
          '; ask for a new one',
      );
    }
    const revoked = o.revocations.revokedBecause(c);
    if (revoked) return refuse('revoked', revoked);
    return {
      ok: true,
      principal: {
        kind: 'technician',
        name: c.name,
        tokenId: c.tid,
        keyId: signed.kid,
        scopes: TECHNICIAN_SCOPES.filter((s) => c.allow.includes(s)),
        unknownScopes: c.allow.filter((s) => !KNOWN.has(s)),
        units: c.units,
        sites: c.sites,
        issuedAt: c.iat * 1000,
        expiresAt: until,
      },
    };
  }

  private checkSignature(token: string): (Decoded & { kid: string }) | Refusal {
    const hit = this.verified.get(token);
    if (hit) return hit;
    const d = decodeTechnicianToken(token);
    if (!d.ok) return refuse('malformed', d.message);
    const key = this.keys.get(d.claims.kid);
    if (!key) {
      return refuse(
        'unknown_key',
        this.keys.size === 0
          ? 'this unit has no technician authority key configured (diagnostics.technician.authorityKeys)'
          : `this token was signed by key ${d.claims.kid}, which this unit does not trust ` +
              `(it trusts ${this.keyIds.join(', ')})`,
      );
    }
    if (!verifyTechnicianSignature(d, key)) {
      return refuse('bad_signature', 'the token signature does not verify (altered or forged)');
    }
    const entry = { ...d, kid: d.claims.kid };
    if (this.verified.size >= CACHE_SIZE) {
      this.verified.delete(this.verified.keys().next().value as string);
    }
    this.verified.set(token, entry);
    return entry;
  }
}

function refuse(reason: RefusalReason, message: string): Refusal {
  return { ok: false, reason, message };
}

function hours(sec: number): string {
  return String(Math.round((sec / 3600) * 10) / 10);
}
