/**
 * Canonical bytes any language can produce (issue 11 §5), proven against an implementation that is
 * not ours: Python 3 with Debian's python3-cryptography (Ed25519) and jcs.py (RFC 8785 written from
 * the RFC, strings and integers by Debian's python3-canonicaljson). The doc's vectors are checked
 * against the code so they cannot drift. The same signatures through a real broker and a real unit:
 * xlang-unit.test.ts.
 */
import { createPrivateKey, createPublicKey, sign } from 'node:crypto';
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CloudClient } from '../../sync/cloud/client.js';
import { commandBatchBodySchema } from '../../sync/contract/bodies.js';
import { canonicalJson } from '../../sync/contract/canonical.js';
import { envelopeSchema } from '../../sync/contract/envelope.js';
import {
  generatedRegions,
  PROTOCOL_DOC,
  readRegion,
  renderVectors,
} from '../../sync/contract/gen-vectors.js';
import {
  generateSigningKeyPair,
  loadPrivateKey,
  loadPublicKey,
  signEnvelope,
  verifyEnvelope,
} from '../../sync/contract/signing.js';
import {
  computeVectors,
  privateKeyPemFromSeed,
  TEST_PRIVATE_KEY_PEM,
  TEST_PUBLIC_KEY_BASE64,
  TEST_SEED_HEX,
  VECTORS,
} from '../../sync/contract/vectors.js';
import { py } from './python/run.js';
import { booking } from './unit-harness.js';

const vectors = computeVectors();
const testPublic = loadPublicKey(TEST_PUBLIC_KEY_BASE64);
const byName = (name: string) => vectors.find((v) => v.name === name)!;
type Env = Record<string, unknown>;

describe('the published test key and key formats', () => {
  it('is the RFC 8032 TEST 1 key, and Python derives the same public key and PKCS#8 PEM', async () => {
    // RFC 8032 §7.1 TEST 1: public key and the signature of the empty message.
    const rfcPublic = 'd75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a';
    const rfcEmptySig =
      'e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b';
    expect(Buffer.from(TEST_PUBLIC_KEY_BASE64, 'base64').toString('hex')).toBe(rfcPublic);
    expect(TEST_PUBLIC_KEY_BASE64).toMatch(/^[A-Za-z0-9+/]{43}=$/);
    const key = loadPrivateKey(TEST_PRIVATE_KEY_PEM);
    expect(sign(null, Buffer.alloc(0), key).toString('hex')).toBe(rfcEmptySig);

    const fromPython = await py<{ publicKey: string; privateKeyPem: string }>([
      'keys',
      '--seed',
      TEST_SEED_HEX,
    ]);
    expect(fromPython.publicKey).toBe(TEST_PUBLIC_KEY_BASE64);
    // The doc's recipe (16-byte DER prefix + seed) gives byte-for-byte the PEM Python writes.
    expect(fromPython.privateKeyPem).toBe(TEST_PRIVATE_KEY_PEM);
    expect(TEST_PRIVATE_KEY_PEM).toMatch(/^-----BEGIN PRIVATE KEY-----\n/);
  });

  it('loads the public key as base64 of the 32 raw bytes and as PEM SPKI, to the same key', () => {
    const pem = createPublicKey(createPrivateKey(TEST_PRIVATE_KEY_PEM))
      .export({ format: 'pem', type: 'spki' })
      .toString();
    expect(pem).toMatch(/^-----BEGIN PUBLIC KEY-----\n/);
    const env = JSON.parse(byName('cmd').json) as Env;
    const signed = { ...env, sig: byName('cmd').sig };
    expect(verifyEnvelope(signed, [loadPublicKey(pem)])).toBe(true);
    expect(verifyEnvelope(signed, [testPublic])).toBe(true);
    expect(() => privateKeyPemFromSeed(Buffer.alloc(31))).toThrow(/32 bytes/);
  });
});

describe('canonical bytes: ours and Python agree', () => {
  it('(a) Python canonicalises every vector to exactly our bytes', async () => {
    const hex = await py<string[]>(
      ['canonical'],
      VECTORS.map((v) => v.json),
    );
    expect(hex).toEqual(vectors.map((v) => v.canonicalHex));
  });

  it('the vectors cover what they claim', () => {
    const strings = byName('strings').canonical;
    expect(strings).toContain('"name":"Frau Müller"');
    expect(strings).toContain('"sameNameEscaped":"Frau Müller"');
    expect(strings).toContain('"emojiEscaped":"😀"');
    expect(strings).toContain('\\"');
    expect(strings).toContain('\\\\');
    expect(strings).toContain('\\n');
    expect(strings).toContain('\\u001f');
    expect(strings).toContain('\u2028');
    expect(strings).not.toContain('\\u00fc');
    expect(byName('numbers').canonical).toContain(
      '[0,0,0,1e+21,1.5e-7,0.2,9007199254740991,100,100,100,-1.5,0.000001,1e-7,',
    );
    expect(byName('numbers').json).toMatch(/0\.0, -0, 1e21, 1\.5e-7/);
    expect(byName('key-order').canonical).toContain(
      '{"":9,"B":2,"a":1,"aa":8,"\u0080":6,"é":3,"€":4,"😀":5,"Ａ":7}',
    );
    // The realistic one is a valid cmd message, as the unit validates it.
    const cmd = envelopeSchema(commandBatchBodySchema).parse(JSON.parse(byName('cmd').json));
    expect(cmd.body.commands[0]).toMatchObject({
      booking: { agentId: 'Frau Müller', retry: { jitter: 0.2 } },
    });
  });

  it("Debian's canonicaljson alone is not RFC 8785: code-point key order and Python floats", async () => {
    // Why jcs.py sorts keys and writes numbers itself (and why the doc warns about the package).
    const [keys, numbers] = await py<string[]>(
      ['canonicaljson'],
      [byName('key-order').json, byName('numbers').json],
    );
    const text = (hex: string) => Buffer.from(hex, 'hex').toString('utf8');
    expect(text(keys!)).toContain('"€":4,"Ａ":7,"😀":5');
    expect(text(numbers!)).toContain('[0,0.0,0,1e+21,1.5e-07,');
    expect(keys).not.toBe(byName('key-order').canonicalHex);
  });

  it('numbers: Python writes 30,000 doubles (every binade, decimal-looking, edge cases) as we do', async () => {
    const xs = doubles(30_000);
    const bits = xs.map((x) => {
      const b = Buffer.alloc(8);
      b.writeDoubleBE(x);
      return b.toString('hex');
    });
    const python = await py<string[]>(['numbers'], bits);
    const ours = xs.map((x) => canonicalJson(x));
    const differ = ours.flatMap((o, i) =>
      o === python[i] ? [] : [`${bits[i]}: ${o} ≠ ${python[i]}`],
    );
    expect(differ).toEqual([]);
    expect(new Set(ours.map((o) => /e[+-]/.test(o))).size).toBe(2); // both notations exercised
  });

  it('random JSON values with awkward characters canonicalise to the same bytes', async () => {
    const awkward = ['a', 'B', 'é', '€', '😀', '\u0080', 'Ａ', '\ue000', '\uffff', '\u{10ffff}'];
    const unit = fc.oneof(
      fc.constantFrom(...awkward, '\u2028', '\u001f', '\u007f', '"', '\\', '\n', '\u0000'),
      fc
        .integer({ min: 0, max: 0x10ffff })
        .filter((cp) => cp < 0xd800 || cp > 0xdfff)
        .map((cp) => String.fromCodePoint(cp)),
    );
    const values = fc.sample(fc.jsonValue({ maxDepth: 4, stringUnit: unit }), {
      seed: 8785,
      numRuns: 400,
    });
    const texts = values.map((v) => JSON.stringify(v));
    const python = await py<string[]>(['canonical'], texts);
    const ours = texts.map((t) =>
      Buffer.from(canonicalJson(JSON.parse(t)), 'utf8').toString('hex'),
    );
    expect(python).toEqual(ours);
  });
});

describe('signatures across languages', () => {
  it('(b) Python signs every vector with the test key: the same signature as ours, and it verifies', async () => {
    const signedTexts = await py<string[]>(
      ['sign', '--seed', TEST_SEED_HEX],
      VECTORS.map((v) => v.json),
    );
    signedTexts.forEach((text, i) => {
      const env = JSON.parse(text) as Env;
      expect(env.sig, vectors[i]!.name).toBe(vectors[i]!.sig); // Ed25519 is deterministic
      expect(verifyEnvelope(env, [testPublic]), vectors[i]!.name).toBe(true);
    });
  });

  it('(b) what Python signs verifies whatever the wire spelling, and a tampered copy does not', async () => {
    const unsigned = JSON.stringify({
      v: 1,
      msgId: 'py-1',
      unitId: 'unit-0042',
      seq: 7,
      sentAt: '2026-12-01T08:00:00.000Z',
      body: {
        commands: [
          {
            type: 'booking.upsert',
            commandId: 'c-py-1',
            booking: booking('py-1', 1, { agentId: 'Frau Müller', retry: { jitter: 0.2 } }),
          },
        ],
      },
    });
    const texts = await Promise.all(
      (['compact', 'ascii', 'pretty'] as const).map(
        async (wire) =>
          (await py<string[]>(['sign', '--seed', TEST_SEED_HEX, '--wire', wire], [unsigned]))[0]!,
      ),
    );
    expect(texts[1]).toContain('Frau M\\u00fcller'); // the wire forms really differ
    expect(texts[2]!.indexOf('"body"')).toBeLessThan(texts[2]!.indexOf('"v"'));
    for (const text of texts)
      expect(verifyEnvelope(JSON.parse(text) as Env, [testPublic])).toBe(true);

    const env = JSON.parse(texts[0]!) as Env & { body: { commands: { booking: Env }[] } };
    const withBooking = (change: Env): Env => {
      const copy = structuredClone(env);
      Object.assign(copy.body.commands[0]!.booking, change);
      return copy;
    };
    const flipped = Buffer.from(env.sig as string, 'base64');
    flipped[10] = flipped[10]! ^ 1;
    const { seq: _seq, ...withoutSeq } = env;
    const tampered: [string, Env][] = [
      ['agentId', withBooking({ agentId: 'Frau Muller' })],
      ['jitter', withBooking({ retry: { jitter: 0.25 } })],
      ['unitId', { ...env, unitId: 'unit-0043' }],
      ['seq removed', withoutSeq],
      ['member added', { ...env, extra: true }],
      ['signature bit', { ...env, sig: flipped.toString('base64') }],
    ];
    for (const [what, copy] of tampered) {
      expect(verifyEnvelope(copy, [testPublic]), what).toBe(false);
    }
    const otherKey = loadPublicKey(generateSigningKeyPair().publicKeyBase64);
    expect(verifyEnvelope(env, [otherKey])).toBe(false);
    expect(verifyEnvelope(env, [otherKey, testPublic])).toBe(true); // any pinned key may sign
  });

  it('(c) we sign (vectors and the cloud client), Python verifies; tampered or foreign-key copies fail', async () => {
    const cloud = new CloudClient({ url: 'mqtt://127.0.0.1:1', signingKey: TEST_PRIVATE_KEY_PEM });
    const fromCloud = cloud.envelope('unit-0042', 'cmd', {
      commands: [
        {
          type: 'booking.upsert',
          commandId: 'c-cloud-1',
          booking: booking('cloud-1', 1, { agentId: 'Frau Müller', retry: { jitter: 0.2 } }),
        },
      ],
    });
    const ours: Env[] = [
      ...vectors.map((v) => ({ ...(JSON.parse(v.json) as Env), sig: v.sig })),
      fromCloud as unknown as Env,
    ];
    const tampered = ours.map((e) => ({ ...e, msgId: `${String(e.msgId)}-x` }));
    const foreign = signEnvelope(
      JSON.parse(byName('cmd').json) as Env,
      loadPrivateKey(generateSigningKeyPair().privateKeyPem),
    );
    const texts = [...ours, ...tampered, foreign].map((e) => JSON.stringify(e));
    const verdicts = await py<boolean[]>(['verify', '--public-key', TEST_PUBLIC_KEY_BASE64], texts);
    expect(verdicts).toEqual([...ours.map(() => true), ...tampered.map(() => false), false]);
  });

  it('(e) the naive json.dumps signer fails for "Frau Müller" and for 0.0, not for plain ASCII', async () => {
    const envelope = (agentId: string, jitter: string) =>
      `{"v":1,"msgId":"naive","unitId":"unit-0042","sentAt":"2026-12-01T08:00:00.000Z",` +
      `"body":{"agentId":"${agentId}","retry":{"jitter":${jitter}}}}`;
    const cases = [
      envelope('companion-1', '1'),
      envelope('Frau Müller', '1'),
      envelope('a', '0.0'),
    ];
    const naive = await py<string[]>(['sign', '--seed', TEST_SEED_HEX, '--naive'], cases);
    const accepted = naive.map((t) => verifyEnvelope(JSON.parse(t) as Env, [testPublic]));
    expect(accepted).toEqual([true, false, false]);
    const right = await py<string[]>(['sign', '--seed', TEST_SEED_HEX], cases);
    expect(right.map((t) => verifyEnvelope(JSON.parse(t) as Env, [testPublic]))).toEqual([
      true,
      true,
      true,
    ]);
  });
});

describe('docs/protocol.md', () => {
  it('carries exactly the vectors and the Python canonicaliser the code produces now', () => {
    const doc = readFileSync(PROTOCOL_DOC, 'utf8');
    for (const [name, content] of Object.entries(generatedRegions())) {
      expect(readRegion(doc, name), `${name} region is stale: run npm run vectors`).toBe(content);
    }
    expect(generatedRegions().vectors).toBe(renderVectors(vectors));
    for (const v of vectors) expect(doc).toContain(v.sig);
  });
});

/** Doubles from every binade (random bits), decimal-looking ones, and the edges, reproducibly. */
function doubles(count: number): number[] {
  let s = 0x8785;
  const next = () => {
    // mulberry32
    s = (s + 0x6d2b79f5) | 0;
    let t = Math.imul(s ^ (s >>> 15), 1 | s);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return (t ^ (t >>> 14)) >>> 0;
  };
  const edges = [
    0,
    -0,
    1,
    -1,
    0.1,
    0.2,
    0.30000000000000004,
    1e21,
    1e-7,
    1e-6,
    999999999999999900000,
    1e20,
    123456789012345680000,
    9007199254740991,
    9007199254740992,
    2 ** 53 + 2,
    5e-324,
    -5e-324,
    2.2250738585072014e-308,
    2.225073858507201e-308,
    1.7976931348623157e308,
    4.35,
    0.000001234,
    1.5e-7,
    333333333.3333333,
    1e23,
    8.41e21,
    -1e-7,
  ];
  const out = [...edges];
  const b = Buffer.alloc(8);
  while (out.length < count) {
    if (out.length % 3 === 0) {
      const mantissa = next() % 10 ** (1 + (next() % 9));
      out.push(Number(`${mantissa}e${(next() % 60) - 30}`) * (next() % 2 ? 1 : -1));
      continue;
    }
    b.writeUInt32BE(next(), 0);
    b.writeUInt32BE(next(), 4);
    const x = b.readDoubleBE(0);
    if (Number.isFinite(x)) out.push(x);
  }
  return out;
}
