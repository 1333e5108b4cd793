/**
 * The published JSON Schemas, built from the zod schemas the code validates with: one per channel.
 * `npm run schemas` writes them to docs/schemas/; a test fails when the files drift from this.
 */
import { z } from 'zod';
import { bodySchemas } from './bodies.js';
import { envelopeSchema } from './envelope.js';
import { CHANNELS, TOPIC_ROOT, type Channel } from './topics.js';

export function publishedSchemas(): Map<Channel, Record<string, unknown>> {
  const out = new Map<Channel, Record<string, unknown>>();
  for (const [channel, body] of Object.entries(bodySchemas) as [Channel, z.ZodType][]) {
    const spec = CHANNELS[channel];
    const schema = z.toJSONSchema(envelopeSchema(body), {
      // Cloud→unit schemas describe what may be SENT (defaults optional); unit→cloud what arrives.
      io: spec.direction === 'cloud→unit' ? 'input' : 'output',
      unrepresentable: 'any',
    });
    out.set(channel, {
      $id: `https://companion.example/schemas/v1/${channel}.schema.json`,
      title: `${TOPIC_ROOT}/{unitId}/${channel}`,
      description: `${spec.direction}, QoS ${spec.qos}, retain ${spec.retain}: ${spec.why}`,
      ...schema,
    });
  }
  return out;
}
