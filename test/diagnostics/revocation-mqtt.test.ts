/**
 * Revocation through the production wiring (agent/main.ts startRuntime) and a real Mosquitto: the
 * cloud pushes its full revocation list as the `technician.revocations` control (from the cloud
 * client and from the companion-cloud CLI); the unit keeps the newest version, refuses a stale or
 * conflicting one with a reason, reports the change through the outbox — and a token that worked a
 * moment ago is refused over HTTPS. The heartbeat carries the diagnostics certificate's fingerprint.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../agent/config/config.js';
import { silentLogger } from '../../agent/log.js';
import { startRuntime, type Runtime } from '../../agent/main.js';
import { CloudClient, type UnitMessage } from '../../sync/cloud/client.js';
import { decodeTechnicianToken } from '../../sync/contract/technician.js';
import { startBroker, stopAllBrokers, type MosquittoBroker } from '../support/mosquitto.js';
import { KEYS } from '../sync/unit-harness.js';
import { AUTHORITY, rawRequest, technicianToken, until } from './harness.js';

const UNIT = 'unit-revoke';
let broker: MosquittoBroker;
let rt: Runtime;
let cloud: CloudClient;
let dir: string;
let config: ReturnType<typeof parseConfig>;
let bobBefore = '';
const seen: UnitMessage[] = [];

beforeAll(async () => {
  broker = await startBroker();
  dir = mkdtempSync(join(tmpdir(), 'companion-revoke-'));
  config = parseConfig({
    unitId: UNIT,
    dataDir: dir,
    diagnostics: {
      port: 0,
      tls: { mode: 'always' },
      technician: { authorityKeys: [AUTHORITY.publicKeyBase64] },
    },
    mqtt: {
      enabled: true,
      url: broker.url,
      heartbeatSec: 5,
      reconnect: { minMs: 50, maxMs: 200 },
      signature: { publicKeys: [KEYS.publicKeyBase64] },
    },
  });
  rt = await startRuntime(config, silentLogger());
  cloud = new CloudClient({
    url: broker.url,
    clientId: 'cloud-revoke',
    signingKey: KEYS.privateKeyPem,
  });
  await cloud.start();
  await cloud.watch(UNIT, (m) => seen.push(m), { channels: ['events', 'heartbeat'] });
  await until(() => rt.link?.state().connected, 'the unit connects');
});

afterAll(async () => {
  await cloud?.stop();
  await rt?.stop();
  await stopAllBrokers();
  rmSync(dir, { recursive: true, force: true });
});

const cert = () => rt.diagnostics.tlsIdentity();
async function status(token: string) {
  const ca = readFileSync(join(dir, 'diagnostics-tls', 'cert.pem'), 'utf8');
  return rawRequest(`${rt.diagnostics.url}/v1/status`, 'GET', { token, ca });
}
const tidOf = (t: string) => {
  const d = decodeTechnicianToken(t);
  if (!d.ok) throw new Error(d.message);
  return d.claims.tid;
};
const iso = (ms: number) => new Date(ms).toISOString();

describe('technician revocation over MQTT', () => {
  it('the heartbeat reports the certificate fingerprint a technician tool pins', async () => {
    expect(rt.diagnostics.url).toMatch(/^https:/);
    const hb = await until(() => seen.find((m) => m.channel === 'heartbeat'), 'a heartbeat');
    const health = (hb.envelope!.body as { health: { diagnosticsTls: Record<string, unknown> } })
      .health;
    expect(health.diagnosticsTls).toEqual({
      sha256: cert()!.sha256,
      spkiSha256: cert()!.spkiSha256,
      source: 'generated',
      validTo: '9999-12-31T23:59:59.000Z',
    });
  });

  it('a revoked token is refused after the list arrives; the change is reported', async () => {
    const token = technicianToken({ unit: UNIT });
    expect((await status(token)).status).toBe(200);
    const result = await cloud.pushTechnicianRevocations(UNIT, {
      version: 3,
      issuedAt: iso(Date.now()),
      tokens: [{ tid: tidOf(token), expiresAt: iso(Date.now() + 8 * 3600_000) }],
    });
    expect(result).toMatchObject({
      action: 'technician.revocations',
      status: 'accepted',
      detail: { version: 3, previousVersion: null, tokens: 1 },
    });
    const refused = await status(token);
    expect(refused.status).toBe(401);
    expect(refused.json).toMatchObject({ details: { reason: 'revoked' } });
    // Another token of the same technician still works.
    expect((await status(technicianToken({ unit: UNIT }))).status).toBe(200);
    const ev = await until(
      () =>
        seen.find(
          (m) =>
            (m.envelope?.body as { type?: string } | undefined)?.type === 'technician.revocations',
        ),
      'technician.revocations event',
    );
    expect((ev.envelope!.body as { payload: unknown }).payload).toMatchObject({
      version: 3,
      tokens: 1,
    });
  });

  it('keeps the newest list: an older version, or the same version with other content, is refused', async () => {
    const stale = await cloud.pushTechnicianRevocations(UNIT, {
      version: 2,
      issuedAt: iso(Date.now()),
    });
    expect(stale.status).toBe('rejected');
    expect(JSON.stringify(stale)).toContain('stale_revocations');
    const conflict = await cloud.pushTechnicianRevocations(UNIT, {
      version: 3,
      issuedAt: iso(Date.now()),
    });
    expect(conflict.status).toBe('rejected');
    expect(JSON.stringify(conflict)).toContain('revocations_conflict');
    expect(rt.diagnostics.url).toBeTruthy();
    const held = await status(technicianToken({ unit: UNIT }));
    expect(
      (held.json as { access: { technician: { revocations: { version: number } } } }).access
        .technician.revocations.version,
    ).toBe(3);
  });

  it('the companion-cloud CLI pushes a list from a file; "every token of bob before T" works', async () => {
    const bob = technicianToken({ unit: UNIT, name: 'bob' });
    bobBefore = bob;
    expect((await status(bob)).status).toBe(200);
    const file = join(dir, 'revocations.json');
    writeFileSync(
      file,
      JSON.stringify({
        version: 4,
        issuedAt: iso(Date.now()),
        technicians: [{ name: 'bob', issuedBefore: iso(Date.now() + 1000) }],
      }),
    );
    const keyFile = join(dir, 'cloud.key');
    writeFileSync(keyFile, KEYS.privateKeyPem, { mode: 0o600 });
    // Asynchronously: the unit runs in this process and must answer meanwhile.
    const cli = await promisify(execFile)(
      process.execPath,
      [
        'dist/sync/cloud/cli.js',
        'control',
        UNIT,
        'technician.revocations',
        '--file',
        file,
        '--url',
        broker.url,
        '--sign-key',
        keyFile,
        '--state',
        join(dir, 'seq.json'),
      ],
      { encoding: 'utf8', timeout: 30_000 },
    );
    expect(JSON.parse(cli.stdout)).toMatchObject({ status: 'accepted', detail: { version: 4 } });
    const r = await status(bob);
    expect(r.json).toMatchObject({ details: { reason: 'revoked' } });
    expect((r.json as { message: string }).message).toMatch(/every token of bob issued before/);
  });

  it('survives a restart: the list is in the store, the same certificate is served', async () => {
    const fingerprint = cert()!.sha256;
    await rt.stop();
    rt = await startRuntime(config, silentLogger());
    expect(cert()!.sha256).toBe(fingerprint);
    expect((await status(bobBefore)).json).toMatchObject({ details: { reason: 'revoked' } });
    // A token issued to bob after the revocation instant works.
    const later = technicianToken({
      unit: UNIT,
      name: 'bob',
      iat: Math.floor(Date.now() / 1000) + 5,
    });
    expect((await status(later)).status).toBe(200);
  });
});
