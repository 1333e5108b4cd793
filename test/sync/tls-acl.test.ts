/**
 * TLS with client certificates generated here with openssl, identity-as-username, and the per-unit
 * ACL shipped in packaging/mosquitto: a unit's credentials cannot read another unit's topics.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CloudClient } from '../../sync/cloud/client.js';
import { topicFor } from '../../sync/contract/topics.js';
import { startBroker, stopAllBrokers, type MosquittoBroker } from '../support/mosquitto.js';
import { booking, KEYS, startUnit, until, type Unit } from './unit-harness.js';

const ACL = fileURLToPath(new URL('../../packaging/mosquitto/companion.acl', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'companion-pki-'));
const p = (f: string) => join(dir, f);
const ssl = (...args: string[]) => execFileSync('openssl', args, { stdio: 'pipe' });

function issue(name: string, cn: string, server = false): void {
  ssl(
    'req',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-keyout',
    p(`${name}.key`),
    '-subj',
    `/CN=${cn}`,
    '-out',
    p(`${name}.csr`),
  );
  const ext = p(`${name}.ext`);
  writeFileSync(
    ext,
    server ? 'subjectAltName=IP:127.0.0.1,DNS:localhost\n' : 'extendedKeyUsage=clientAuth\n',
  );
  ssl(
    'x509',
    '-req',
    '-in',
    p(`${name}.csr`),
    '-CA',
    p('ca.crt'),
    '-CAkey',
    p('ca.key'),
    '-CAcreateserial',
    '-days',
    '2',
    '-extfile',
    ext,
    '-out',
    p(`${name}.crt`),
  );
}

let broker: MosquittoBroker;
let unit: Unit;
let cloud: CloudClient;

beforeAll(async () => {
  ssl(
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-keyout',
    p('ca.key'),
    '-subj',
    '/CN=companion-test-ca',
    '-days',
    '2',
    '-out',
    p('ca.crt'),
  );
  issue('broker', 'localhost', true);
  issue('unit-a', 'unit-a');
  issue('unit-b', 'unit-b');
  issue('cloud', 'companion-cloud');
  broker = await startBroker({
    acl: readFileSync(ACL, 'utf8'),
    tls: {
      caFile: p('ca.crt'),
      certFile: p('broker.crt'),
      keyFile: p('broker.key'),
      requireCertificate: true,
      useIdentityAsUsername: true,
    },
    // The plain listener is for nobody: no anonymous users, no password file.
    extraConfig: [],
  });
  unit = startUnit(broker.tlsUrl, {
    unitId: 'unit-a',
    mqtt: { tls: { caFile: p('ca.crt'), certFile: p('unit-a.crt'), keyFile: p('unit-a.key') } },
  });
  await unit.start();
  cloud = new CloudClient({
    url: broker.tlsUrl,
    signingKey: KEYS.privateKeyPem,
    tls: {
      ca: readFileSync(p('ca.crt')),
      cert: readFileSync(p('cloud.crt')),
      key: readFileSync(p('cloud.key')),
    },
  });
  await cloud.start();
  await until(() => unit.link.state().connected, 'unit-a connected over TLS');
});

afterAll(async () => {
  await cloud?.stop();
  await unit?.stop();
  await stopAllBrokers();
});

describe('TLS client certificates and per-unit ACL', () => {
  it('a unit with its certificate books over TLS', async () => {
    expect(await cloud.book('unit-a', booking('tls-1', 1))).toMatchObject({ status: 'accepted' });
  });

  it("unit-b's credentials cannot read unit-a's commands nor publish into them", async () => {
    const spy = await mqtt.connectAsync(broker.tlsUrl, {
      protocolVersion: 5,
      clientId: 'unit-b',
      ca: readFileSync(p('ca.crt')),
      cert: readFileSync(p('unit-b.crt')),
      key: readFileSync(p('unit-b.key')),
    });
    const got: string[] = [];
    spy.on('message', (t) => got.push(t));
    // Mosquitto grants the SUBSCRIBE but the ACL filters every delivery on unit-a's topics.
    await spy.subscribeAsync(topicFor('unit-a', '#' as 'cmd'), { qos: 1 }).catch(() => undefined);
    await spy.subscribeAsync(topicFor('unit-b', 'cmd'), { qos: 1 });
    // Forged command into unit-a's topic: the broker drops it (ACL), the unit never sees it.
    await spy.publishAsync(topicFor('unit-a', 'cmd'), '{"v":1}', { qos: 1 }).catch(() => undefined);
    expect(await cloud.book('unit-a', booking('tls-2', 1))).toMatchObject({ status: 'accepted' });
    await cloud.book('unit-b', booking('for-b', 1), 500).catch(() => undefined);
    await until(() => got.includes(topicFor('unit-b', 'cmd')), 'unit-b sees its own topic');
    expect(got.filter((t) => t.includes('unit-a'))).toEqual([]);
    expect(unit.link.state().rejected).toBe(0);
    await spy.endAsync();
  });

  it('a client without a certificate is refused', async () => {
    const c = mqtt.connect(broker.tlsUrl, {
      protocolVersion: 5,
      ca: readFileSync(p('ca.crt')),
      reconnectPeriod: 0,
      connectTimeout: 3000,
    });
    const outcome = await new Promise<string>((resolve) => {
      c.once('connect', () => resolve('connected'));
      c.once('error', (e) => resolve(`error: ${e.message}`));
      c.once('close', () => resolve('closed'));
    });
    c.end(true);
    expect(outcome).not.toBe('connected');
  });
});
