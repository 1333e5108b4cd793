/**
 * The cloud side of the sync benchmarks, in its own process (started by bench/peer.ts): on a real
 * unit the cloud is another machine, so its work — signing commands, parsing and receipting the
 * unit's events — must not share the unit's one event loop. Measured in the same process it did:
 * a profile of the 10,000-change burst spent about a third of its time in the cloud client.
 *
 * The parent sends `{ id, op, args }` over the IPC channel and gets `{ id, ok, value | error }`.
 * The process exits when the parent goes away.
 */
import { randomUUID } from 'node:crypto';
import mqtt from 'mqtt';
import { brokerTarget } from '../sync/link/mqtt-options.js';
import { CloudClient } from '../sync/cloud/client.js';
import { MemorySequences } from '../sync/cloud/sequences.js';
import { futureBooking } from './workload.js';

type Args = Record<string, unknown>;

let cloud: CloudClient | null = null;
const sequences = new MemorySequences();

const ops: Record<string, (a: Args) => Promise<unknown>> = {
  async start(a) {
    cloud = new CloudClient({
      url: a.url as string,
      signingKey: a.signingKey as string,
      sequences,
    });
    await cloud.start();
    return null;
  },

  /** Booking round trips, one at a time: publish → the accepted result back here, ms. */
  async roundTrips(a) {
    const c = need();
    const unitId = a.unitId as string;
    for (let i = 0; i < (a.warm as number); i++) await c.book(unitId, futureBooking(`warm-${i}`));
    const out: number[] = [];
    for (let i = 0; i < (a.n as number); i++) {
      const t0 = performance.now();
      await c.book(unitId, futureBooking(`rtt-${i}`));
      out.push(performance.now() - t0);
    }
    return out;
  },

  /**
   * `messages` messages of `perMessage` upserts each, each published once the broker acknowledged
   * the one before; returns the last message's sequence.
   */
  async send(a) {
    const c = need();
    const unitId = a.unitId as string;
    const per = a.perMessage as number;
    for (let m = 0; m < (a.messages as number); m++) {
      await c.sendCommands(
        unitId,
        Array.from({ length: per }, (_, j) => ({
          type: 'booking.upsert' as const,
          commandId: randomUUID(),
          booking: futureBooking(`${a.tag as string}-${m * per + j}`),
        })),
      );
    }
    return sequences.current(unitId);
  },

  /**
   * The floor's "cloud" end: publish an id on floor/cmd, wait for it on floor/res (answered by the
   * parent), `n` times after 50 to warm up; round trips in ms.
   */
  async floorRoundTrips(a) {
    const client = await mqtt.connectAsync({
      ...brokerTarget(a.url as string),
      protocolVersion: 5,
      reconnectPeriod: 0,
    });
    (client.stream as { setNoDelay?: (on: boolean) => void }).setNoDelay?.(true);
    try {
      await client.subscribeAsync('floor/res', { qos: 1 });
      const waiting = new Map<string, () => void>();
      client.on('message', (_t, payload) => waiting.get(payload.toString())?.());
      const out: number[] = [];
      for (let i = 0; i < (a.n as number) + 50; i++) {
        const id = `${a.label as string}-${i}`;
        const t0 = performance.now();
        const back = new Promise<void>((r) => waiting.set(id, r));
        await client.publishAsync('floor/cmd', id, { qos: 1 });
        await back;
        waiting.delete(id);
        if (i >= 50) out.push(performance.now() - t0);
      }
      return out;
    } finally {
      await client.endAsync();
    }
  },

  async stop() {
    await cloud?.stop();
    cloud = null;
    return null;
  },
};

function need(): CloudClient {
  if (!cloud) throw new Error('cloud peer: start first');
  return cloud;
}

process.on('message', (m: { id: number; op: string; args: Args }) => {
  const op = ops[m.op];
  const run = op ? op(m.args) : Promise.reject(new Error(`cloud peer: unknown op ${m.op}`));
  run.then(
    (value) => process.send!({ id: m.id, ok: true, value }),
    (err: unknown) => process.send!({ id: m.id, ok: false, error: String(err) }),
  );
});
process.on('disconnect', () => process.exit(0));
process.send!({ ready: true });
