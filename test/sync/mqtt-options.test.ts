/**
 * The unit's mqtt.js options (sync/link/mqtt-options.ts): what the link's delivery rules and the
 * memory budget rely on.
 */
import { createRequire } from 'node:module';
import mqtt from 'mqtt';
import { describe, expect, it } from 'vitest';
import { mqttConfigSchema } from '../../sync/config.js';
import { unitClientOptions } from '../../sync/link/mqtt-options.js';

const require = createRequire(import.meta.url);

describe('unitClientOptions', () => {
  const cfg = mqttConfigSchema().parse({
    enabled: true,
    url: 'mqtt://127.0.0.1:1',
    signature: { required: false },
  });
  const opts = unitClientOptions('unit-0042', cfg, {
    topic: 'companion/unit-0042/status',
    payload: '{}',
  });

  it('asks for a persistent MQTT 5 session and leaves reconnecting to the link', () => {
    expect(opts).toMatchObject({
      protocolVersion: 5,
      clientId: 'unit-0042',
      clean: false,
      reconnectPeriod: 0,
    });
    expect(opts.will).toMatchObject({ qos: 1, retain: true });
  });

  it('regression: mqtt-packet does not pre-build its 65,536-entry number cache (~6 MB of heap)', () => {
    expect(opts.writeCache).toBe(false);
    // The client applies it to mqtt-packet's module-wide switch before its first write.
    // manualConnect: constructing opens nothing (no socket, no timer) and needs no end().
    mqtt.connect(cfg.url, opts);
    const packet = require('mqtt-packet') as { writeToStream: { cacheNumbers: boolean } };
    expect(packet.writeToStream.cacheNumbers).toBe(false);
  });
});
