/**
 * Technician tokens as the unit verifies them, offline: every refusal reason, the scopes, what an
 * untrusted clock changes, junk that must never throw — and the format proven from its documented
 * words by a second implementation (the openssl command line signs and verifies the same bytes).
 */
import { execFileSync } from 'node:child_process';
import { createPublicKey, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { TechnicianVerifier, type TimeView } from '../../agent/technician/verify.js';
import { canonicalJson } from '../../sync/contract/canonical.js';
import {
  generateSigningKeyPair,
  loadPrivateKey,
  loadPublicKey,
} from '../../sync/contract/signing.js';
import {
  decodeTechnicianToken,
  encodeTechnicianToken,
  technicianKeyId,
  type TechnicianClaims,
  type TechnicianClaimsInput,
} from '../../sync/contract/technician.js';
import {
  issueTechnicianToken,
  parseTtl,
  TechnicianTokenUsageError,
} from '../../sync/cloud/technician-token.js';

const authority = generateSigningKeyPair();
const other = generateSigningKeyPair();
const key = loadPrivateKey(authority.privateKeyPem);
const kid = technicianKeyId(loadPublicKey(authority.publicKeyBase64));
const NOW = Date.UTC(2026, 11, 1, 10, 0, 0);
const S = Math.floor(NOW / 1000);

function claims(over: Partial<TechnicianClaimsInput> = {}): TechnicianClaimsInput {
  return {
    typ: 'companion.technician',
    kid,
    tid: 'tok-0000000001',
    name: 'anna',
    units: ['unit-0042'],
    allow: ['read', 'test-call'],
    iat: S - 60,
    exp: S + 8 * 3600,
    ...over,
  };
}

function verifier(
  o: {
    time?: Partial<TimeView>;
    revoked?: (c: TechnicianClaims) => string | null;
    sites?: string[];
    keys?: string[];
  } = {},
) {
  return new TechnicianVerifier({
    keys: (o.keys ?? [authority.publicKeyBase64]).map((k) => loadPublicKey(k)),
    unitId: 'unit-0042',
    sites: o.sites ?? ['lindenhof'],
    maxTtlSec: 24 * 3600,
    skewSec: 120,
    revocations: { revokedBecause: o.revoked ?? (() => null) },
    time: () => ({ now: NOW, trusted: true, atLeast: NOW - 86_400_000, ...o.time }),
  });
}

const sign = (c: TechnicianClaimsInput) => encodeTechnicianToken(c, key);
const refusal = (v: TechnicianVerifier, token: string) => {
  const r = v.verify(token);
  if (r.ok) throw new Error('expected a refusal');
  return r;
};

describe('technician token: accepted', () => {
  it('a good token gives the name, token id, scopes and expiry', () => {
    const r = verifier().verify(sign(claims()));
    expect(r).toMatchObject({
      ok: true,
      principal: {
        kind: 'technician',
        name: 'anna',
        tokenId: 'tok-0000000001',
        keyId: kid,
        scopes: ['read', 'test-call'],
        unknownScopes: [],
        expiresAt: (S + 8 * 3600) * 1000,
      },
    });
  });

  it('a site the unit belongs to is as good as its unit id', () => {
    const r = verifier().verify(sign(claims({ units: [], sites: ['lindenhof'] })));
    expect(r.ok).toBe(true);
  });

  it('scopes this unit does not know grant nothing but do not spoil the token', () => {
    const r = verifier().verify(sign(claims({ allow: ['read', 'launch-rockets'] })));
    expect(r).toMatchObject({
      ok: true,
      principal: { scopes: ['read'], unknownScopes: ['launch-rockets'] },
    });
  });

  it('a second pinned key (rotation) is accepted too', () => {
    const k2 = loadPrivateKey(other.privateKeyPem);
    const t = encodeTechnicianToken(claims({ kid: technicianKeyId(createPublicKey(k2)) }), k2);
    const v = verifier({ keys: [authority.publicKeyBase64, other.publicKeyBase64] });
    expect(v.verify(t).ok).toBe(true);
  });
});

describe('technician token: every refusal has its reason', () => {
  it('wrong unit', () => {
    const r = refusal(verifier(), sign(claims({ units: ['unit-0099'] })));
    expect(r.reason).toBe('wrong_unit');
    expect(r.message).toContain('unit unit-0099; this is unit unit-0042');
  });

  it('a site this unit is not in', () => {
    const r = refusal(verifier(), sign(claims({ units: [], sites: ['elsewhere'] })));
    expect(r.reason).toBe('wrong_unit');
  });

  it('expired (beyond the allowed clock skew), and not before it', () => {
    const exp = S - 121;
    const r = refusal(verifier(), sign(claims({ iat: S - 3600, exp })));
    expect(r.reason).toBe('expired');
    expect(r.message).toContain(new Date(exp * 1000).toISOString());
    expect(verifier().verify(sign(claims({ iat: S - 3600, exp: S - 60 }))).ok).toBe(true);
  });

  it('not yet valid: nbf (or iat) ahead of the unit clock beyond the skew', () => {
    const nbf = refusal(verifier(), sign(claims({ nbf: S + 600, exp: S + 3600 })));
    expect(nbf.reason).toBe('not_yet_valid');
    const iat = refusal(verifier(), sign(claims({ iat: S + 600, exp: S + 3600 })));
    expect(iat.reason).toBe('not_yet_valid');
    expect(verifier().verify(sign(claims({ iat: S + 60 }))).ok).toBe(true);
  });

  it('bad signature: any change to the claims or the signature', () => {
    const t = sign(claims());
    const [p, body, sig] = t.split('.') as [string, string, string];
    const forged = JSON.parse(Buffer.from(body, 'base64url').toString()) as TechnicianClaims;
    forged.allow = ['read', 'test-call', 'modem-reset'];
    const altered = `${p}.${Buffer.from(canonicalJson(forged)).toString('base64url')}.${sig}`;
    expect(refusal(verifier(), altered).reason).toBe('bad_signature');
    const flipped = Buffer.from(sig, 'base64url');
    flipped[5]! ^= 1;
    expect(refusal(verifier(), `${p}.${body}.${flipped.toString('base64url')}`).reason).toBe(
      'bad_signature',
    );
    // Signed by another key that claims to be the authority's.
    const imposter = encodeTechnicianToken(claims(), loadPrivateKey(other.privateKeyPem));
    expect(refusal(verifier(), imposter).reason).toBe('bad_signature');
  });

  it('unknown key: signed by a key the unit does not pin (or none pinned at all)', () => {
    const k2 = loadPrivateKey(other.privateKeyPem);
    const t = encodeTechnicianToken(claims({ kid: technicianKeyId(createPublicKey(k2)) }), k2);
    const r = refusal(verifier(), t);
    expect(r.reason).toBe('unknown_key');
    expect(r.message).toContain(kid);
    const none = refusal(verifier({ keys: [] }), sign(claims()));
    expect(none).toMatchObject({ reason: 'unknown_key' });
    expect(none.message).toContain('diagnostics.technician.authorityKeys');
  });

  it('revoked: the revocation list names it', () => {
    const r = refusal(
      verifier({ revoked: (c) => (c.tid === 'tok-0000000001' ? 'revoked by the cloud' : null) }),
      sign(claims()),
    );
    expect(r).toMatchObject({ reason: 'revoked', message: 'revoked by the cloud' });
  });

  it('too long lived for this unit', () => {
    const r = refusal(verifier(), sign(claims({ exp: S + 48 * 3600 })));
    expect(r.reason).toBe('too_long_lived');
    expect(r.message).toContain('maxTtlHours');
  });

  it('malformed: junk, wrong prefix, bad claims — with a sentence', () => {
    const v = verifier();
    for (const t of [
      'hello',
      'ctt1.a.b',
      'ctt2.' + sign(claims()).slice(5),
      sign(claims()) + '.extra',
      'ctt1.!!!.???',
    ]) {
      expect(refusal(v, t).reason, t).toBe('malformed');
    }
    const bad = { ...claims(), typ: 'something-else' };
    const body = Buffer.from(JSON.stringify(bad)).toString('base64url');
    const r = refusal(v, `ctt1.${body}.${randomBytes(64).toString('base64url')}`);
    expect(r.message).toMatch(/claims invalid: typ/);
  });
});

describe('technician token: an untrusted clock', () => {
  const broken: Partial<TimeView> = { now: Date.UTC(1970, 0, 1), trusted: false };

  it('skips "not yet valid" (the unit cannot know) so a technician can fix a unit in 1970', () => {
    const v = verifier({ time: { ...broken, atLeast: NOW - 3600_000 } });
    expect(v.verify(sign(claims())).ok).toBe(true);
  });

  it('still refuses a token that expired before the latest time the unit knows has passed', () => {
    const v = verifier({ time: { ...broken, atLeast: NOW } });
    const r = refusal(v, sign(claims({ iat: S - 7200, exp: S - 3600 })));
    expect(r.reason).toBe('expired');
    expect(r.message).toContain('untrusted');
  });
});

describe('technician token: never throws on junk', () => {
  it('random strings and mutations of a good token are refused with a reason', () => {
    const v = verifier();
    const good = sign(claims());
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string({ maxLength: 300 }),
          fc.string({ maxLength: 40 }).map((s) => `ctt1.${s}`),
          fc
            .tuple(fc.nat({ max: good.length - 1 }), fc.string({ minLength: 1, maxLength: 1 }))
            .map(([i, c]) => good.slice(0, i) + c + good.slice(i + 1)),
        ),
        (t) => {
          const r = v.verify(t);
          if (t === good) return r.ok;
          return !r.ok && typeof r.message === 'string' && r.message.length > 0;
        },
      ),
      { numRuns: 500, seed: 15 },
    );
  });
});

describe('the token format from its documented words (openssl as the other implementation)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'companion-token-openssl-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const keyFile = join(dir, 'authority.pem');
  writeFileSync(keyFile, authority.privateKeyPem, { mode: 0o600 });
  const pubFile = join(dir, 'authority.pub.pem');
  writeFileSync(pubFile, authority.publicKeyPem);

  it('a token made with `openssl pkeyutl -sign` over hand-written canonical JSON is accepted', () => {
    // Canonical JSON written by hand: keys sorted, no whitespace (docs/diagnostics.md).
    const text =
      `{"allow":["read"],"exp":${S + 3600},"iat":${S - 10},"kid":"${kid}",` +
      `"name":"bob","tid":"openssl-token-1","typ":"companion.technician","units":["unit-0042"]}`;
    const data = join(dir, 'claims.json');
    writeFileSync(data, text);
    execFileSync('openssl', [
      'pkeyutl',
      '-sign',
      '-inkey',
      keyFile,
      '-rawin',
      '-in',
      data,
      '-out',
      join(dir, 'sig'),
    ]);
    const sig = readFileSync(join(dir, 'sig'));
    const token = `ctt1.${Buffer.from(text).toString('base64url')}.${sig.toString('base64url')}`;
    expect(verifier().verify(token)).toMatchObject({
      ok: true,
      principal: { name: 'bob', tokenId: 'openssl-token-1' },
    });
  });

  it('`openssl pkeyutl -verify` accepts the signature of a token the cloud CLI issued', () => {
    const issued = issueTechnicianToken({
      name: 'Anna Müller',
      units: ['unit-0042'],
      allow: ['read', 'speaker-test'],
      ttlSec: 3600,
      key,
    });
    const [, body, sig] = issued.token.split('.') as [string, string, string];
    const claimsBytes = Buffer.from(body, 'base64url');
    // The part between the dots IS the canonical JSON the signature covers.
    expect(claimsBytes.toString()).toBe(canonicalJson(JSON.parse(claimsBytes.toString())));
    writeFileSync(join(dir, 'c2'), claimsBytes);
    writeFileSync(join(dir, 's2'), Buffer.from(sig, 'base64url'));
    const out = execFileSync('openssl', [
      'pkeyutl',
      '-verify',
      '-pubin',
      '-inkey',
      pubFile,
      '-rawin',
      '-in',
      join(dir, 'c2'),
      '-sigfile',
      join(dir, 's2'),
    ]).toString();
    expect(out).toMatch(/Signature Verified Successfully/);
    expect(decodeTechnicianToken(issued.token)).toMatchObject({
      ok: true,
      claims: { name: 'Anna Müller', allow: ['read', 'speaker-test'] },
    });
  });
});

describe('issuing (companion-cloud technician-token)', () => {
  it('parses durations', () => {
    expect(parseTtl('8h')).toBe(8 * 3600);
    expect(parseTtl('30m')).toBe(1800);
    expect(parseTtl('2d')).toBe(2 * 86_400);
    expect(parseTtl('4')).toBe(4 * 3600);
    expect(() => parseTtl('soon')).toThrow(TechnicianTokenUsageError);
  });

  it('refuses what a unit would refuse anyway, with the reason', () => {
    const base = { name: 'anna', units: ['unit-0042'], allow: ['read'], ttlSec: 3600, key };
    expect(() => issueTechnicianToken({ ...base, units: [] })).toThrow(/--unit or --site/);
    expect(() => issueTechnicianToken({ ...base, allow: ['raed'] })).toThrow(/unknown scope raed/);
    expect(() => issueTechnicianToken({ ...base, ttlSec: 8 * 86_400 })).toThrow(/at most 7d/);
    expect(() => issueTechnicianToken({ ...base, name: 'x\ny' })).toThrow(/--name/);
  });
});
