/**
 * Liveness and readiness: /livez never depends on the network (an offline unit is alive), /readyz
 * says 503 with the reason when the unit cannot fire calls — untrusted clock, unusable modem.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { mqttConfigSchema } from '../../sync/config.js';
import { SyncLink } from '../../sync/link/link.js';
import { SystemClock } from '../../agent/clock.js';
import { startDiagnostics, until, type Diag } from './harness.js';

let d: Diag | null = null;
let link: SyncLink | null = null;
afterEach(async () => {
  await link?.stop();
  link = null;
  await d?.stop();
  d = null;
});

type Json = Record<string, unknown>;

describe('/livez and /readyz', () => {
  it('a healthy unit is alive and ready; the verdict is amber only because MQTT is off', async () => {
    d = await startDiagnostics();
    expect((await d.request('GET', '/livez', { token: null })).status).toBe(200);
    const ready = await d.request('GET', '/readyz');
    expect(ready.status).toBe(200);
    expect(ready.json).toMatchObject({ ready: true, reasons: [] });
    const s = (await d.request('GET', '/v1/status')).json as { verdict: Json };
    expect(s.verdict).toMatchObject({ level: 'amber' });
    expect(String((s.verdict.reasons as string[])[0])).toMatch(/cloud link is switched off/);
  });

  it('stays alive with the broker unreachable (a real link retrying), and /v1/status says offline', async () => {
    // Port 1 on loopback: nothing listens, every connect is refused.
    const clock = new SystemClock();
    let linkRef: SyncLink | null = null;
    d = await startDiagnostics({
      link: {
        state: () => linkRef!.state(),
        requestResync: () => linkRef!.requestSync('resync'),
      },
    });
    const store = d.agent.store;
    link = new SyncLink({
      unitId: 'dev-unit',
      config: mqttConfigSchema().parse({
        enabled: true,
        url: 'mqtt://127.0.0.1:1',
        reconnect: { minMs: 50, maxMs: 200 },
        signature: { required: false },
      }),
      sink: d.agent.sync,
      outbox: store.outbox,
      meta: store.meta,
      clock,
      transaction: (fn) => store.tx(fn),
    });
    linkRef = link;
    await link.start();
    await until(() => link!.state().lastError, 'a refused connect');
    const live = await d.request('GET', '/livez', { token: null });
    expect(live.status).toBe(200);
    expect((await d.request('GET', '/readyz')).status).toBe(200);
    const s = (await d.request('GET', '/v1/status')).json as { mqtt: Json; verdict: Json };
    expect(s.mqtt).toMatchObject({ enabled: true, connected: false });
    expect(s.verdict.level).toBe('amber');
    expect(String((s.verdict.reasons as string[])[0])).toMatch(/Offline from the cloud/);
    // Resync is accepted and recorded in the outbox even while offline.
    const r = await d.request('POST', '/v1/resync', { body: { requestedBy: 'tech-anna' } });
    expect(r.status).toBe(202);
    const ev = store.outbox.recent(5).find((e) => e.type === 'operator.action');
    expect(ev?.payload).toMatchObject({ action: 'resync', requestedBy: 'tech-anna' });
    const metrics = await d.request('GET', '/metrics');
    expect(metrics.text).toMatch(/companion_link_enabled 1/);
    expect(metrics.text).toMatch(/companion_link_connected 0/);
  });

  it('readyz is 503 with the reason when the clock is untrusted (RTC-less boot in 1970)', async () => {
    d = await startDiagnostics({ config: { clock: { offsetMs: -Date.now() } } });
    expect((await d.request('GET', '/livez', { token: null })).status).toBe(200);
    const r = await d.request('GET', '/readyz');
    expect(r.status).toBe(503);
    const body = r.json as { ready: boolean; reasons: string[]; checks: Json };
    expect(body.ready).toBe(false);
    expect(body.reasons.join(' ')).toMatch(/clock untrusted: clock reads 1970/);
    expect(body.checks).toMatchObject({
      clock: { ok: false },
      modem: { ok: true },
      store: { ok: true },
    });
    const s = (await d.request('GET', '/v1/status')).json as { verdict: Json };
    expect(s.verdict).toMatchObject({ level: 'red', headline: 'Calls cannot go out right now' });
    expect((await d.request('GET', '/metrics')).text).toMatch(/companion_clock_trusted 0/);
  });

  it('readyz is 503 when the modem failed, and when the SIM is absent', async () => {
    d = await startDiagnostics();
    d.modem.setStatus({ state: 'failed', reason: 'port /dev/ttyUSB2 vanished' });
    let r = await d.request('GET', '/readyz');
    expect(r.status).toBe(503);
    expect((r.json as { reasons: string[] }).reasons).toEqual([
      'modem is failed: port /dev/ttyUSB2 vanished',
    ]);
    expect((await d.request('GET', '/livez', { token: null })).status).toBe(200);
    const modem = (await d.request('GET', '/v1/modem')).json as Json;
    expect(modem).toMatchObject({ usable: false, state: 'failed' });

    d.modem.setStatus({ state: 'ready', reason: null, sim: 'absent', signalDbm: null });
    r = await d.request('GET', '/readyz');
    expect(r.status).toBe(503);
    expect((r.json as { reasons: string[] }).reasons).toEqual(['no SIM card inserted']);
    expect(((await d.request('GET', '/v1/modem')).json as Json).signal).toEqual({
      dbm: null,
      bars: 0,
      quality: 'unknown',
    });
  });
});
