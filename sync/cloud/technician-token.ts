/**
 * `companion-cloud technician-token`: issue a technician access token (format in
 * sync/contract/technician.ts), or make the technician-authority key pair that signs them.
 * Offline: no broker needed. The backend's own issuing service can call `issueTechnicianToken`.
 *
 *   companion-cloud technician-token keygen [--out DIR]
 *   companion-cloud technician-token --unit unit-0042 --name anna --ttl 8h --allow read,test-call \
 *       --authority-key DIR/technician-authority.key
 */
import { createPublicKey, randomBytes, type KeyObject } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { generateSigningKeyPair, loadPrivateKey } from '../contract/signing.js';
import {
  encodeTechnicianToken,
  TECHNICIAN_SCOPES,
  technicianKeyId,
  technicianNameSchema,
  TOKEN_TYPE,
  type TechnicianClaims,
} from '../contract/technician.js';

export const TECHNICIAN_TOKEN_USAGE = `usage: companion-cloud technician-token [options]

  --unit ID[,ID...]        units the token is good for (and/or --site)
  --site NAME[,NAME...]    sites/groups (a unit lists its own in diagnostics.technician.sites)
  --name NAME              the technician, as the audit trail shows them
  --ttl DURATION           e.g. 30m, 8h, 2d (default 8h; units refuse more than their
                           diagnostics.technician.maxTtlHours, default 24 h)
  --allow SCOPES           comma-separated: ${TECHNICIAN_SCOPES.join(', ')}, or all (default read)
  --authority-key FILE     the technician-authority private key (PEM)
  --not-before ISO         valid from (default now)
  --token-only             print only the token

companion-cloud technician-token keygen [--out DIR]
                           writes DIR/technician-authority.key, prints the public key to pin`;

export class TechnicianTokenUsageError extends Error {}

const MAX_TTL_SEC = 7 * 24 * 3600;
const UNIT_MAX_TTL_DEFAULT_SEC = 24 * 3600;

export interface IssueRequest {
  name: string;
  units?: string[];
  sites?: string[];
  allow: string[];
  ttlSec: number;
  /** Epoch ms; default now. */
  notBefore?: number;
  now?: number;
  key: KeyObject;
}

export interface IssuedToken {
  token: string;
  tokenId: string;
  keyId: string;
  name: string;
  units: string[];
  sites: string[];
  allow: string[];
  issuedAt: string;
  notBefore: string;
  expiresAt: string;
}

/** Sign a token. Throws TechnicianTokenUsageError for requests a unit would refuse anyway. */
export function issueTechnicianToken(r: IssueRequest): IssuedToken {
  const name = technicianNameSchema.safeParse(r.name);
  if (!name.success) {
    throw new TechnicianTokenUsageError(`--name: ${name.error.issues[0]?.message ?? 'invalid'}`);
  }
  const units = r.units ?? [];
  const sites = r.sites ?? [];
  if (units.length + sites.length === 0) {
    throw new TechnicianTokenUsageError('name at least one --unit or --site');
  }
  const unknown = r.allow.filter((s) => !(TECHNICIAN_SCOPES as readonly string[]).includes(s));
  if (unknown.length > 0) {
    throw new TechnicianTokenUsageError(
      `--allow: unknown scope ${unknown.join(', ')} (known: ${TECHNICIAN_SCOPES.join(', ')})`,
    );
  }
  if (r.ttlSec <= 0 || r.ttlSec > MAX_TTL_SEC) {
    throw new TechnicianTokenUsageError('--ttl must be more than 0 and at most 7d');
  }
  const now = Math.floor((r.now ?? Date.now()) / 1000);
  const nbf = r.notBefore === undefined ? now : Math.floor(r.notBefore / 1000);
  const claims: TechnicianClaims = {
    typ: TOKEN_TYPE,
    kid: technicianKeyId(createPublicKey(r.key)),
    tid: randomBytes(12).toString('base64url'),
    name: name.data,
    units,
    sites,
    allow: [...new Set(r.allow)],
    iat: now,
    ...(nbf !== now ? { nbf } : {}),
    exp: nbf + r.ttlSec,
  };
  let token: string;
  try {
    token = encodeTechnicianToken(claims, r.key);
  } catch (err) {
    throw new TechnicianTokenUsageError((err as Error).message);
  }
  const iso = (s: number) => new Date(s * 1000).toISOString();
  return {
    token,
    tokenId: claims.tid,
    keyId: claims.kid,
    name: claims.name,
    units,
    sites,
    allow: claims.allow,
    issuedAt: iso(claims.iat),
    notBefore: iso(nbf),
    expiresAt: iso(claims.exp),
  };
}

/** "90m", "8h", "2d", or a bare number of hours. */
export function parseTtl(text: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*(m|h|d)?$/i.exec(text.trim());
  if (!m) throw new TechnicianTokenUsageError(`--ttl: expected e.g. 30m, 8h or 2d, got ${text}`);
  const n = Number(m[1]);
  const unit = (m[2] ?? 'h').toLowerCase();
  return Math.round(n * (unit === 'm' ? 60 : unit === 'h' ? 3600 : 86_400));
}

const list = (v: string | undefined) =>
  (v ?? '')
    .split(',')
    .map((x) => x.trim())
    .filter(Boolean);

/** The command; returns the exit code (0 ok, 2 usage error, 1 other failure). */
export function technicianTokenCommand(
  argv: string[],
  out: (s: string) => void = (s) => process.stdout.write(s),
  err: (s: string) => void = (s) => process.stderr.write(s),
): number {
  try {
    const { values: v, positionals } = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        unit: { type: 'string' },
        site: { type: 'string' },
        name: { type: 'string' },
        ttl: { type: 'string' },
        allow: { type: 'string' },
        'authority-key': { type: 'string' },
        'not-before': { type: 'string' },
        'token-only': { type: 'boolean' },
        out: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    });
    if (v.help) {
      out(`${TECHNICIAN_TOKEN_USAGE}\n`);
      return 0;
    }
    if (positionals[0] === 'keygen') {
      const k = generateSigningKeyPair();
      const dir = v.out ?? '.';
      mkdirSync(dir, { recursive: true, mode: 0o700 });
      const file = join(dir, 'technician-authority.key');
      // Never overwrite a key the fleet may already trust.
      writeFileSync(file, k.privateKeyPem, { mode: 0o600, flag: 'wx' });
      out(
        `${JSON.stringify({
          privateKeyFile: file,
          publicKey: k.publicKeyBase64,
          keyId: technicianKeyId(createPublicKey(loadPrivateKey(k.privateKeyPem))),
          configHint: { diagnostics: { technician: { authorityKeys: [k.publicKeyBase64] } } },
        })}\n`,
      );
      return 0;
    }
    if (positionals.length > 0) {
      throw new TechnicianTokenUsageError(`unexpected argument ${positionals[0]}`);
    }
    const keyFile = v['authority-key'];
    if (!keyFile) throw new TechnicianTokenUsageError('missing --authority-key FILE');
    if (!v.name) throw new TechnicianTokenUsageError('missing --name');
    let pem: string;
    try {
      pem = readFileSync(keyFile, 'utf8');
    } catch (e) {
      throw new TechnicianTokenUsageError(
        `cannot read --authority-key ${keyFile}: ${(e as Error).message}`,
      );
    }
    const allow = list(v.allow ?? 'read');
    const notBefore = v['not-before'] === undefined ? undefined : Date.parse(v['not-before']);
    if (notBefore !== undefined && !Number.isFinite(notBefore)) {
      throw new TechnicianTokenUsageError(`--not-before: not an ISO time: ${v['not-before']}`);
    }
    const ttlSec = parseTtl(v.ttl ?? '8h');
    const issued = issueTechnicianToken({
      name: v.name,
      units: list(v.unit),
      sites: list(v.site),
      allow: allow.includes('all') ? [...TECHNICIAN_SCOPES] : allow,
      ttlSec,
      ...(notBefore !== undefined ? { notBefore } : {}),
      key: loadPrivateKey(pem),
    });
    if (ttlSec > UNIT_MAX_TTL_DEFAULT_SEC) {
      err(
        'companion-cloud: note: units refuse tokens valid for longer than their ' +
          'diagnostics.technician.maxTtlHours (default 24)\n',
      );
    }
    out(v['token-only'] ? `${issued.token}\n` : `${JSON.stringify(issued)}\n`);
    return 0;
  } catch (e) {
    const usage =
      e instanceof TechnicianTokenUsageError ||
      (e as { code?: string }).code?.startsWith('ERR_PARSE_ARGS');
    err(
      `companion-cloud: ${(e as Error).message}\n${usage ? `\n${TECHNICIAN_TOKEN_USAGE}\n` : ''}`,
    );
    return usage ? 2 : 1;
  }
}
