/**
 * Doctor checks of technician access (issue 15): the diagnostics TLS identity (present, a
 * certificate whose key matches, key not readable by others; its fingerprint printed for pinning)
 * and the technician authority keys.
 */
import { createPrivateKey } from 'node:crypto';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { Config } from '../config/config.js';
import { servesTls } from '../diagnostics/config.js';
import { describeCertificate, tlsDir } from '../diagnostics/tls-identity.js';
import { fail, ok, skip, warn, type CheckResult } from './types.js';

export function checkDiagnosticsTls(config: Config): CheckResult {
  const name = 'diagnostics tls';
  const d = config.diagnostics;
  if (!d.enabled) return skip(name, 'diagnostics.enabled is false');
  if (!servesTls(d)) return skip(name, `plain HTTP on ${d.host} (this unit only)`);
  const certFile = d.tls.certFile ?? join(tlsDir(config.dataDir), 'cert.pem');
  const keyFile = d.tls.keyFile ?? join(tlsDir(config.dataDir), 'key.pem');
  const haveCert = existsSync(certFile);
  const haveKey = existsSync(keyFile);
  if (!haveCert && !haveKey && !d.tls.certFile) {
    return ok(
      name,
      `no certificate yet: one is generated at first start in ${tlsDir(config.dataDir)}`,
    );
  }
  if (!haveCert || !haveKey) {
    return fail(
      name,
      `${haveCert ? keyFile : certFile} is missing`,
      d.tls.certFile
        ? 'install the provisioned certificate and key, or fix diagnostics.tls.certFile/keyFile'
        : `remove ${tlsDir(config.dataDir)} so the next start makes a new identity (its fingerprint changes)`,
    );
  }
  try {
    const cert = describeCertificate(readFileSync(certFile, 'utf8'));
    if (!cert.x509.checkPrivateKey(createPrivateKey(readFileSync(keyFile, 'utf8')))) {
      return fail(name, `${keyFile} does not belong to ${certFile}`, 'install the matching key');
    }
    const mode = statSync(keyFile).mode & 0o777;
    if ((mode & 0o037) !== 0) {
      return fail(
        name,
        `key ${keyFile} has mode ${mode.toString(8).padStart(4, '0')}`,
        `chmod 0600 ${keyFile}`,
      );
    }
    return ok(name, `${cert.subject}, sha256 ${cert.sha256}, spki sha256//${cert.spkiSha256}`);
  } catch (err) {
    return fail(
      name,
      `cannot read the TLS identity: ${(err as Error).message}`,
      `check ${certFile} and ${keyFile}`,
    );
  }
}

export function checkTechnicianAccess(config: Config): CheckResult {
  const name = 'technician access';
  const d = config.diagnostics;
  if (!d.enabled) return skip(name, 'diagnostics.enabled is false');
  const keys = d.technician.authorityKeys.length;
  if (keys === 0) {
    return warn(
      name,
      `no technician authority key: only the unit's local token opens the endpoint (${d.technician.localToken})`,
      'pin the public key from `companion-cloud technician-token keygen` in diagnostics.technician.authorityKeys',
    );
  }
  if (d.technician.localToken === 'any' && servesTls(d)) {
    return warn(
      name,
      `${keys} authority key(s); the local token is accepted from the network too`,
      'set diagnostics.technician.localToken to "loopback" unless you are developing',
    );
  }
  return ok(
    name,
    `${keys} authority key(s), tokens up to ${d.technician.maxTtlHours} h, local token: ${d.technician.localToken}`,
  );
}
