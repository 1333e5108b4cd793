/**
 * Fleet scale: 200 units (separate stores, one process) on one Mosquitto; the cloud client books 10
 * calls on each and two backend replicas consume the fleet's events through an MQTT 5 shared
 * subscription. `npm run bench:fleet` runs it alone and merges into bench/out/latest.json.
 */
import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { CloudClient } from '../sync/cloud/client.js';
import { generateSigningKeyPair } from '../sync/contract/signing.js';
import { startBroker } from '../test/support/mosquitto.js';
import { benchUnit, futureBooking, waitFor } from './sync-unit.js';
import { percentile, round } from './stats.js';

const UNITS = Number(process.env.FLEET_UNITS ?? 200);
const PER_UNIT = 10;

export async function run(): Promise<Record<string, number>> {
  const keys = generateSigningKeyPair();
  const broker = await startBroker();
  const cloud = new CloudClient({ url: broker.url, signingKey: keys.privateKeyPem });
  const replicas = [new CloudClient({ url: broker.url }), new CloudClient({ url: broker.url })];
  const units = Array.from({ length: UNITS }, (_, i) =>
    benchUnit(broker.url, `fleet-${String(i).padStart(4, '0')}`, keys.publicKeyBase64),
  );
  try {
    await cloud.start();
    const consumed = [0, 0];
    for (const [i, r] of replicas.entries()) {
      await r.start();
      await r.watch('+', () => consumed[i]!++, { channels: ['events'], shareGroup: 'backend' });
    }
    await Promise.all(units.map((u) => u.link.start()));
    await waitFor(() => units.every((u) => u.link.state().connected), 'fleet connected');
    const rtt: number[] = [];
    const t0 = performance.now();
    await Promise.all(
      units.map(async (_, i) => {
        const unitId = `fleet-${String(i).padStart(4, '0')}`;
        for (let k = 0; k < PER_UNIT; k++) {
          const s = performance.now();
          const r = await cloud.book(
            unitId,
            futureBooking(`f-${k}-${randomUUID().slice(0, 6)}`),
            60_000,
          );
          if (r.status !== 'accepted') throw new Error(`fleet booking not accepted: ${r.status}`);
          rtt.push(performance.now() - s);
        }
      }),
    );
    const allAccepted = (performance.now() - t0) / 1000;
    const events = UNITS * PER_UNIT; // one booking.state event per accepted booking
    await waitFor(
      () => consumed[0]! + consumed[1]! >= events,
      'shared consumers saw the events',
      60_000,
    );
    return {
      fleet_units: UNITS,
      fleet_all_accepted_s: round(allAccepted),
      fleet_roundtrip_p99_ms: round(percentile(rtt, 99)),
      fleet_shared_consumer_min_share: round(Math.min(...consumed) / (consumed[0]! + consumed[1]!)),
    };
  } finally {
    await Promise.all(units.map((u) => u.dispose()));
    await Promise.all([cloud, ...replicas].map((c) => c.stop().catch(() => undefined)));
    await broker.dispose();
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const figures = await run();
  const dir = new URL('../../bench/out/', import.meta.url);
  mkdirSync(dir, { recursive: true });
  const file = new URL('latest.json', dir);
  const prev = existsSync(file)
    ? (JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>)
    : {};
  const merged = { ...prev, ...figures };
  writeFileSync(file, `${JSON.stringify(merged, null, 2)}\n`);
  process.stdout.write(`${JSON.stringify(figures, null, 2)}\n`);
  process.exit(0);
}
