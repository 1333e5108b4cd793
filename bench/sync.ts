/**
 * Sync benchmarks against a private Mosquitto on loopback, with signatures on (as in production):
 * publish→accepted round trip, one-change-per-message throughput, a 10,000-change burst that piled up
 * while the unit was offline, and outbox drain rate. The cloud runs in its own process
 * (bench/cloud-peer.ts), as it does in the field: only the unit's work shares the unit's event loop.
 */
import { generateSigningKeyPair } from '../sync/contract/signing.js';
import { startBroker } from '../test/support/mosquitto.js';
import { startCloudPeer } from './peer.js';
import { benchUnit, waitFor } from './sync-unit.js';
import { median, percentile, round } from './stats.js';

/** A telemetry payload for the drain measurement. */
function benchMark(i: number) {
  return {
    runId: `bench-${i}`,
    bookingId: null,
    slotAt: new Date(0).toISOString(),
    attemptId: `a-${i}`,
    attemptNo: 1,
    agentId: 'bench',
    at: new Date().toISOString(),
  };
}

export async function run(): Promise<Record<string, number>> {
  const keys = generateSigningKeyPair();
  const broker = await startBroker();
  const cloud = await startCloudPeer();
  const unit = benchUnit(broker.url, 'bench-unit', keys.publicKeyBase64);
  try {
    await cloud.call('start', { url: broker.url, signingKey: keys.privateKeyPem });
    await unit.link.start();
    await waitFor(() => unit.link.state().connected, 'connected');

    // Round trip: cloud publish → accepted result back at the cloud, one at a time.
    const rtt = await cloud.call<number[]>('roundTrips', {
      unitId: 'bench-unit',
      warm: 50,
      n: 500,
    });

    // One change per message, pipelined: bounded by one durable commit per message.
    const single = 2000;
    let t0 = performance.now();
    const lastSingle = await cloud.call<number>('send', {
      unitId: 'bench-unit',
      messages: single,
      perMessage: 1,
      tag: 's',
    });
    await waitFor(() => unit.lastSeq() === lastSingle, 'single messages applied');
    const singlePerS = single / ((performance.now() - t0) / 1000);

    // Burst: 10,000 changes queued while the unit is offline, 500 per message; three times, the
    // median (one burst takes about half a second: a single one reads this VM's noise).
    const burst = 10_000;
    const bursts: number[] = [];
    for (let b = 0; b < 3; b++) {
      await unit.link.stop();
      const lastBurst = await cloud.call<number>('send', {
        unitId: 'bench-unit',
        messages: burst / 500,
        perMessage: 500,
        tag: `burst${b}`,
      });
      t0 = performance.now();
      await unit.link.start();
      await waitFor(() => unit.lastSeq() === lastBurst, 'burst applied');
      bursts.push(burst / ((performance.now() - t0) / 1000));
      // Its results drained before the next burst, as the first one found the outbox.
      await waitFor(() => unit.store.outbox.backlog().count === 0, 'burst results drained');
    }
    const burstPerS = median(bursts);

    // Outbox drain: everything above left result/state events; drain a fresh 10,000.
    await waitFor(() => unit.store.outbox.backlog().count === 0, 'outbox drained');
    await unit.link.stop();
    const rows = 10_000;
    unit.store.tx(() => {
      for (let i = 0; i < rows; i++)
        unit.store.outbox.add('attempt.alerting', benchMark(i), Date.now()); // a telemetry event
    });
    t0 = performance.now();
    await unit.link.start();
    await waitFor(() => unit.store.outbox.backlog().count === 0, 'bench outbox drained');
    const drainPerS = rows / ((performance.now() - t0) / 1000);

    return {
      sync_roundtrip_p50_ms: round(percentile(rtt, 50)),
      sync_roundtrip_p99_ms: round(percentile(rtt, 99)),
      sync_single_msgs_per_s: Math.round(singlePerS),
      sync_burst_updates_per_s: Math.round(burstPerS),
      outbox_drain_events_per_s: Math.round(drainPerS),
    };
  } finally {
    await cloud.call('stop').catch(() => undefined);
    await cloud.dispose();
    await unit.dispose();
    await broker.dispose();
  }
}
