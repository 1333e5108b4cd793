/**
 * The token's life (generated once, 0600, reused, never logged), the config section, the rate
 * limit, and the production wiring: startRuntime serves diagnostics next to the agent.
 */
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../agent/config/config.js';
import { createLogger, LogRing } from '../../agent/log.js';
import { startRuntime } from '../../agent/main.js';
import { LogSink } from '../support/engine.js';
import { startDiagnostics } from './harness.js';

describe('token', () => {
  it('is generated on first start into <dataDir>/diagnostics.token (0600), reused, never logged', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'companion-diag-token-'));
    try {
      const a = await startDiagnostics({ dir, noToken: true });
      const path = join(dir, 'diagnostics.token');
      const token = readFileSync(path, 'utf8').trim();
      expect(statSync(path).mode & 0o777).toBe(0o600);
      expect(token.length).toBeGreaterThanOrEqual(32);
      expect((await a.request('GET', '/v1/status', { token })).status).toBe(200);
      expect((await a.request('GET', '/v1/status')).status).toBe(401);
      const started = a.sink.lines.find(
        (l) => l.msg === `diagnostics listening; a new token was written to ${path}`,
      );
      expect(started).toMatchObject({ tokenSource: 'generated', tokenFile: path });
      expect(a.sink.text()).not.toContain(token);
      await a.stop();

      const b = await startDiagnostics({ dir, noToken: true });
      expect(readFileSync(path, 'utf8').trim()).toBe(token);
      expect((await b.request('GET', '/readyz', { token })).status).toBe(200);
      expect(b.sink.lines.find((l) => l.msg === 'diagnostics listening')).toMatchObject({
        tokenSource: 'file',
      });
      await b.stop();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a token file readable by others is tightened to 0600, with a warning', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'companion-diag-token-'));
    try {
      const file = join(dir, 'provisioned.token');
      writeFileSync(file, 'provisioned-token-abcdefghijkl\n', { mode: 0o644 });
      const d = await startDiagnostics({
        dir,
        noToken: true,
        config: { diagnostics: { tokenFile: file } },
      });
      expect(statSync(file).mode & 0o777).toBe(0o600);
      expect(d.sink.text()).toMatch(/was readable by others/);
      const ok = await d.request('GET', '/v1/modem', { token: 'provisioned-token-abcdefghijkl' });
      expect(ok.status).toBe(200);
      await d.stop();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('config: defaults, and every bad value reported with its path', () => {
    expect(parseConfig({}).diagnostics).toMatchObject({
      enabled: true,
      host: '127.0.0.1',
      port: 8080,
      bodyLimitBytes: 16_384,
      rateLimit: { perSecond: 10, burst: 60 },
    });
    expect(() =>
      parseConfig({ diagnostics: { token: 'short', port: 70_000, tokenFile: '/x' } }),
    ).toThrow(/diagnostics\.port: Too big[\s\S]*diagnostics\.token: must be at least 16/);
    expect(() =>
      parseConfig({ diagnostics: { token: 'a-long-enough-token-123', tokenFile: '/x' } }),
    ).toThrow(/set token or tokenFile, not both/);
  });
});

describe('rate limit', () => {
  it('answers 429 with Retry-After once the bucket is empty; /livez stays open', async () => {
    const d = await startDiagnostics({
      config: { diagnostics: { rateLimit: { perSecond: 0.01, burst: 3 } } },
    });
    try {
      const codes: number[] = [];
      for (let i = 0; i < 5; i++) codes.push((await d.request('GET', '/v1/modem')).status);
      expect(codes).toEqual([200, 200, 200, 429, 429]);
      const r = await d.request('GET', '/v1/modem');
      expect(r.json).toMatchObject({ error: 'rate_limited' });
      expect(Number(r.headers.get('retry-after'))).toBeGreaterThan(0);
      expect((await d.request('GET', '/livez', { token: null })).status).toBe(200);
    } finally {
      await d.stop();
    }
  });
});

describe('production wiring', () => {
  it('startRuntime serves diagnostics (with the log ring) and stops it before the agent', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'companion-diag-rt-'));
    const ring = new LogRing(100);
    const logger = createLogger({ level: 'info', destination: new LogSink(), ring });
    const config = parseConfig({
      dataDir: dir,
      diagnostics: { port: 0, token: 'runtime-token-0123456789' },
    });
    const rt = await startRuntime(config, logger, { logRing: ring });
    try {
      const url = rt.diagnostics.url;
      const auth = { authorization: 'Bearer runtime-token-0123456789' };
      expect((await fetch(`${url}/livez`)).status).toBe(200);
      expect((await fetch(`${url}/readyz`, { headers: auth })).status).toBe(200);
      const logs = (await (await fetch(`${url}/v1/logs`, { headers: auth })).json()) as {
        lines: { msg: string }[];
      };
      expect(logs.lines.map((l) => l.msg)).toContain('agent started');
      const page = await fetch(`${url}/`);
      expect(page.headers.get('content-security-policy')).toMatch(/script-src 'sha256-/);
      expect(await page.text()).toContain('<title>Companion unit diagnostics</title>');
    } finally {
      await rt.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
