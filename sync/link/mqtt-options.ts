/**
 * Builds mqtt.js options for the unit from its config: MQTT 5, client id = unit id, persistent
 * session (clean:false + session expiry), no built-in reconnect (the link does backoff with jitter),
 * TLS files read here, at start(), never in a constructor.
 */
import { readFileSync } from 'node:fs';
import type { IClientOptions } from 'mqtt';
import { BROKER_PROTOCOLS, brokerUrlProblem, type MqttConfig } from '../config.js';
import { PACKET_LIMIT_FACTOR } from '../contract/limits.js';

export class TlsFileError extends Error {
  override name = 'TlsFileError';
}

function readPem(path: string, what: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    throw new TlsFileError(`cannot read mqtt.tls.${what} ${path}: ${(err as Error).message}`);
  }
}

export interface Will {
  topic: string;
  payload: string;
}

/**
 * Where to connect, from the broker URL, parsed with the WHATWG URL API. Handing mqtt.js the URL
 * string would have it call the legacy `url.parse()`, which Node 24 reports as deprecated
 * (DEP0169) in the journal on every start. Credentials in the URL are taken as mqtt.js took them;
 * `mqtt.username`/`password` win.
 */
export function brokerTarget(
  url: string,
): Pick<IClientOptions, 'protocol' | 'host' | 'hostname' | 'port' | 'username' | 'password'> {
  const problem = brokerUrlProblem(url);
  if (problem) throw new Error(`mqtt.url ${problem}`);
  const u = new URL(url);
  const host = u.hostname.replace(/^\[(.*)\]$/, '$1'); // an IPv6 literal without its brackets
  return {
    protocol: u.protocol.slice(0, -1) as (typeof BROKER_PROTOCOLS)[number],
    host,
    hostname: host,
    ...(u.port ? { port: Number(u.port) } : {}),
    ...(u.username ? { username: decodeURIComponent(u.username) } : {}),
    ...(u.password ? { password: decodeURIComponent(u.password) } : {}),
  };
}

export function unitClientOptions(unitId: string, cfg: MqttConfig, will: Will): IClientOptions {
  const opts: IClientOptions = {
    ...brokerTarget(cfg.url),
    protocolVersion: 5,
    clientId: unitId,
    clean: false,
    keepalive: cfg.keepaliveSec,
    connectTimeout: cfg.connectTimeoutMs,
    reconnectPeriod: 0,
    manualConnect: true,
    resubscribe: false,
    // mqtt-packet otherwise pre-builds a Buffer for every 16-bit number on the first write: 65,536
    // small objects, ~6 MB of heap kept for the life of the process (issue 14's memory budget).
    // Generating the two bytes per packet costs nothing at the unit's message rates.
    writeCache: false,
    // A maximum packet size above the payload limit (sync/contract/limits.ts): a message a little
    // too large still arrives and is refused with a reason (rule 8); one far larger is dropped by
    // the broker instead of being buffered whole in the unit's memory.
    properties: {
      sessionExpiryInterval: cfg.sessionExpirySec,
      maximumPacketSize: Math.min(2 ** 28, cfg.maxPayloadBytes * PACKET_LIMIT_FACTOR),
    },
    will: {
      topic: will.topic,
      payload: Buffer.from(will.payload),
      qos: 1,
      retain: true,
      properties: { willDelayInterval: cfg.willDelaySec },
    },
  };
  if (cfg.username) opts.username = cfg.username;
  if (cfg.password) opts.password = cfg.password;
  if (cfg.tls) {
    if (cfg.tls.caFile) opts.ca = readPem(cfg.tls.caFile, 'caFile');
    if (cfg.tls.certFile) opts.cert = readPem(cfg.tls.certFile, 'certFile');
    if (cfg.tls.keyFile) opts.key = readPem(cfg.tls.keyFile, 'keyFile');
    opts.rejectUnauthorized = cfg.tls.rejectUnauthorized;
  }
  return opts;
}

/** The broker URL without credentials, for diagnostics and logs. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    u.username = '';
    u.password = '';
    return u.toString().replace(/\/$/, '');
  } catch {
    return 'invalid-url';
  }
}
