/**
 * Fuzzing the diagnostics HTTP surface against the real server (real agent, real port): arbitrary
 * paths, query strings, methods and bodies. Every answer is a clear one — a 2xx, or a 4xx with a JSON
 * error — never a 5xx, a hang or a crash, and the server still answers afterwards.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDiagnostics, type Diag } from '../diagnostics/harness.js';

let d: Diag;
const unhandled: unknown[] = [];
const onUnhandled = (r: unknown) => unhandled.push(r);

beforeAll(async () => {
  process.on('unhandledRejection', onUnhandled);
  d = await startDiagnostics();
});
afterAll(async () => {
  process.off('unhandledRejection', onUnhandled);
  await d?.stop();
});

const segment = fc.oneof(
  fc.constantFrom(
    'v1',
    'status',
    'calls',
    'dead-letter',
    'replay',
    'test-call',
    'resync',
    'logs',
    'metrics',
    'modem',
    'system',
    'checks',
    'history',
    'session',
    '..',
    '%2e%2e',
    '%00',
    '',
  ),
  fc.string({ maxLength: 12 }).map(encodeURIComponent),
);
const path = fc.array(segment, { minLength: 1, maxLength: 4 }).map((s) => '/' + s.join('/'));
const query = fc
  .array(
    fc.tuple(
      fc.constantFrom('limit', 'hours', 'level', 'x', 'limit'),
      fc.oneof(
        fc.constantFrom('0', '-1', '1', '999999999999', 'NaN', '1e3', 'debug', 'warn', ''),
        fc.string({ maxLength: 8 }),
      ),
    ),
    { maxLength: 3 },
  )
  .map((kv) =>
    kv.length ? '?' + kv.map(([k, v]) => `${k}=${encodeURIComponent(v)}`).join('&') : '',
  );
const knownPath = fc.constantFrom(
  '/v1/calls',
  '/v1/dead-letter',
  '/v1/logs',
  '/v1/status',
  '/v1/test-call',
  '/v1/resync',
  '/v1/dead-letter/nope/replay',
  // technician access (issue 15)
  '/v1/session',
  '/v1/history',
  '/v1/audit',
  '/v1/checks',
  '/v1/checks/nope',
  '/v1/checks/speaker-test',
  '/v1/checks/mic-test',
  '/v1/checks/modem-details',
  '/v1/checks/modem-reset',
  '/v1/test-call/nope',
);
const body = fc.oneof(
  fc.json(),
  fc.string({ maxLength: 100 }),
  fc
    .record({
      callee: fc.constantFrom('+19005550100', '110', 'x'),
      confirm: fc.anything(),
      actor: fc.string({ maxLength: 5 }),
    })
    .map((b) => JSON.stringify(b)),
);

async function expectClear(method: string, p: string, raw: string | undefined): Promise<void> {
  const res = await d.request(method, p, raw === undefined ? {} : { rawBody: raw });
  expect(res.status, `${method} ${p} -> ${res.status} ${res.text.slice(0, 200)}`).toBeLessThan(500);
  if (res.status >= 400 && method !== 'HEAD')
    expect(res.json, res.text.slice(0, 200)).not.toBeNull();
}

describe('fuzz: diagnostics HTTP (real server)', () => {
  it('arbitrary paths and query strings: 2xx or a 4xx with a JSON error', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom('GET', 'HEAD', 'DELETE', 'PUT'),
        fc.oneof(path, knownPath),
        query,
        async (m, p, q) => {
          await expectClear(m, p + q, undefined);
        },
      ),
      { numRuns: 250, seed: 21 },
    );
  });

  it('arbitrary POST bodies on every action: refused clearly, nothing dialled by accident', async () => {
    const before = d.modem.dials.length;
    await fc.assert(
      fc.asyncProperty(knownPath, body, async (p, b) => {
        await expectClear('POST', p, b);
      }),
      { numRuns: 200, seed: 22 },
    );
    // None of the generated bodies is a confirmed test call to an allowed number.
    expect(d.modem.dials.length).toBe(before);
    expect((await d.request('GET', '/v1/status')).status).toBe(200);
    expect(unhandled).toEqual([]);
  });
});
