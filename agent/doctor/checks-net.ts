/** Checks of the cloud link's prerequisites: the broker answers TCP, the TLS files are safe. */
import { accessSync, constants, existsSync, statSync } from 'node:fs';
import { connect } from 'node:net';
import type { Config } from '../config/config.js';
import { fail, ok, skip, warn, type CheckResult, type DoctorEnv } from './types.js';

const DEFAULT_PORTS: Record<string, number> = {
  'mqtt:': 1883,
  'mqtts:': 8883,
  'ws:': 80,
  'wss:': 443,
};

/** A TCP connect only: enough to tell DNS, routing and firewall problems from TLS or auth ones. */
export async function checkBroker(config: Config, env: DoctorEnv): Promise<CheckResult> {
  const name = 'broker';
  if (!config.mqtt.enabled) return skip(name, 'mqtt.enabled is false');
  const url = new URL(config.mqtt.url);
  const host = url.hostname.replace(/^\[|\]$/g, '');
  const port = Number(url.port) || DEFAULT_PORTS[url.protocol] || 1883;
  const error = await new Promise<string | null>((resolve) => {
    const sock = connect({ host, port });
    const done = (e: string | null) => {
      sock.destroy();
      resolve(e);
    };
    sock.setTimeout(env.connectTimeoutMs, () =>
      done(`no answer within ${env.connectTimeoutMs} ms`),
    );
    sock.once('connect', () => done(null));
    sock.once('error', (e) => done(e.message));
  });
  if (error !== null) {
    return fail(
      name,
      `cannot reach ${host}:${port}: ${error}`,
      'check the cellular link/APN, DNS and mqtt.url (calls still go out offline)',
    );
  }
  return ok(name, `${host}:${port} accepts TCP connections`);
}

export function checkCertificates(config: Config): CheckResult {
  const name = 'certificates';
  const tls = config.mqtt.tls;
  if (!tls || (!tls.caFile && !tls.certFile && !tls.keyFile)) {
    if (config.mqtt.enabled && /^(mqtt|ws):/.test(config.mqtt.url)) {
      return warn(
        name,
        `no TLS files configured and ${config.mqtt.url} is unencrypted`,
        'use mqtts:// with mqtt.tls.caFile, certFile and keyFile',
      );
    }
    return skip(name, 'no TLS files configured');
  }
  const files: [string, string | undefined][] = [
    ['mqtt.tls.caFile', tls.caFile],
    ['mqtt.tls.certFile', tls.certFile],
    ['mqtt.tls.keyFile', tls.keyFile],
  ];
  for (const [key, path] of files) {
    if (!path) continue;
    if (!existsSync(path))
      return fail(name, `${key} ${path} does not exist`, `install the file or fix ${key}`);
    try {
      accessSync(path, constants.R_OK);
    } catch {
      return fail(
        name,
        `${key} ${path} is not readable by uid ${process.getuid?.() ?? '?'}`,
        `chgrp companion ${path} && chmod g+r ${path}`,
      );
    }
  }
  if (tls.keyFile) {
    // A private key readable by "other" (or writable by the group) leaks the unit's identity.
    const mode = statSync(tls.keyFile).mode & 0o777;
    if ((mode & 0o037) !== 0) {
      return fail(
        name,
        `key ${tls.keyFile} has mode ${mode.toString(8).padStart(4, '0')}`,
        `chmod 0600 ${tls.keyFile} (or 0640 owned by root:companion)`,
      );
    }
  }
  return ok(name, 'TLS files present, key permissions safe');
}
