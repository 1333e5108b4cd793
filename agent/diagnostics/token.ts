/**
 * Where the diagnostics bearer token comes from: the config, a file the operator provisioned, or a
 * file generated on first start (mode 0600, readable only by the service user). The token itself is
 * never logged; only where it lives.
 */
import { randomBytes, timingSafeEqual, createHash } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { DiagnosticsConfig } from './config.js';

export interface ResolvedToken {
  token: string;
  source: 'config' | 'file' | 'generated';
  /** The file it was read from or written to (null when it came from the config). */
  path: string | null;
  /** A problem worth logging (e.g. the file was readable by others and was tightened). */
  warning: string | null;
}

export function defaultTokenPath(dataDir: string): string {
  return join(dataDir, 'diagnostics.token');
}

export function resolveToken(cfg: DiagnosticsConfig, dataDir: string): ResolvedToken {
  if (cfg.token) return { token: cfg.token, source: 'config', path: null, warning: null };
  const path = cfg.tokenFile ?? defaultTokenPath(dataDir);
  if (!existsSync(path)) {
    mkdirSync(dirname(path), { recursive: true });
    const token = randomBytes(24).toString('base64url');
    // 'wx': never overwrite a file another process created meanwhile.
    writeFileSync(path, `${token}\n`, { mode: 0o600, flag: 'wx' });
    return { token, source: 'generated', path, warning: null };
  }
  let warning: string | null = null;
  const mode = statSync(path).mode & 0o777;
  if ((mode & 0o077) !== 0) {
    chmodSync(path, 0o600);
    warning = `token file ${path} was readable by others (mode ${mode.toString(8)}); set to 0600`;
  }
  const token = readFileSync(path, 'utf8').trim();
  if (token.length < 16) {
    throw new Error(`diagnostics token file ${path} holds fewer than 16 characters`);
  }
  return { token, source: 'file', path, warning };
}

/** Constant-time comparison (hash first so lengths never leak through timing either). */
export function tokenMatches(expected: string, given: string | null): boolean {
  if (given === null) return false;
  const a = createHash('sha256').update(expected).digest();
  const b = createHash('sha256').update(given).digest();
  return timingSafeEqual(a, b);
}
