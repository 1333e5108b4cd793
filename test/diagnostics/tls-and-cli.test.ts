/**
 * The unit's TLS identity and the issuing side, as operators and technicians meet them: the
 * generated certificate read by openssl (an independent parser) and pinned by curl; a provisioned
 * certificate; binding beyond loopback turns TLS on by itself; doctor reports the fingerprint; and
 * the built `companion-cloud technician-token` CLI issues a token the unit accepts.
 */
import { execFile, execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { networkInterfaces, tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { selfSignedCertificate } from '../../agent/diagnostics/x509.js';
import { tlsDir } from '../../agent/diagnostics/tls-identity.js';
import { runDoctor } from '../../agent/doctor/run.js';
import { defaultDoctorEnv } from '../../agent/doctor/run.js';
import { rawRequest, startDiagnostics, technicianToken } from './harness.js';

const dirs: string[] = [];
const tempDir = (p: string) => {
  const d = mkdtempSync(join(tmpdir(), p));
  dirs.push(d);
  return d;
};
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});
const run = promisify(execFile);

describe('the generated certificate', () => {
  it('is a valid X.509 v3 server certificate to openssl, with the unit names, key 0600, kept across restarts', async () => {
    const dir = tempDir('companion-tls-');
    const d = await startDiagnostics({
      dir,
      config: {
        unitId: 'unit-0042',
        diagnostics: { tls: { mode: 'always' }, names: ['bed-12.care.example', '10.20.30.40'] },
      },
    });
    const first = d.service.tlsIdentity()!;
    await d.stop();
    const certFile = join(tlsDir(dir), 'cert.pem');
    const keyFile = join(tlsDir(dir), 'key.pem');
    expect(statSync(keyFile).mode & 0o777).toBe(0o600);
    const text = execFileSync('openssl', ['x509', '-in', certFile, '-noout', '-text']).toString();
    expect(text).toMatch(/Version: 3/);
    expect(text).toMatch(/Signature Algorithm: ecdsa-with-SHA256/);
    expect(text).toMatch(/Subject: CN = unit-0042/);
    expect(text).toMatch(/CA:FALSE/);
    expect(text).toMatch(/TLS Web Server Authentication/);
    for (const n of [
      'DNS:unit-0042',
      'DNS:unit-0042.local',
      'DNS:localhost',
      'DNS:bed-12.care.example',
      'IP Address:127.0.0.1',
      'IP Address:10.20.30.40',
    ]) {
      expect(text).toContain(n);
    }
    // openssl's own fingerprint is the one the unit reports.
    const fp = execFileSync('openssl', [
      'x509',
      '-in',
      certFile,
      '-noout',
      '-fingerprint',
      '-sha256',
    ])
      .toString()
      .trim();
    expect(fp).toBe(`sha256 Fingerprint=${first.sha256}`);
    expect(execFileSync('openssl', ['verify', '-CAfile', certFile, certFile]).toString()).toMatch(
      /OK/,
    );

    const again = await startDiagnostics({
      dir,
      config: { unitId: 'unit-0042', diagnostics: { tls: { mode: 'always' } } },
    });
    try {
      expect(again.service.tlsIdentity()).toEqual({ ...first, source: 'file' });
      // curl pinning the public key (what the docs tell a technician to do).
      const port = new URL(again.url).port;
      const out = await run('curl', [
        '-sS',
        '--cacert',
        certFile,
        '--pinnedpubkey',
        `sha256//${first.spkiSha256}`,
        '-H',
        `Authorization: Bearer ${technicianToken({ unit: 'unit-0042' })}`,
        `https://127.0.0.1:${port}/v1/session`,
      ]);
      expect(JSON.parse(out.stdout)).toMatchObject({ session: { name: 'anna' } });
      const wrongPin = await run('curl', [
        '-sS',
        '-k',
        '--pinnedpubkey',
        'sha256//AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=',
        `https://127.0.0.1:${port}/livez`,
      ]).then(
        () => 'connected',
        (e: { stderr: string }) => e.stderr,
      );
      expect(wrongPin).toMatch(/public key does not match pinned/i);
    } finally {
      await again.stop();
    }
  });

  it('a provisioned certificate is served as is; a key that does not match refuses to start', async () => {
    const dir = tempDir('companion-tls-prov-');
    const made = selfSignedCertificate({
      commonName: 'provisioned-unit',
      dnsNames: ['localhost'],
      ipAddresses: ['127.0.0.1'],
      notBefore: new Date('2025-01-01T00:00:00Z'),
      notAfter: new Date('2035-01-01T00:00:00Z'),
    });
    const other = selfSignedCertificate({
      commonName: 'other',
      dnsNames: [],
      ipAddresses: [],
      notBefore: new Date('2025-01-01T00:00:00Z'),
      notAfter: new Date('2035-01-01T00:00:00Z'),
    });
    writeFileSync(join(dir, 'unit.pem'), made.certPem);
    writeFileSync(join(dir, 'unit.key'), made.keyPem, { mode: 0o600 });
    writeFileSync(join(dir, 'other.key'), other.keyPem, { mode: 0o600 });
    const tls = {
      mode: 'always' as const,
      certFile: join(dir, 'unit.pem'),
      keyFile: join(dir, 'unit.key'),
    };
    const d = await startDiagnostics({
      dir: tempDir('companion-tls-data-'),
      config: { diagnostics: { tls } },
    });
    try {
      expect(d.service.tlsIdentity()).toMatchObject({
        source: 'provisioned',
        validTo: '2035-01-01T00:00:00.000Z',
      });
      const r = await rawRequest(`${d.url}/livez`, 'GET', { ca: made.certPem });
      expect(r.status).toBe(200);
    } finally {
      await d.stop();
    }
    await expect(
      startDiagnostics({
        dir: tempDir('companion-tls-data-'),
        config: { diagnostics: { tls: { ...tls, keyFile: join(dir, 'other.key') } } },
      }),
    ).rejects.toThrow(/does not belong to the certificate/);
  });
});

describe('binding beyond loopback', () => {
  it('serves HTTPS by itself (plain HTTP is refused), reachable on the unit’s own address', async () => {
    const d = await startDiagnostics({ config: { diagnostics: { host: '0.0.0.0' } } });
    try {
      expect(d.url).toMatch(/^https:\/\/0\.0\.0\.0:/);
      const port = new URL(d.url).port;
      const plain = await rawRequest(`http://127.0.0.1:${port}/livez`, 'GET').then(
        (r) => r.status,
        (e: Error) => e.message,
      );
      expect(plain).not.toBe(200);
      const ca = d.ca()!;
      expect((await rawRequest(`https://127.0.0.1:${port}/livez`, 'GET', { ca })).status).toBe(200);
      // A client on the service network reaches it by the unit's address (not loopback): the
      // Host check accepts the unit's own address, and the local token is refused from there.
      const lan = Object.values(networkInterfaces())
        .flat()
        .find((a) => a && a.family === 'IPv4' && !a.internal);
      expect(lan, 'this machine has a non-loopback IPv4 address').toBeTruthy();
      const remote = await rawRequest(`https://${lan!.address}:${port}/v1/status`, 'GET', {
        token: 'test-token-0123456789abcdef',
        // The certificate names the unit, not its DHCP address: a technician's tool pins it.
        ca,
        pinSpki: d.service.tlsIdentity()!.spkiSha256,
      });
      expect(remote.json).toMatchObject({ details: { reason: 'local_token_not_allowed' } });
      const tech = await rawRequest(`https://${lan!.address}:${port}/v1/session`, 'GET', {
        token: technicianToken(),
        ca,
        pinSpki: d.service.tlsIdentity()!.spkiSha256,
      });
      expect(tech.status).toBe(200);
    } finally {
      await d.stop();
    }
  });
});

describe('doctor', () => {
  it('reports the TLS identity with its fingerprint, and the technician authority keys', async () => {
    const dir = tempDir('companion-doctor-tls-');
    const d = await startDiagnostics({
      dir,
      config: { diagnostics: { tls: { mode: 'always' } } },
    });
    const sha = d.service.tlsIdentity()!.sha256;
    await d.stop();
    const cfgFile = join(dir, 'config.json');
    writeFileSync(
      cfgFile,
      JSON.stringify({
        dataDir: dir,
        diagnostics: { tls: { mode: 'always' }, technician: { authorityKeys: [] } },
      }),
    );
    const report = await runDoctor({ path: cfgFile, env: {} }, defaultDoctorEnv());
    const tls = report.checks.find((c) => c.name === 'diagnostics tls')!;
    expect(tls).toMatchObject({ status: 'ok' });
    expect(tls.detail).toContain(sha);
    expect(report.checks.find((c) => c.name === 'technician access')).toMatchObject({
      status: 'warn',
      fix: expect.stringContaining('technician-token keygen'),
    });
    // A key readable by others fails, with the fix.
    const key = join(tlsDir(dir), 'key.pem');
    execFileSync('chmod', ['0644', key]);
    const bad = await runDoctor({ path: cfgFile, env: {} }, defaultDoctorEnv());
    expect(bad.checks.find((c) => c.name === 'diagnostics tls')).toMatchObject({
      status: 'fail',
      fix: `chmod 0600 ${key}`,
    });
  });
});

describe('companion-cloud technician-token (the built CLI)', () => {
  const cli = (args: string[]) =>
    run(process.execPath, ['dist/sync/cloud/cli.js', 'technician-token', ...args]).then(
      (r) => ({ code: 0, stdout: r.stdout, stderr: r.stderr }),
      (e: { code: number; stdout: string; stderr: string }) => e,
    );

  it('keygen, issue, and the unit pinning that key accepts the token with its name and scopes', async () => {
    const dir = tempDir('companion-cli-tech-');
    const kg = await cli(['keygen', '--out', dir]);
    expect(kg.code, kg.stderr).toBe(0);
    const { publicKey, privateKeyFile, configHint } = JSON.parse(kg.stdout) as {
      publicKey: string;
      privateKeyFile: string;
      configHint: unknown;
    };
    expect(statSync(privateKeyFile).mode & 0o777).toBe(0o600);
    expect(configHint).toEqual({ diagnostics: { technician: { authorityKeys: [publicKey] } } });
    // A second keygen never overwrites the key a fleet may trust.
    expect((await cli(['keygen', '--out', dir])).code).toBe(1);

    const issued = await cli([
      '--unit',
      'unit-0042',
      '--name',
      'anna',
      '--ttl',
      '8h',
      '--allow',
      'read,test-call',
      '--authority-key',
      privateKeyFile,
    ]);
    expect(issued.code, issued.stderr).toBe(0);
    const out = JSON.parse(issued.stdout) as { token: string; expiresAt: string; tokenId: string };
    const hours = (Date.parse(out.expiresAt) - Date.now()) / 3_600_000;
    expect(hours).toBeGreaterThan(7.9);
    expect(hours).toBeLessThanOrEqual(8);

    const d = await startDiagnostics({
      config: { unitId: 'unit-0042', diagnostics: { technician: { authorityKeys: [publicKey] } } },
    });
    try {
      const r = await d.request('GET', '/v1/session', { token: out.token });
      expect(r.json).toMatchObject({
        session: { name: 'anna', tokenId: out.tokenId, scopes: ['read', 'test-call'] },
      });
      const only = await cli([
        '--site',
        'lindenhof',
        '--name',
        'anna',
        '--token-only',
        '--authority-key',
        privateKeyFile,
      ]);
      expect(only.stdout.trim()).toMatch(/^ctt1\.[\w-]+\.[\w-]+$/);
      expect(
        (await d.request('GET', '/v1/status', { token: only.stdout.trim() })).json,
      ).toMatchObject({
        details: { reason: 'wrong_unit' },
      });
    } finally {
      await d.stop();
    }
  });

  it('refuses bad arguments with exit 2 and the usage', async () => {
    const dir = tempDir('companion-cli-tech-');
    const keyFile = join(dir, 'k.pem');
    const { privateKeyPem } = (
      await import('../../sync/contract/signing.js')
    ).generateSigningKeyPair();
    writeFileSync(keyFile, privateKeyPem);
    for (const [args, msg] of [
      [['--name', 'anna', '--authority-key', keyFile], /--unit or --site/],
      [['--unit', 'u1', '--authority-key', keyFile], /missing --name/],
      [['--unit', 'u1', '--name', 'anna'], /missing --authority-key/],
      [
        ['--unit', 'u1', '--name', 'anna', '--allow', 'read,fly', '--authority-key', keyFile],
        /unknown scope fly/,
      ],
      [['--unit', 'u1', '--name', 'anna', '--ttl', 'forever', '--authority-key', keyFile], /--ttl/],
      [['--unit', 'u1', '--name', 'anna', '--bogus', '--authority-key', keyFile], /bogus/],
    ] as [string[], RegExp][]) {
      const r = await cli(args);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr).toMatch(msg);
      expect(r.stderr).toContain('usage: companion-cloud technician-token');
    }
    expect(readFileSync(keyFile, 'utf8')).toBe(privateKeyPem);
  });
});
