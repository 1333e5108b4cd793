/**
 * The production wiring (agent/main.ts startRuntime) against a real broker: cloud controls reach
 * the agent's operations (test call through the runner, replay), are idempotent on the message id,
 * and the outcome events flow back because committed outbox writes kick the link.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CloudClient, type UnitMessage } from '../../sync/cloud/client.js';
import { parseConfig } from '../../agent/config/config.js';
import { silentLogger } from '../../agent/log.js';
import { startRuntime, type Runtime } from '../../agent/main.js';
import { startBroker, stopAllBrokers, type MosquittoBroker } from '../support/mosquitto.js';
import { KEYS, until } from './unit-harness.js';

const UNIT = 'unit-controls';
let broker: MosquittoBroker;
let rt: Runtime;
let cloud: CloudClient;
const seen: UnitMessage[] = [];

beforeAll(async () => {
  broker = await startBroker();
  const config = parseConfig({
    unitId: UNIT,
    dataDir: mkdtempSync(join(tmpdir(), 'companion-controls-')),
    diagnostics: { enabled: false },
    dialPolicy: { quietHours: null },
    hal: {
      modem: {
        simulator: {
          defaultRule: {
            outcome: 'answer',
            alertAfterMs: 10,
            answerAfterMs: 30,
            hangupAfterMs: 60,
          },
        },
      },
    },
    mqtt: {
      enabled: true,
      url: broker.url,
      reconnect: { minMs: 50, maxMs: 200 },
      signature: { publicKeys: [KEYS.publicKeyBase64] },
    },
  });
  rt = await startRuntime(config, silentLogger());
  cloud = new CloudClient({
    url: broker.url,
    clientId: 'cloud-controls',
    signingKey: KEYS.privateKeyPem,
  });
  await cloud.start();
  await cloud.watch(UNIT, (m) => seen.push(m), { channels: ['events', 'results'] });
  await until(() => rt.link?.state().connected, 'the unit connects');
});

afterAll(async () => {
  await cloud?.stop();
  await rt?.stop();
  await stopAllBrokers();
});

const bodies = () => seen.map((m) => (m.envelope?.body ?? {}) as Record<string, unknown>);

describe('cloud controls through the production wiring', () => {
  it('a test call goes through the runner and its outcome reaches the cloud', async () => {
    const result = await cloud.control(UNIT, { action: 'test-call', callee: '+4915123456789' });
    expect(result).toMatchObject({ action: 'test-call', status: 'accepted' });
    const runId =
      (result.detail as { runId: string } | undefined)?.runId ?? (result.runId as string);
    expect(typeof runId).toBe('string');
    const ended = await until(
      () =>
        bodies().find(
          (b) => b.type === 'attempt.ended' && (b.payload as { runId?: string })?.runId === runId,
        ),
      'attempt.ended for the test call',
    );
    expect((ended.payload as { outcome: string }).outcome).toBe('completed');
    expect(rt.agent.store.runs.get(runId)).toMatchObject({ kind: 'test', status: 'completed' });
  });

  it('a redelivered control is a duplicate, not a second call', async () => {
    const env = cloud.envelope(UNIT, 'control', { action: 'test-call', callee: '+4915123456780' });
    await cloud.publishEnvelope(UNIT, 'control', env);
    await until(() => rt.agent.store.messages.get(env.msgId), 'the first delivery is recorded');
    const testRuns = () =>
      (
        rt.agent.store.db.prepare(`SELECT count(*) AS n FROM runs WHERE kind = 'test'`).get() as {
          n: number;
        }
      ).n;
    const before = testRuns();
    await cloud.publishEnvelope(UNIT, 'control', env);
    const dup = await until(
      () =>
        bodies().find((b) => {
          const p = b.payload as { inReplyTo?: string; status?: string } | undefined;
          return (
            b.type === 'control.result' && p?.inReplyTo === env.msgId && p.status === 'duplicate'
          );
        }),
      'a duplicate result',
    );
    // The duplicate carries the first answer whole, run id included.
    const first = (dup.payload as { original: { status: string; detail: { runId: string } } })
      .original;
    expect(first.status).toBe('accepted');
    expect(rt.agent.store.runs.get(first.detail.runId)).toMatchObject({ kind: 'test' });
    expect(testRuns()).toBe(before);
  });

  it('refuses a test call the dial policy forbids, and a replay of an unknown run, with reasons', async () => {
    const premium = await cloud.control(UNIT, { action: 'test-call', callee: '+499001234567' });
    expect(premium.status).toBe('rejected');
    expect(JSON.stringify(premium)).toContain('dial_policy:premium_rate');
    const replay = await cloud.control(UNIT, { action: 'replay', runId: 'no-such-run' });
    expect(replay.status).toBe('rejected');
    expect(JSON.stringify(replay)).toContain('not_found');
  });
});
