/**
 * A unit for sync tests: a real SQLite file in a temp dir, the real sync sink (apply path, run
 * lifecycle, de-duplication, sync position) and Outbox, and the SyncLink pointed at the test broker.
 * The cloud side is the project's own CloudClient.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { standaloneSink } from '../../agent/sync-sink.js';
import { createLogger } from '../../agent/log.js';
import { DialPolicy } from '../../agent/policy/dial-policy.js';
import { SystemClock } from '../../agent/clock.js';
import { Store } from '../../agent/store/store.js';
import { mqttConfigSchema, type MqttConfigInput } from '../../sync/config.js';
import { SyncLink } from '../../sync/link/link.js';
import { generateSigningKeyPair } from '../../sync/contract/signing.js';
import type { BookingInput } from '../../agent/bookings/schema.js';

export const KEYS = generateSigningKeyPair();

export interface UnitOptions {
  unitId?: string;
  dir?: string;
  mqtt?: MqttConfigInput;
}

export function startUnit(url: string, opts: UnitOptions = {}) {
  const unitId = opts.unitId ?? 'unit-1';
  const dir = opts.dir ?? mkdtempSync(join(tmpdir(), 'companion-sync-'));
  const store = Store.open(join(dir, 'companion.db'));
  const clock = new SystemClock();
  const { sink, applier, lifecycle } = standaloneSink(
    store,
    clock,
    new DialPolicy(),
    createLogger({ level: 'silent' }),
  );
  const config = mqttConfigSchema().parse({
    enabled: true,
    url,
    reconnect: { minMs: 50, maxMs: 400 },
    heartbeatSec: 5,
    signature: { required: true, publicKeys: [KEYS.publicKeyBase64] },
    ...opts.mqtt,
  });
  const link = new SyncLink({
    unitId,
    config,
    sink,
    outbox: store.outbox,
    meta: store.meta,
    clock,
    transaction: (fn) => store.txLight(fn), // as agent/main.ts wires it
  });
  store.onOutboxCommit(() => link.kick());
  return {
    unitId,
    dir,
    store,
    applier,
    sink,
    lifecycle,
    link,
    lastSeq: () => sink.lastSeq(),
    async start() {
      await link.start();
      return this;
    },
    async stop() {
      await link.stop();
      store.close();
    },
    /** Live bookings as the store holds them: id → version/status. */
    bookings(): Record<string, { version: number; status: string }> {
      const rows = store.db
        .prepare<[], { id: string; version: number; status: string }>(
          'SELECT id, version, status FROM bookings ORDER BY id',
        )
        .all();
      return Object.fromEntries(rows.map((r) => [r.id, { version: r.version, status: r.status }]));
    },
  };
}

export type Unit = ReturnType<typeof startUnit>;

export { until } from '../support/until.js';

let n = 0;
/** A valid one-off booking far in the future (so the scheduler leaves it alone). */
export function booking(
  id = `b-${++n}`,
  version = 1,
  extra: Partial<BookingInput> = {},
): BookingInput {
  return {
    id,
    version,
    callee: '+4930123456',
    agentId: 'companion-1',
    schedule: { kind: 'once', at: '2030-01-01T10:00:00Z' },
    ...extra,
  };
}
