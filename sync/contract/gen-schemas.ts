/**
 * Writes docs/schemas/*.schema.json from the zod schemas the code validates with (`npm run schemas`),
 * so the contract the cloud team reads cannot drift from what the unit enforces.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { bodySchemas } from './bodies.js';
import { envelopeSchema } from './envelope.js';
import { CHANNELS, TOPIC_ROOT, type Channel } from './topics.js';

const out = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'docs', 'schemas');
mkdirSync(out, { recursive: true });

for (const [channel, body] of Object.entries(bodySchemas) as [Channel, z.ZodType][]) {
  const spec = CHANNELS[channel];
  const schema = z.toJSONSchema(envelopeSchema(body), {
    // Cloud→unit schemas describe what may be SENT (defaults optional); unit→cloud what arrives.
    io: spec.direction === 'cloud→unit' ? 'input' : 'output',
    unrepresentable: 'any',
  });
  const doc = {
    $id: `https://companion.example/schemas/v1/${channel}.schema.json`,
    title: `${TOPIC_ROOT}/{unitId}/${channel}`,
    description: `${spec.direction}, QoS ${spec.qos}, retain ${spec.retain}: ${spec.why}`,
    ...schema,
  };
  writeFileSync(join(out, `${channel}.schema.json`), `${JSON.stringify(doc, null, 2)}\n`);
  process.stdout.write(`docs/schemas/${channel}.schema.json\n`);
}
