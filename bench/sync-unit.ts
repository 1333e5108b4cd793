/** A unit (real temp-file store, applier, link) for the sync benchmarks. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { standaloneSink } from '../agent/sync-sink.js';
import { silentLogger } from '../agent/log.js';
import { DialPolicy } from '../agent/policy/dial-policy.js';
import { SystemClock } from '../agent/clock.js';
import { Store } from '../agent/store/store.js';
import { mqttConfigSchema } from '../sync/config.js';
import { SyncLink } from '../sync/link/link.js';

export function benchUnit(url: string, unitId: string, publicKey: string) {
  const dir = mkdtempSync(join(tmpdir(), 'companion-bench-sync-'));
  const store = Store.open(join(dir, 'companion.db'));
  const clock = new SystemClock();
  const { sink, applier } = standaloneSink(store, clock, new DialPolicy(), silentLogger());
  const link = new SyncLink({
    unitId,
    config: mqttConfigSchema().parse({
      enabled: true,
      url,
      reconnect: { minMs: 50, maxMs: 500 },
      signature: { publicKeys: [publicKey] },
      heartbeatSec: 60,
    }),
    sink,
    outbox: store.outbox,
    meta: store.meta,
    clock,
    transaction: (fn) => store.txLight(fn), // as agent/main.ts wires it
  });
  return {
    store,
    applier,
    link,
    lastSeq: () => sink.lastSeq(),
    async dispose() {
      await link.stop();
      store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export async function waitFor(
  fn: () => boolean,
  what: string,
  timeoutMs = Number(process.env.BENCH_WAIT_MS ?? 120_000),
): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!fn()) {
    if (Date.now() > end) throw new Error(`bench: timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 2));
  }
}

export { futureBooking } from './workload.js';
