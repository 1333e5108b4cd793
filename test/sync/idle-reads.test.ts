/**
 * What an idle unit with the link on reads from its store (issue 14). Found profiling the idle
 * agent with 20,000 sent-but-unreceipted events: two thirds of its CPU went to counting them — the
 * heartbeat's `unreceipted` read every such row of the table to check its class, and the history's
 * per-minute link sample asked for the whole link state (both counts) to learn "connected".
 */
import { describe, expect, it } from 'vitest';
import { SystemClock } from '../../agent/clock.js';
import { mqttConfigSchema } from '../../sync/config.js';
import { SyncLink, type SyncLinkDeps } from '../../sync/link/link.js';
import type { OutboxSource } from '../../sync/ports.js';
import { tempStores } from '../support/temp-db.js';

const store = tempStores('idle-reads');

describe('idle reads with a large unreceipted backlog', () => {
  it('the unreceipted count reads its index alone, and counts critical unreceipted rows only', () => {
    const s = store();
    try {
      const insert = s.db.prepare(
        `INSERT INTO outbox (event_id, type, class, payload, created_at, sent_at)
         VALUES (?, ?, ?, '{}', 1, 1)`,
      );
      s.tx(() => {
        for (let i = 0; i < 300; i++)
          if (i % 3 === 0) insert.run(`e${i}`, 'modem.status', 'telemetry');
          else insert.run(`e${i}`, 'run.state', 'critical');
      });
      const critical = 200; // telemetry is there too, and not counted
      expect(s.outbox.unreceipted()).toBe(critical);
      // A receipt takes rows out of the count.
      const firstCritical = s.db
        .prepare<[], { seq: number }>(
          "SELECT seq FROM outbox WHERE class = 'critical' ORDER BY seq LIMIT 1",
        )
        .get()!.seq;
      s.outbox.receipt([[firstCritical, firstCritical]], 2);
      expect(s.outbox.unreceipted()).toBe(critical - 1);
      const stmt = Reflect.get(s.outbox, 'unreceiptedStmt') as { source: string };
      const plan = s.db.prepare(`EXPLAIN QUERY PLAN ${stmt.source}`).all() as { detail: string }[];
      expect(plan.map((p) => p.detail).join('; ')).toContain('COVERING INDEX outbox_unreceipted');
    } finally {
      s.close();
    }
  });

  it("the link's connection view reads nothing from the store; its full state does", () => {
    const s = store();
    try {
      const reads: string[] = [];
      const outbox = new Proxy(s.outbox, {
        get(target, prop, receiver) {
          const v = Reflect.get(target, prop, receiver) as unknown;
          if (typeof v !== 'function') return v;
          return (...args: unknown[]) => {
            reads.push(String(prop));
            return (v as (...a: unknown[]) => unknown).apply(target, args);
          };
        },
      }) as OutboxSource;
      const link = new SyncLink({
        unitId: 'unit-1',
        config: mqttConfigSchema().parse({
          enabled: true,
          url: 'mqtt://127.0.0.1:1',
          signature: { required: false },
        }),
        // Not started: the link's state reads only these of its sink.
        sink: { lastSeq: () => 0, snapshotNeeded: () => null } as unknown as SyncLinkDeps['sink'],
        outbox,
        meta: s.meta,
        clock: new SystemClock(),
        transaction: (fn) => s.txLight(fn),
      });
      expect(link.connection()).toEqual({ enabled: true, connected: false, connectedSince: null });
      expect(reads).toEqual([]);
      const full = link.state();
      expect(full).toMatchObject(link.connection());
      expect(reads).toEqual(expect.arrayContaining(['backlog', 'unreceipted']));
    } finally {
      s.close();
    }
  });
});
