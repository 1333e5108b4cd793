/**
 * The contract document is the contract: every JSON example in docs/protocol.md marked with its
 * channel parses against the published schemas, every command example is accepted by a real unit,
 * and the configuration example is a valid config. A backend team copying an example cannot copy
 * something the unit refuses.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { bodySchemas } from '../../sync/contract/bodies.js';
import { envelopeSchema } from '../../sync/contract/envelope.js';
import { publishedSchemas } from '../../sync/contract/json-schemas.js';
import type { Channel } from '../../sync/contract/topics.js';
import { mqttConfigSchema } from '../../sync/config.js';
import { generateSigningKeyPair } from '../../sync/contract/signing.js';
import { Store } from '../../agent/store/store.js';
import { FakeClock } from '../../agent/clock.js';
import { standaloneSink } from '../../agent/sync-sink.js';
import { silentLogger } from '../../agent/log.js';
import { DialPolicy } from '../../agent/policy/dial-policy.js';

const doc = readFileSync(join(process.cwd(), 'docs', 'protocol.md'), 'utf8');
const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** Every ```json block after an `<!-- example: CHANNEL -->` marker. */
function examples(): { channel: Channel; json: unknown }[] {
  const out: { channel: Channel; json: unknown }[] = [];
  const re = /<!-- example: ([a-z-]+) -->\s*```json\n([\s\S]*?)```/g;
  for (let m = re.exec(doc); m; m = re.exec(doc))
    out.push({ channel: m[1] as Channel, json: JSON.parse(m[2]!) });
  return out;
}

describe('docs/protocol.md', () => {
  const all = examples();

  it('has an example for every channel a backend sends or reads the answer of', () => {
    expect(new Set(all.map((e) => e.channel))).toEqual(new Set(['cmd', 'results', 'receipts']));
  });

  it('the published docs/schemas are exactly what the code validates with (npm run schemas)', () => {
    const dir = join(process.cwd(), 'docs', 'schemas');
    const want = publishedSchemas();
    expect(readdirSync(dir).sort()).toEqual([...want.keys()].map((c) => `${c}.schema.json`).sort());
    for (const [channel, schema] of want) {
      const file = JSON.parse(readFileSync(join(dir, `${channel}.schema.json`), 'utf8')) as unknown;
      expect(file, `docs/schemas/${channel}.schema.json is stale: run npm run schemas`).toEqual(
        schema,
      );
    }
  });

  it('every example envelope parses against the schema of its channel', () => {
    for (const e of all) {
      const r = envelopeSchema(bodySchemas[e.channel]).safeParse(e.json);
      expect(r.success, `${e.channel}: ${JSON.stringify(r.error?.issues)}`).toBe(true);
    }
  });

  it('every command in the examples is accepted by a real unit', () => {
    const dir = mkdtempSync(join(tmpdir(), 'companion-doc-'));
    dirs.push(dir);
    const store = Store.open(join(dir, 'companion.db'));
    try {
      const { applier } = standaloneSink(
        store,
        new FakeClock(Date.UTC(2026, 11, 1, 8)),
        new DialPolicy(),
        silentLogger(),
      );
      for (const e of all.filter((x) => x.channel === 'cmd')) {
        const body = (e.json as { body: { commands: unknown[] } }).body;
        const results = applier.apply(body.commands, { source: 'doc' });
        expect(
          results.map((r) => r.status),
          JSON.stringify(results),
        ).toEqual(body.commands.map(() => 'accepted'));
      }
    } finally {
      store.close();
    }
  });

  it('the result examples carry what the Results section says', () => {
    for (const e of all.filter((x) => x.channel === 'results')) {
      const body = (e.json as { body: { type: string; payload: Record<string, unknown> } }).body;
      if (body.type === 'command.result')
        expect(Object.keys(body.payload).sort()).toEqual(
          ['bookingId', 'commandId', 'currentVersion', 'inReplyTo', 'reasons', 'status'].sort(),
        );
      else
        expect(Object.keys(body.payload).sort()).toEqual(
          ['action', 'detail', 'inReplyTo', 'reasons', 'status'].sort(),
        );
    }
  });

  it('the unit configuration example is a valid mqtt section', () => {
    const m = /## Unit configuration[\s\S]*?```json\n([\s\S]*?)```/.exec(doc);
    expect(m).not.toBeNull();
    const key = generateSigningKeyPair().publicKeyBase64;
    const text = m![1]!.replace('<base64 from companion-cloud keygen>', key);
    const r = mqttConfigSchema().safeParse((JSON.parse(text) as { mqtt: unknown }).mqtt);
    expect(r.success, JSON.stringify(r.error?.issues)).toBe(true);
  });

  it('names every link rejection code the unit can send', async () => {
    const { LINK_REJECTIONS } = await import('../../sync/contract/reasons.js');
    for (const code of Object.keys(LINK_REJECTIONS)) expect(doc).toContain(`\`${code}\``);
  });

  it('names every event type the unit can send', async () => {
    const { EVENT_CLASS } = await import('../../sync/contract/events.js');
    for (const type of Object.keys(EVENT_CLASS)) expect(doc).toContain(`\`${type}\``);
  });
});
