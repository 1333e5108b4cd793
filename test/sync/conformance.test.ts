/**
 * The conformance kit against a real agent process over a real broker: `companion-cloud
 * conformance` as a backend team runs it, every rule of docs/protocol.md passing — and failing when
 * the unit breaks one (a unit that does not verify signatures fails the forged-signature rule).
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateSigningKeyPair } from '../../sync/contract/signing.js';
import { startBroker, stopAllBrokers, type MosquittoBroker } from '../support/mosquitto.js';
import { killAll, startAgentProcess } from '../support/agent-process.js';

const CLOUD_CLI = join(process.cwd(), 'dist', 'sync', 'cloud', 'cli.js');
const run = promisify(execFile);
const KEYS = generateSigningKeyPair();
let broker: MosquittoBroker;
const dirs: string[] = [];

beforeAll(async () => {
  broker = await startBroker();
});
afterAll(async () => {
  await killAll();
  await stopAllBrokers();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

async function unit(unitId: string, signatureRequired: boolean) {
  const dir = mkdtempSync(join(tmpdir(), 'companion-conf-'));
  dirs.push(dir);
  const configPath = join(dir, 'config.json');
  writeFileSync(
    configPath,
    JSON.stringify({
      unitId,
      dataDir: dir,
      diagnostics: { enabled: false },
      dialPolicy: { quietHours: null },
      mqtt: {
        enabled: true,
        url: broker.url,
        reconnect: { minMs: 50, maxMs: 200 },
        signature: signatureRequired
          ? { publicKeys: [KEYS.publicKeyBase64] }
          : { required: false, publicKeys: [] },
      },
    }),
  );
  const keyFile = join(dir, 'cloud.key');
  writeFileSync(keyFile, KEYS.privateKeyPem, { mode: 0o600 });
  const p = startAgentProcess(configPath);
  await p.ready;
  return { dir, keyFile, p };
}

async function conformance(unitId: string, keyFile: string, dir: string) {
  try {
    const r = await run(
      process.execPath,
      [
        CLOUD_CLI,
        'conformance',
        unitId,
        '--url',
        broker.url,
        '--sign-key',
        keyFile,
        '--state',
        join(dir, 'sequences.json'),
        '--include-snapshots',
        '--test-call',
        '+4915123456789',
        '--json',
      ],
      { timeout: 120_000 },
    );
    return {
      code: 0,
      results: JSON.parse(r.stdout) as { rule: string; ok: boolean; detail: string }[],
    };
  } catch (err) {
    const e = err as { code: number; stdout: string };
    return {
      code: e.code,
      results: JSON.parse(e.stdout) as { rule: string; ok: boolean; detail: string }[],
    };
  }
}

describe('companion-cloud conformance', () => {
  it('every documented rule passes against a real agent process', async () => {
    const u = await unit('unit-conform', true);
    const r = await conformance('unit-conform', u.keyFile, u.dir);
    expect(
      r.results.filter((x) => !x.ok),
      JSON.stringify(r.results, null, 2),
    ).toEqual([]);
    expect(r.results.length).toBeGreaterThanOrEqual(9);
    expect(r.code).toBe(0);
  });

  it('reports the rule a unit breaks: one that does not check signatures', async () => {
    const u = await unit('unit-lax', false);
    const r = await conformance('unit-lax', u.keyFile, u.dir);
    expect(r.code).toBe(1);
    const failed = r.results.filter((x) => !x.ok).map((x) => x.rule);
    expect(failed, JSON.stringify(r.results, null, 2)).toEqual([
      'a forged signature is refused (Envelope)',
    ]);
  });
});
