/**
 * The unit's TLS identity for the diagnostics endpoint on the service network: a provisioned
 * certificate + key, or one generated at first start into <dataDir>/diagnostics-tls/ (key 0600)
 * and kept from then on, so its fingerprint stays what the cloud has on record. A technician's tool
 * pins it by the SHA-256 of the certificate or of its public key (SPKI), both reported in the unit's
 * status and heartbeat. Rotating: delete the two files; the next start makes a new identity.
 */
import { createHash, createPrivateKey, X509Certificate } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';

export interface TlsIdentity {
  cert: string;
  key: string;
  source: 'provisioned' | 'generated' | 'file';
  certFile: string;
  keyFile: string;
  /** SHA-256 of the certificate (DER), colon-separated hex, as browsers show it. */
  sha256: string;
  /** base64 SHA-256 of the SubjectPublicKeyInfo: curl --pinnedpubkey sha256//…, Chromium's SPKI list. */
  spkiSha256: string;
  subject: string;
  altNames: string[];
  validTo: string;
  /** A problem worth logging (a key file readable by others was tightened). */
  warning: string | null;
}

export interface TlsIdentityOptions {
  dataDir: string;
  certFile?: string | undefined;
  keyFile?: string | undefined;
  unitId: string;
  /** Extra DNS names / IP addresses for a generated certificate. */
  names: string[];
}

export function tlsDir(dataDir: string): string {
  return join(dataDir, 'diagnostics-tls');
}

/** Fingerprints and names of a PEM certificate; throws with a clear message if it is not one. */
export function describeCertificate(certPem: string): {
  sha256: string;
  spkiSha256: string;
  subject: string;
  altNames: string[];
  validTo: string;
  x509: X509Certificate;
} {
  const x509 = new X509Certificate(certPem);
  const spki = x509.publicKey.export({ format: 'der', type: 'spki' });
  return {
    x509,
    sha256: x509.fingerprint256,
    spkiSha256: createHash('sha256').update(spki).digest('base64'),
    subject: x509.subject,
    altNames: (x509.subjectAltName ?? '').split(', ').filter(Boolean),
    validTo: new Date(x509.validTo).toISOString(),
  };
}

/** Load the provisioned or stored identity, or generate one (the first start). */
export async function loadOrCreateTlsIdentity(o: TlsIdentityOptions): Promise<TlsIdentity> {
  const provisioned = Boolean(o.certFile && o.keyFile);
  const dir = tlsDir(o.dataDir);
  const certFile = o.certFile ?? join(dir, 'cert.pem');
  const keyFile = o.keyFile ?? join(dir, 'key.pem');
  let source: TlsIdentity['source'] = provisioned ? 'provisioned' : 'file';
  if (!provisioned && !existsSync(certFile) && !existsSync(keyFile)) {
    // Only technicians' TLS needs this code: load it on first start only.
    const { selfSignedCertificate } = await import('./x509.js');
    const names = o.names.filter((n) => !/^[\d.:]+$/.test(n));
    const ips = o.names.filter((n) => /^[\d.:]+$/.test(n));
    const host = hostname();
    const made = selfSignedCertificate({
      commonName: o.unitId,
      dnsNames: [o.unitId, `${o.unitId}.local`, host, `${host}.local`, 'localhost', ...names],
      ipAddresses: ['127.0.0.1', '::1', ...ips],
      // Fixed, generous validity: a unit may boot with a wrong clock, and the fingerprint is pinned.
      notBefore: new Date('2025-01-01T00:00:00Z'),
      notAfter: new Date('9999-12-31T23:59:59Z'),
    });
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    // 'wx': never overwrite an identity another process wrote meanwhile.
    writeFileSync(keyFile, made.keyPem, { mode: 0o600, flag: 'wx' });
    writeFileSync(certFile, made.certPem, { mode: 0o644, flag: 'wx' });
    source = 'generated';
  }
  for (const [what, path] of [
    ['certificate', certFile],
    ['key', keyFile],
  ] as const) {
    if (!existsSync(path)) {
      throw new Error(
        `diagnostics TLS ${what} ${path} is missing` +
          (provisioned ? '' : ' (delete the other file too to make a new identity)'),
      );
    }
  }
  let warning: string | null = null;
  const mode = statSync(keyFile).mode & 0o777;
  if ((mode & 0o077) !== 0) {
    chmodSync(keyFile, 0o600);
    warning = `TLS key ${keyFile} was readable by others (mode ${mode.toString(8)}); set to 0600`;
  }
  const cert = readFileSync(certFile, 'utf8');
  const key = readFileSync(keyFile, 'utf8');
  let d: ReturnType<typeof describeCertificate>;
  try {
    d = describeCertificate(cert);
  } catch (err) {
    throw new Error(
      `diagnostics TLS certificate ${certFile} is not a PEM certificate: ${(err as Error).message}`,
    );
  }
  if (!d.x509.checkPrivateKey(createPrivateKey(key))) {
    throw new Error(
      `diagnostics TLS key ${keyFile} does not belong to the certificate ${certFile}`,
    );
  }
  return {
    cert,
    key,
    source,
    certFile,
    keyFile,
    sha256: d.sha256,
    spkiSha256: d.spkiSha256,
    subject: d.subject,
    altNames: d.altNames,
    validTo: d.validTo,
    warning,
  };
}

/** What the unit reports about its identity (status, heartbeat): public facts only. */
export function tlsFacts(t: TlsIdentity): {
  sha256: string;
  spkiSha256: string;
  source: TlsIdentity['source'];
  validTo: string;
} {
  return { sha256: t.sha256, spkiSha256: t.spkiSha256, source: t.source, validTo: t.validTo };
}
