/**
 * The diagnostics API against the real server on a real socket: auth, every read endpoint, and
 * the actions — which really go through the call runner and the simulator — plus every kind of bad
 * input, which gets a clear JSON error and changes nothing.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDiagnostics, until, GOOD_NUMBER, TOKEN, type Diag } from './harness.js';

let d: Diag;

beforeAll(async () => {
  d = await startDiagnostics();
});
afterAll(async () => {
  await d?.stop();
});

type Json = Record<string, unknown>;
const recentRun = async (runId: string) => {
  const r = await d.request('GET', '/v1/calls');
  return (r.json as { recent: Json[] }).recent.find(
    (x) => x.runId === runId && x.status !== 'pending',
  );
};

describe('auth', () => {
  it('refuses every data route without the token or with a wrong one (401), and /livez is open', async () => {
    for (const path of ['/v1/status', '/v1/calls', '/v1/logs', '/metrics', '/readyz']) {
      const none = await d.request('GET', path, { token: null });
      expect(none.status, path).toBe(401);
      expect(none.json).toMatchObject({ error: 'unauthorized' });
      expect(none.headers.get('www-authenticate')).toMatch(/^Bearer/);
      expect((await d.request('GET', path, { token: 'wrong-token-000000000' })).status).toBe(401);
    }
    const before = d.fingerprint();
    const post = await d.request('POST', '/v1/test-call', {
      token: null,
      body: { callee: GOOD_NUMBER },
    });
    expect(post.status).toBe(401);
    expect(d.fingerprint()).toBe(before);
    const live = await d.request('GET', '/livez', { token: null });
    expect(live.status).toBe(200);
    expect(live.json).toMatchObject({ alive: true, store: 'ok' });
  });

  it('answers unknown routes with 404 and wrong methods with 405, as JSON', async () => {
    expect((await d.request('GET', '/v1/nope')).json).toMatchObject({ error: 'not_found' });
    const r = await d.request('GET', '/v1/test-call');
    expect(r.status).toBe(405);
    expect(r.headers.get('allow')).toBe('POST');
  });
});

describe('read endpoints', () => {
  it('GET /v1/status: version, uptime, boot epoch, clock, link, outbox and a verdict', async () => {
    const r = await d.request('GET', '/v1/status');
    expect(r.status).toBe(200);
    const s = r.json as Json;
    expect(s).toMatchObject({
      unitId: 'dev-unit',
      bootEpoch: expect.any(Number),
      clock: { trusted: true, source: 'system' },
      mqtt: { enabled: false },
      outbox: { backlog: expect.any(Number) },
      verdict: { level: 'amber' },
      ready: { ready: true },
    });
    expect(typeof s.version).toBe('string');
    expect(typeof s.uptimeSec).toBe('number');
  });

  it('GET /v1/modem: signal in dBm and bars, SIM, registration', async () => {
    const r = await d.request('GET', '/v1/modem');
    expect(r.json).toMatchObject({
      state: 'ready',
      sim: 'ready',
      registration: 'home',
      signal: { dbm: -71, bars: 4, quality: 'good' },
      usable: true,
    });
  });

  it('GET /v1/calls: next calls in 24 h from bookings, numbers masked', async () => {
    const at = new Date(Date.now() + 3 * 3_600_000).toISOString();
    const res = d.agent.applier.apply(
      [
        {
          type: 'booking.upsert',
          commandId: 'c-next',
          booking: {
            id: 'grandma-tea',
            version: 1,
            callee: '+4915199887766',
            agentId: 'companion-default',
            schedule: { kind: 'once', at },
          },
        },
      ],
      { source: 'test' },
    );
    expect(JSON.stringify(res)).toContain('accepted');
    const r = await d.request('GET', '/v1/calls');
    const next = (r.json as { nextCalls: Json[] }).nextCalls;
    expect(next).toContainEqual(
      expect.objectContaining({ bookingId: 'grandma-tea', callee: '+49 151 ••• ••66' }),
    );
    expect(r.text).not.toContain('15199887766');
    expect((await d.request('GET', '/v1/calls?hours=0')).status).toBe(400);
  });

  it('GET /v1/system: cached host readings', async () => {
    const r = await until(async () => {
      const x = await d.request('GET', '/v1/system');
      return (x.json as Json).refreshedAt ? x : null;
    }, 'first system refresh');
    expect(r.json).toMatchObject({
      memory: { totalBytes: expect.any(Number) },
      disks: expect.arrayContaining([expect.objectContaining({ path: d.dir })]),
      cpu: { load: expect.any(Array) },
    });
  });

  it('GET /v1/system right after start: readings at once, never an empty panel', async () => {
    const fresh = await startDiagnostics();
    try {
      // Asked immediately: before the first full refresh (1 s after start) has run.
      const r = await fresh.request('GET', '/v1/system');
      expect(r.json).toMatchObject({
        refreshedAt: expect.any(String),
        host: {
          hostname: expect.any(String),
          kernel: expect.any(String),
          cores: expect.any(Number),
        },
        memory: { totalBytes: expect.any(Number), usedPercent: expect.any(Number) },
        disks: expect.arrayContaining([expect.objectContaining({ path: fresh.dir })]),
      });
      expect(['quick', 'full']).toContain((r.json as Json).source);
    } finally {
      await fresh.stop();
    }
  });

  it('GET /metrics: Prometheus text on its own registry', async () => {
    const r = await d.request('GET', '/metrics');
    expect(r.status).toBe(200);
    expect(r.headers.get('content-type')).toMatch(/^text\/plain/);
    for (const name of [
      'companion_calls_total',
      'companion_firing_lateness_seconds',
      'companion_queue_depth',
      'companion_outbox_backlog',
      'companion_link_connected',
      'companion_modem_signal_dbm -71',
      'companion_store_size_bytes',
    ]) {
      expect(r.text).toContain(name);
    }
  });
});

describe('actions go through the call runner', () => {
  it('POST /v1/test-call dials through the simulator and records the outcome', async () => {
    const dials = d.modem.dials.length;
    const r = await d.request('POST', '/v1/test-call', {
      body: { callee: GOOD_NUMBER, requestedBy: 'tech-anna' },
    });
    expect(r.status).toBe(202);
    const run = (r.json as { run: Json }).run;
    expect(run).toMatchObject({ kind: 'test', callee: '+49 151 ••• ••89' });
    const done = await until(() => recentRun(run.runId as string), 'test call outcome');
    expect(done).toMatchObject({ status: 'completed' });
    expect((done.attempts as Json[])[0]).toMatchObject({ outcome: 'completed' });
    expect(d.modem.dials.length).toBe(dials + 1);
    expect(d.modem.dials.at(-1)!.number).toBe(GOOD_NUMBER);
    // Reported to the cloud through the outbox, and in the log, masked.
    const events = d.agent.store.outbox.recent(50).filter((e) => e.payload.runId === run.runId);
    expect(events.map((e) => e.type)).toEqual(
      expect.arrayContaining(['run.state', 'attempt.dialing', 'attempt.ended']),
    );
    expect(events.find((e) => e.payload.requestedBy === 'tech-anna')).toBeTruthy();
    const metrics = await d.request('GET', '/metrics');
    expect(metrics.text).toMatch(/companion_calls_total\{outcome="completed",kind="test"\} [1-9]/);
  });

  it('POST /v1/dead-letter/:id/replay re-runs a dead run through the simulator', async () => {
    d.modem.scriptNext({ outcome: 'busy', afterMs: 20 });
    const r = await d.request('POST', '/v1/test-call', { body: { callee: GOOD_NUMBER } });
    const runId = (r.json as { run: Json }).run.runId as string;
    await until(async () => {
      const dl = await d.request('GET', '/v1/dead-letter');
      return (dl.json as { runs: Json[] }).runs.find((x) => x.runId === runId);
    }, 'run in the dead letter');
    const dials = d.modem.dials.length;
    const replay = await d.request('POST', `/v1/dead-letter/${runId}/replay`, { body: {} });
    expect(replay.status).toBe(202);
    expect(replay.json).toMatchObject({ run: { runId, status: 'pending', replays: 1 } });
    const done = await until(async () => {
      const x = await recentRun(runId);
      return x?.status === 'completed' ? x : null;
    }, 'replayed run completed');
    expect(done.replays).toBe(1);
    expect(d.modem.dials.length).toBe(dials + 1);
    const again = await d.request('POST', `/v1/dead-letter/${runId}/replay`, { body: {} });
    expect(again.status).toBe(409);
    expect(again.json).toMatchObject({ error: 'conflict' });
  });

  it('POST /v1/resync without an MQTT link: 409 with a clear message, nothing written', async () => {
    const before = d.fingerprint();
    const r = await d.request('POST', '/v1/resync', { body: {} });
    expect(r.status).toBe(409);
    expect((r.json as Json).message).toMatch(/MQTT link is not enabled/);
    expect(d.fingerprint()).toBe(before);
  });
});

describe('bad input changes nothing', () => {
  async function refused(
    method: string,
    path: string,
    o: Parameters<Diag['request']>[2],
    status: number,
    error: string,
  ) {
    await d.agent.runner.idle();
    const before = d.fingerprint();
    const r = await d.request(method, path, o);
    expect(r.status, `${path} ${JSON.stringify(o).slice(0, 80)}`).toBe(status);
    expect(r.json).toMatchObject({ error, message: expect.any(String) });
    expect(d.fingerprint()).toBe(before);
    return r.json as Json;
  }

  it('unknown run id → 404', async () => {
    const j = await refused(
      'POST',
      '/v1/dead-letter/no-such-run/replay',
      { body: {} },
      404,
      'not_found',
    );
    expect(j.message).toContain('no-such-run');
  });

  it('malformed JSON → 400 on every action', async () => {
    for (const path of ['/v1/test-call', '/v1/dead-letter/x/replay', '/v1/resync']) {
      const j = await refused('POST', path, { rawBody: '{"callee": "+49' }, 400, 'bad_request');
      expect(j.message).toMatch(/malformed JSON/);
    }
    await refused('POST', '/v1/test-call', { rawBody: '[1,2]' }, 400, 'bad_request');
    await refused('POST', '/v1/test-call', { body: {} }, 400, 'bad_request');
    await refused(
      'POST',
      '/v1/test-call',
      { body: { callee: GOOD_NUMBER, extra: 1 } },
      400,
      'bad_request',
    );
    await refused(
      'POST',
      '/v1/test-call',
      { rawBody: 'callee=1', contentType: 'application/x-www-form-urlencoded' },
      415,
      'unsupported_media_type',
    );
  });

  it('oversized body → 413 on every action', async () => {
    const big = JSON.stringify({ callee: GOOD_NUMBER, pad: 'x'.repeat(20_000) });
    for (const path of ['/v1/test-call', '/v1/dead-letter/x/replay', '/v1/resync']) {
      await refused('POST', path, { rawBody: big }, 413, 'payload_too_large');
    }
  });

  it('a number the dial policy refuses → 422 with the reason', async () => {
    const premium = await refused(
      'POST',
      '/v1/test-call',
      { body: { callee: '+4990012345678' } },
      422,
      'refused_by_policy',
    );
    expect(premium).toMatchObject({ details: { reason: expect.any(String) } });
    const country = await refused(
      'POST',
      '/v1/test-call',
      { body: { callee: '+8613912345678' } },
      422,
      'refused_by_policy',
    );
    expect(country).toMatchObject({ details: { reason: 'country_not_allowed' } });
    expect(JSON.stringify(country)).not.toContain('13912345678');
    await refused('POST', '/v1/test-call', { body: { callee: '112' } }, 422, 'refused_by_policy');
    await refused(
      'POST',
      '/v1/test-call',
      { body: { callee: 'call me' } },
      422,
      'refused_by_policy',
    );
  });
});

describe('logs', () => {
  it('GET /v1/logs returns recent lines with numbers masked and no token', async () => {
    const r = await d.request('GET', '/v1/logs?limit=500');
    const lines = (r.json as { lines: Json[] }).lines;
    expect(lines.length).toBeGreaterThan(0);
    expect(lines.some((l) => l.msg === 'test call requested')).toBe(true);
    expect(r.text).not.toContain(GOOD_NUMBER.slice(1));
    expect(r.text).not.toContain(TOKEN);
    expect(d.sink.text()).not.toContain(TOKEN);
    const warn = await d.request('GET', '/v1/logs?level=warn');
    expect((warn.json as { lines: Json[] }).lines.every((l) => (l.level as number) >= 40)).toBe(
      true,
    );
    expect((await d.request('GET', '/v1/logs?level=loud')).status).toBe(400);
    // A limit keeps the newest lines, oldest first.
    const last = (await d.request('GET', '/v1/logs?limit=2')).json as { lines: Json[] };
    expect(last.lines).toHaveLength(2);
    expect(last.lines[1]).toMatchObject({ msg: 'http', path: '/v1/logs' });
    expect(last.lines[0]!.time as number).toBeLessThanOrEqual(last.lines[1]!.time as number);
  });
});

// Last: it holds this agent's calls (the 2-minute restart hold) for the rest of the file.
describe('a restart requested by an upgrade', () => {
  it('GET /v1/status says the agent holds new calls, and until when', async () => {
    const before = (await d.request('GET', '/v1/status')).json as Json;
    expect(before.restartHold).toEqual({ state: 'open' });
    d.agent.requestRestart();
    await until(() => d.agent.restartHold()?.state === 'held', 'the hold');
    const s = (await d.request('GET', '/v1/status')).json as Json;
    const h = s.restartHold as { state: string; since: string; until: string };
    expect(h.state).toBe('held');
    expect(Date.parse(h.until) - Date.parse(h.since)).toBe(120_000);
  });
});
