/**
 * Who is asking: the bearer token of a request becomes a principal — a technician (a cloud-issued
 * token, verified offline by agent/technician/verify.ts) or the unit's own local token (for the CLI
 * and development; by default only from the unit itself). Every refusal carries a reason code.
 * Failed attempts are rate-limited per client address, separately from the general request limit:
 * once a client's failure bucket is empty, even a good token waits.
 */
import {
  TECHNICIAN_SCOPES,
  TOKEN_PREFIX,
  type TechnicianScope,
} from '../../sync/contract/technician-scopes.js';
import type {
  RefusalReason,
  TechnicianPrincipal,
  TechnicianVerifier,
} from '../technician/verify.js';
import { DiagnosticsError } from './errors.js';
import { RateLimiter } from './rate-limit.js';
import { tokenMatches } from './token.js';

export interface LocalPrincipal {
  kind: 'local';
  scopes: TechnicianScope[];
}

export type Principal = TechnicianPrincipal | LocalPrincipal;

export type AuthRefusalReason =
  RefusalReason | 'missing_token' | 'wrong_token' | 'local_token_not_allowed';

export type AuthResult =
  { ok: true; principal: Principal } | { ok: false; reason: AuthRefusalReason; message: string };

export interface AuthenticatorOptions {
  localToken: string;
  localTokenPolicy: 'loopback' | 'any' | 'off';
  /** Loaded on the first technician token (only technicians need the token schemas). */
  verifier: () => Promise<Pick<TechnicianVerifier, 'verify'>>;
  failures: { burst: number; refillSec: number };
  /** Monotonic ms (the failure limiter). */
  now?: () => number;
}

export function isLoopback(address: string | null | undefined): boolean {
  if (!address) return false;
  const a = address.toLowerCase();
  return a === '::1' || /^(::ffff:)?127\.\d+\.\d+\.\d+$/.test(a);
}

const LOCAL: LocalPrincipal = { kind: 'local', scopes: [...TECHNICIAN_SCOPES] };

export class Authenticator {
  private readonly failures: RateLimiter;

  constructor(private readonly o: AuthenticatorOptions) {
    this.failures = new RateLimiter(
      { perSecond: 1 / o.failures.refillSec, burst: o.failures.burst },
      o.now ?? (() => performance.now()),
    );
  }

  /** Throws DiagnosticsError rate_limited when this client has failed too often. */
  async authenticate(token: string | null, client: string): Promise<AuthResult> {
    const wait = this.failures.waitSec(client);
    if (wait > 0) {
      throw new DiagnosticsError(
        'rate_limited',
        `too many failed sign-ins from ${client}; try again in ${wait} s`,
        { retryAfterSec: wait, reason: 'too_many_failures' },
      );
    }
    const r = await this.check(token, client);
    if (!r.ok) this.failures.take(client);
    return r;
  }

  private async check(token: string | null, client: string): Promise<AuthResult> {
    if (token === null) {
      return {
        ok: false,
        reason: 'missing_token',
        message:
          'sign in with a technician token (Authorization: Bearer <token>); ' +
          'companion-cloud technician-token issues one',
      };
    }
    if (token.startsWith(`${TOKEN_PREFIX}.`)) {
      const v = (await this.o.verifier()).verify(token);
      return v.ok ? { ok: true, principal: v.principal } : v;
    }
    if (!tokenMatches(this.o.localToken, token)) {
      return {
        ok: false,
        reason: 'wrong_token',
        message: 'missing or wrong bearer token (Authorization: Bearer <token>)',
      };
    }
    const policy = this.o.localTokenPolicy;
    if (policy === 'off' || (policy === 'loopback' && !isLoopback(client))) {
      return {
        ok: false,
        reason: 'local_token_not_allowed',
        message:
          policy === 'off'
            ? "the unit's local token is switched off (diagnostics.technician.localToken); sign in with a technician token"
            : "the unit's local token works only on the unit itself; sign in with a technician token",
      };
    }
    return { ok: true, principal: LOCAL };
  }
}

/** 403 unless the principal holds `scope`. */
export function requireScope(p: Principal, scope: TechnicianScope): void {
  if (p.scopes.includes(scope)) return;
  throw new DiagnosticsError(
    'forbidden',
    `your token does not allow "${scope}" (it allows ${p.scopes.join(', ') || 'nothing this unit knows'})`,
    { reason: 'missing_scope', scope, allowed: p.scopes },
  );
}

/** Who an action is recorded as: the token's name, or (local token) the name the caller gave. */
export function actorOf(
  p: Principal,
  requestedBy: string | undefined,
): { name: string; tokenId: string | null } {
  if (p.kind === 'local') return { name: requestedBy ?? 'technician', tokenId: null };
  if (requestedBy !== undefined && requestedBy !== p.name) {
    throw new DiagnosticsError(
      'bad_request',
      `requestedBy is taken from your technician token (${p.name}); leave it out`,
    );
  }
  return { name: p.name, tokenId: p.tokenId };
}
