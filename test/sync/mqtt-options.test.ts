/**
 * The unit's mqtt.js options (sync/link/mqtt-options.ts): what the link's delivery rules and the
 * memory budget rely on.
 */
import { createRequire } from 'node:module';
import url from 'node:url';
import mqtt from 'mqtt';
import { describe, expect, it, vi } from 'vitest';
import { mqttConfigSchema } from '../../sync/config.js';
import { brokerTarget, unitClientOptions } from '../../sync/link/mqtt-options.js';

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
    mqtt.connect(opts);
    const packet = require('mqtt-packet') as { writeToStream: { cacheNumbers: boolean } };
    expect(packet.writeToStream.cacheNumbers).toBe(false);
  });
});

describe('the broker URL', () => {
  it('is parsed here, not by mqtt.js: its url.parse() is deprecated (Node 24 warns in the journal)', () => {
    const cfg = mqttConfigSchema().parse({
      enabled: true,
      url: 'mqtts://unit%40home:p%3Ass@broker.example:8884',
      username: 'unit-0042',
      signature: { required: false },
    });
    const opts = unitClientOptions('unit-0042', cfg, { topic: 't', payload: '{}' });
    expect(opts).toMatchObject({
      protocol: 'mqtts',
      host: 'broker.example',
      port: 8884,
      username: 'unit-0042', // mqtt.username wins over the URL's
      password: 'p:ss', // the URL's, decoded
    });
    const parse = vi.spyOn(url, 'parse');
    try {
      const client = mqtt.connect(opts); // manualConnect: builds the client, opens nothing
      expect(client.options).toMatchObject({
        protocol: 'mqtts',
        host: 'broker.example',
        port: 8884,
      });
      expect(parse).not.toHaveBeenCalled();
    } finally {
      parse.mockRestore();
    }
  });

  it('takes IPv6 literals, default ports and URLs without credentials', () => {
    expect(brokerTarget('mqtt://[::1]:1883')).toEqual({
      protocol: 'mqtt',
      host: '::1',
      hostname: '::1',
      port: 1883,
    });
    expect(brokerTarget('mqtts://broker.example')).toEqual({
      protocol: 'mqtts',
      host: 'broker.example',
      hostname: 'broker.example',
    });
  });

  it('is refused with the reason when the agent cannot use it', () => {
    const problem = (u: string) => {
      const r = mqttConfigSchema().safeParse({ url: u });
      return r.success ? null : r.error.issues.map((i) => i.message).join('; ');
    };
    expect(problem('mqtt://broker.example:1883')).toBeNull();
    expect(problem('wss://broker.example/mqtt')).toMatch(/MQTT over WebSocket is not built into/);
    expect(problem('tcp://broker.example')).toMatch(/must be mqtt:\/\/ or mqtts:\/\//);
    expect(problem('broker.example:1883')).toMatch(/must be mqtt:\/\/ or mqtts:\/\//);
    expect(problem('mqtt://')).toMatch(/is not a URL|has no host/);
    expect(problem('mqtt://broker example')).toMatch(/is not a URL/);
  });
});
