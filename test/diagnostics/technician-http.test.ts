/**
 * Technician access over real HTTPS (the unit's own certificate, pinned by the test client): every
 * refusal reason as a technician's tool sees it, scopes, the failed-sign-in limit, the local token's
 * reach, the Host check against DNS rebinding, and the audit trail + outbox events that carry the
 * technician's name for every action.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { technicianKeyId } from '../../sync/contract/technician.js';
import { generateSigningKeyPair, loadPrivateKey } from '../../sync/contract/signing.js';
import { createPublicKey } from 'node:crypto';
import {
  GOOD_NUMBER,
  TOKEN,
  rawRequest,
  startDiagnostics,
  technicianToken,
  until,
  type Diag,
} from './harness.js';

const UNIT = 'unit-0042';
let d: Diag;
let resyncs = 0;

beforeAll(async () => {
  d = await startDiagnostics({
    config: {
      unitId: UNIT,
      diagnostics: { tls: { mode: 'always' }, technician: { sites: ['lindenhof'] } },
    },
    // The link seam diagnostics talks to (sync/ provides it in production).
    link: {
      state: () => ({ enabled: true, connected: true, connectedSince: Date.now() - 60_000 }),
      requestResync: () => {
        resyncs++;
      },
    },
  });
});
afterAll(async () => {
  await d?.stop();
});

type Json = Record<string, unknown>;
const now = () => Math.floor(Date.now() / 1000);
const tok = (over: Parameters<typeof technicianToken>[0] = {}) =>
  technicianToken({ unit: UNIT, ...over });

async function refusedWith(token: string, reason: string, status = 401) {
  const r = await d.request('GET', '/v1/status', { token });
  expect(r.status, JSON.stringify(r.json)).toBe(status);
  expect(r.json).toMatchObject({ details: { reason } });
  expect((r.json as Json).message).toEqual(expect.any(String));
  if (status === 401) expect(r.headers.get('www-authenticate')).toMatch(/error="invalid_token"/);
  return r.json as Json;
}

describe('HTTPS with the unit certificate', () => {
  it('serves TLS on loopback when asked (mode always) and the status reports its fingerprint', async () => {
    expect(d.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    const r = await d.request('GET', '/v1/status', { token: tok() });
    expect(r.status).toBe(200);
    const tls = (r.json as { access: { tls: Json } }).access.tls;
    expect(tls).toMatchObject({ source: 'generated', sha256: d.service.tlsIdentity()!.sha256 });
    // A client pinning another certificate refuses the connection.
    const other = await startDiagnostics({
      dir: undefined,
      config: { diagnostics: { tls: { mode: 'always' } } },
    });
    try {
      await expect(rawRequest(`${d.url}/livez`, 'GET', { ca: other.ca() })).rejects.toThrow(
        /self[- ]signed|unable to verify|certificate/i,
      );
    } finally {
      await other.stop();
    }
  });
});

describe('technician tokens over HTTP', () => {
  it('a good token reads, and /v1/session says who, what and until when', async () => {
    const r = await d.request('GET', '/v1/session', { token: tok({ allow: ['read'] }) });
    expect(r.status).toBe(200);
    expect(r.json).toMatchObject({
      session: { kind: 'technician-token', name: 'anna', scopes: ['read'] },
      unit: { unitId: UNIT, tls: { sha256: expect.any(String) } },
    });
  });

  it('refuses every bad token with its reason (401) and changes nothing', async () => {
    const before = d.fingerprint();
    await refusedWith(tok({ units: ['unit-0099'] }), 'wrong_unit');
    await refusedWith(tok({ iat: now() - 7200, exp: now() - 3600 }), 'expired');
    await refusedWith(tok({ nbf: now() + 3600, exp: now() + 7200 }), 'not_yet_valid');
    await refusedWith(tok({ exp: now() + 72 * 3600 }), 'too_long_lived');
    const t = tok();
    const [p, body, sig] = t.split('.') as [string, string, string];
    const claims = JSON.parse(Buffer.from(body, 'base64url').toString()) as Json;
    const forged = Buffer.from(JSON.stringify({ ...claims, name: 'mallory' })).toString(
      'base64url',
    );
    await refusedWith(`${p}.${forged}.${sig}`, 'bad_signature');
    const stranger = generateSigningKeyPair();
    const sk = loadPrivateKey(stranger.privateKeyPem);
    await refusedWith(
      technicianToken({ unit: UNIT, kid: technicianKeyId(createPublicKey(sk)) }, sk),
      'unknown_key',
    );
    await refusedWith('ctt1.garbage.garbage', 'malformed');
    await refusedWith('not-the-local-token-000', 'wrong_token');
    const none = await d.request('GET', '/v1/status', { token: null });
    expect(none.json).toMatchObject({ details: { reason: 'missing_token' } });
    expect(d.fingerprint()).toBe(before);
  });

  it('a token for the unit’s site is accepted', async () => {
    const r = await d.request('GET', '/v1/modem', {
      token: tok({ units: [], sites: ['lindenhof'] }),
    });
    expect(r.status).toBe(200);
  });

  it('missing scope: 403 with the scope named, and nothing happens', async () => {
    const before = d.fingerprint();
    const r = await d.request('POST', '/v1/test-call', {
      token: tok({ allow: ['read'] }),
      body: { callee: GOOD_NUMBER },
    });
    expect(r.status).toBe(403);
    expect(r.json).toMatchObject({
      error: 'forbidden',
      details: { reason: 'missing_scope', scope: 'test-call', allowed: ['read'] },
    });
    const reset = await d.request('POST', '/v1/checks/modem-reset', {
      token: tok({ allow: ['read', 'test-call'] }),
      body: {},
    });
    expect(reset.json).toMatchObject({
      details: { reason: 'missing_scope', scope: 'modem-reset' },
    });
    const noRead = await d.request('GET', '/v1/status', { token: tok({ allow: ['test-call'] }) });
    expect(noRead.status).toBe(403);
    expect(d.fingerprint()).toBe(before);
    expect(d.modem.resets).toHaveLength(0);
  });

  it('a revoked token is refused as soon as the list holds it', async () => {
    const t = tok({ tid: 'revoke-me-000001' });
    expect((await d.request('GET', '/v1/status', { token: t })).status).toBe(200);
    const at = Date.now();
    d.agent.store.tx(() =>
      d.revocations.replace(
        {
          version: 1,
          issuedAt: new Date(at).toISOString(),
          tokens: [{ tid: 'revoke-me-000001', expiresAt: new Date(at + 3600_000).toISOString() }],
          technicians: [{ name: 'bob', issuedBefore: new Date(at).toISOString() }],
        },
        at,
      ),
    );
    const j = await refusedWith(t, 'revoked');
    expect(j.message).toContain('revocation list v1');
    // Every token of bob issued before the instant, but not one issued after it.
    await refusedWith(tok({ name: 'bob', iat: now() - 120 }), 'revoked');
    expect(
      (await d.request('GET', '/v1/status', { token: tok({ name: 'bob', iat: now() + 5 }) }))
        .status,
    ).toBe(200);
  });
});

describe('every action carries the technician’s name (audit trail + outbox event)', () => {
  const eventsOf = (type: string) =>
    d.agent.store.outbox.recent(200).filter((e) => e.type === type);

  it('test call: run.state requestedBy, a technician.action event and an audit row, all "anna"', async () => {
    const t = tok({ tid: 'anna-token-00001' });
    const r = await d.request('POST', '/v1/test-call', { token: t, body: { callee: GOOD_NUMBER } });
    expect(r.status).toBe(202);
    const runId = (r.json as { run: Json }).run.runId as string;
    const runState = eventsOf('run.state').find((e) => e.payload.runId === runId)!;
    expect(runState.payload).toMatchObject({ requestedBy: 'anna' });
    const action = eventsOf('technician.action').find(
      (e) => (e.payload.detail as Json)?.runId === runId,
    )!;
    expect(action.payload).toMatchObject({
      action: 'test-call',
      technician: 'anna',
      tokenId: 'anna-token-00001',
      auth: 'technician-token',
      outcome: 'ok',
    });
    const audit = (await d.request('GET', '/v1/audit', { token: t })).json as { entries: Json[] };
    expect(audit.entries.find((e) => (e.detail as Json)?.runId === runId)).toMatchObject({
      technician: 'anna',
      tokenId: 'anna-token-00001',
      action: 'test-call',
      outcome: 'ok',
      client: expect.stringMatching(/127\.0\.0\.1/),
    });
    // The first use of this token is a sign-in, recorded once.
    const signIns = audit.entries.filter(
      (e) => e.action === 'sign-in' && e.tokenId === 'anna-token-00001',
    );
    expect(signIns).toHaveLength(1);
    await until(async () => {
      const c = (await d.request('GET', `/v1/test-call/${runId}`, { token: t })).json as {
        run: Json;
      };
      return c.run.status === 'completed' ? c : null;
    }, 'test call completed');
  });

  it('the name comes from the token: a different requestedBy is refused', async () => {
    const r = await d.request('POST', '/v1/test-call', {
      token: tok(),
      body: { callee: GOOD_NUMBER, requestedBy: 'mallory' },
    });
    expect(r.status).toBe(400);
    expect((r.json as Json).message).toMatch(/taken from your technician token \(anna\)/);
  });

  it('resync and replay: operator/run events and technician.action with the name', async () => {
    const t = tok({ name: 'Jörg Weiß', tid: 'joerg-token-0001' });
    const before = resyncs;
    const r = await d.request('POST', '/v1/resync', { token: t, body: {} });
    expect(r.status).toBe(202);
    expect(resyncs).toBe(before + 1);
    const op = eventsOf('operator.action').find((e) => e.eventId === (r.json as Json).eventId)!;
    expect(op.payload).toMatchObject({ action: 'resync', requestedBy: 'Jörg Weiß' });
    expect(
      eventsOf('technician.action').some(
        (e) => e.payload.technician === 'Jörg Weiß' && e.payload.action === 'resync',
      ),
    ).toBe(true);

    d.modem.scriptNext({ outcome: 'busy', afterMs: 10 });
    const call = await d.request('POST', '/v1/test-call', {
      token: t,
      body: { callee: GOOD_NUMBER },
    });
    const runId = (call.json as { run: Json }).run.runId as string;
    await until(() => d.agent.store.runs.get(runId)?.status === 'dead', 'dead-lettered');
    const replay = await d.request('POST', `/v1/dead-letter/${runId}/replay`, {
      token: t,
      body: {},
    });
    expect(replay.status).toBe(202);
    expect(
      eventsOf('run.state').find(
        (e) => e.payload.runId === runId && e.payload.reason === 'replayed_by_Jörg Weiß',
      ),
    ).toBeTruthy();
    expect(
      eventsOf('technician.action').find(
        (e) => e.payload.action === 'replay' && (e.payload.detail as Json).runId === runId,
      )?.payload,
    ).toMatchObject({ technician: 'Jörg Weiß', tokenId: 'joerg-token-0001' });
  });

  it('a refused action is audited (with the reason) but writes no outbox event', async () => {
    await until(() => {
      const c = d.agent.store.runs.statusCounts() as Record<string, number>;
      return !c.pending && !c.running && !c.retry_wait;
    }, 'no call in progress');
    const before = d.fingerprint();
    // A token already signed in (its first use wrote a sign-in event of its own).
    const t = tok({ tid: 'anna-token-00001' });
    const r = await d.request('POST', '/v1/test-call', {
      token: t,
      body: { callee: '+4990012345678' },
    });
    expect(r.status).toBe(422);
    expect(d.fingerprint()).toBe(before);
    const audit = (await d.request('GET', '/v1/audit', { token: t })).json as { entries: Json[] };
    expect(audit.entries[0]).toMatchObject({
      action: 'test-call',
      outcome: 'refused',
      technician: 'anna',
      detail: { callee: expect.stringContaining('•'), reason: expect.any(String) },
    });
  });

  it('with the local token the name is the one the caller gives, recorded as a local-token action', async () => {
    const r = await d.request('POST', '/v1/test-call', {
      token: TOKEN,
      body: { callee: GOOD_NUMBER, requestedBy: 'bench-tech' },
    });
    expect(r.status).toBe(202);
    const runId = (r.json as { run: Json }).run.runId;
    const ev = eventsOf('technician.action').find(
      (e) => (e.payload.detail as Json)?.runId === runId,
    )!;
    expect(ev.payload).toMatchObject({
      technician: 'bench-tech',
      tokenId: null,
      auth: 'local-token',
    });
  });
});

describe('the Host header (DNS rebinding)', () => {
  it('refuses a page reached under another name, even the shell and /livez', async () => {
    for (const path of ['/', '/livez', '/v1/status']) {
      const r = await d.request('GET', path, { host: 'evil.example:443' });
      expect(r.status, path).toBe(421);
      expect(r.json).toMatchObject({ error: 'misdirected' });
    }
  });

  it('answers to its unit id, .local, localhost and its own addresses', async () => {
    const port = new URL(d.url).port;
    for (const host of [
      `${UNIT}:${port}`,
      `${UNIT}.local`,
      'localhost',
      `127.0.0.1:${port}`,
      '[::1]:8080',
    ]) {
      expect((await d.request('GET', '/livez', { host })).status, host).toBe(200);
    }
  });
});

describe('failed sign-ins are rate-limited per client', () => {
  it('after the burst, even a good token waits (429 with Retry-After)', async () => {
    const x = await startDiagnostics({
      config: {
        unitId: UNIT,
        diagnostics: { technician: { failureBurst: 3, failureRefillSec: 60 } },
      },
    });
    try {
      const codes: number[] = [];
      for (let i = 0; i < 3; i++) {
        codes.push(
          (await x.request('GET', '/v1/status', { token: tok({ units: ['nope'] }) })).status,
        );
      }
      const blocked = await x.request('GET', '/v1/status', { token: tok() });
      expect(codes).toEqual([401, 401, 401]);
      expect(blocked.status).toBe(429);
      expect(blocked.json).toMatchObject({ details: { reason: 'too_many_failures' } });
      expect(Number(blocked.headers.get('retry-after'))).toBeGreaterThan(0);
      // Liveness and the page shell need no token and stay open.
      expect((await x.request('GET', '/livez', { token: null })).status).toBe(200);
    } finally {
      await x.stop();
    }
  });
});

describe('the unit’s local token', () => {
  it('works from the unit itself by default, and not at all when switched off', async () => {
    expect((await d.request('GET', '/v1/status', { token: TOKEN })).status).toBe(200);
    const off = await startDiagnostics({
      config: { diagnostics: { technician: { localToken: 'off' } } },
    });
    try {
      const r = await off.request('GET', '/v1/status', { token: TOKEN });
      expect(r.status).toBe(401);
      expect(r.json).toMatchObject({ details: { reason: 'local_token_not_allowed' } });
      expect((await off.request('GET', '/v1/status', { token: technicianToken() })).status).toBe(
        200,
      );
    } finally {
      await off.stop();
    }
  });
});
