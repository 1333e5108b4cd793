/**
 * The unit and the world around it for the outbound delivery model
 * (test/sync/outbox-delivery.model.test.ts): the real store and drainer on an injected clock, a
 * broker that accepts publishes in order, and a cloud that reads, stores and receipts.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'vitest';
import { Store } from '../../../agent/store/store.js';
import { OutboxDrainer } from '../../../sync/link/drainer.js';
import type { OutboxRow } from '../../../sync/ports.js';
import { silentLogger } from '../../../sync/ports.js';

export const WINDOW = 3;
export const BASE_MS = 120_000;
export const SWEEP_MS = 5_000;
/** The drainer's retry after a busy or full disk (sync/link/drainer.ts STORAGE_RETRY_MS). */
export const STORAGE_RETRY_MS = 1_000;

export type Cls = 'critical' | 'telemetry';

/** An injected clock whose timers run when the test advances time. */
export class FakeClock {
  t = 1_000_000;
  private timers: { at: number; fn: () => void; id: number }[] = [];
  private nextId = 0;
  now = () => this.t;
  setTimeout = (fn: () => void, ms: number) => {
    const id = ++this.nextId;
    this.timers.push({ at: this.t + ms, fn, id });
    return id;
  };
  clearTimeout = (h: unknown) => {
    this.timers = this.timers.filter((x) => x.id !== h);
  };
  /** A crashed process's timers die with it. */
  clearAll(): void {
    this.timers = [];
  }
  /** Move to `to`, running every timer due on the way. */
  runDue(to: number): void {
    this.t = to;
    for (;;) {
      const due = this.timers.filter((x) => x.at <= to).sort((a, b) => a.at - b.at);
      if (due.length === 0) return;
      this.timers = this.timers.filter((x) => !due.includes(x));
      for (const d of due) d.fn();
    }
  }
}

interface Pending {
  row: OutboxRow;
  gen: number;
  resolve: () => void;
  reject: (e: Error) => void;
}

/** What the test knows should be true: every event added, and what became of it. */
export interface Model {
  /** eventId → class, for every event the current store should still account for. */
  added: Map<string, Cls>;
  /** Telemetry the broker accepted (best effort from then on: may be lost, never re-sent). */
  telemetryTaken: Set<string>;
}

/** The unit (real store and drainer) and the world around it (broker, cloud). */
export class World {
  readonly dir = mkdtempSync(join(tmpdir(), 'companion-outbox-model-'));
  readonly path = join(this.dir, 'companion.db');
  readonly clock = new FakeClock();
  store!: Store;
  drainer!: OutboxDrainer;
  connected = false;
  /** Our connection generation (bumped on every drop): a publish belongs to one. */
  gen = 0;
  pending: Pending[] = [];
  /** Accepted by the broker, not read by the cloud yet. */
  brokerQueue: { seq: number; eventId: string }[] = [];
  /** What the cloud stored: eventId → seq. */
  readonly cloudHas = new Map<string, number>();
  /** Seq of the newest first copy the cloud stored (first copies must arrive in order). */
  cloudNewest = 0;
  /** Copies the cloud took from the broker and lost before storing them. */
  readonly cloudLost = new Set<string>();
  /** Receipts the cloud published, queued for the unit (its persistent session keeps them). */
  receipts: [number, number][][] = [];
  /** Applied receipts' eventIds: never published again. */
  readonly receiptedIds = new Set<string>();
  /** Publishes per eventId (re-sends included). */
  readonly published = new Map<string, number>();
  /** First-send marks seen: eventId → sent_at. */
  readonly sentAt = new Map<string, number>();

  constructor() {
    this.open();
  }

  open(recoverCorruption = false): void {
    // busy_timeout 0: a write lock held elsewhere fails at once (the drainer retries on the clock).
    this.store = Store.open(this.path, {
      busyTimeoutMs: 0,
      recoverCorruption,
      now: this.clock.now,
    });
    this.drainer = new OutboxDrainer(
      this.store.outbox,
      {
        window: WINDOW,
        maxRows: 100_000,
        resendAfterMs: BASE_MS,
        transaction: (fn) => this.store.txLight(fn), // as agent/main.ts wires it
        // As the link keeps it: in the store's meta table.
        resendAllOwed: {
          load: () => this.store.meta.getNumber('outbox_resend_all_owed') === 1,
          save: (owed) => this.store.meta.set('outbox_resend_all_owed', owed ? 1 : 0),
        },
      },
      this.clock,
      silentLogger,
    );
    this.store.onOutboxCommit(() => this.drainer.kick());
    // A restart reconnects to a broker that kept the unit's session.
    if (this.connected) this.attach(false);
  }

  /** `resendAll`: the broker kept no session for the unit (first connect, or it lost its state). */
  attach(resendAll: boolean): void {
    const gen = this.gen;
    this.drainer.attach((row) => this.publish(row, gen), resendAll);
  }

  private publish(row: OutboxRow, gen: number): Promise<void> {
    const db = this.store.db;
    const now = db
      .prepare('SELECT receipted_at AS r FROM outbox WHERE event_id = ?')
      .get(row.eventId) as { r: number | null } | undefined;
    expect(now, `published row ${row.seq} exists`).toBeDefined();
    expect(now!.r, `row ${row.seq} published after its receipt`).toBeNull();
    expect(this.receiptedIds.has(row.eventId), `row ${row.seq} published after its receipt`).toBe(
      false,
    );
    expect(this.connected && gen === this.gen, 'published on a dropped connection').toBe(true);
    this.published.set(row.eventId, (this.published.get(row.eventId) ?? 0) + 1);
    return new Promise((resolve, reject) => {
      this.pending.push({ row, gen, resolve, reject });
      const open = this.pending.filter((p) => p.gen === this.gen).length;
      expect(open, 'unacknowledged publishes on one connection').toBeLessThanOrEqual(WINDOW);
    });
  }

  /** The broker takes the n oldest publishes of this connection and PUBACKs them. */
  ack(n: number): void {
    const mine = this.pending.filter((p) => p.gen === this.gen).slice(0, n);
    for (const p of mine) {
      this.brokerQueue.push({ seq: p.row.seq, eventId: p.row.eventId });
      this.pending.splice(this.pending.indexOf(p), 1);
      p.resolve();
    }
  }

  /** The connection drops: the broker had taken the first `taken` (their PUBACKs are lost). */
  drop(taken: number): void {
    if (!this.connected) return;
    const mine = this.pending.filter((p) => p.gen === this.gen);
    mine
      .slice(0, taken)
      .forEach((p) => this.brokerQueue.push({ seq: p.row.seq, eventId: p.row.eventId }));
    this.gen++;
    this.connected = false;
    this.drainer.detach();
    for (const p of mine) {
      this.pending.splice(this.pending.indexOf(p), 1);
      p.reject(new Error('connection closed'));
    }
  }

  /** The next connect finds no session for the unit (first connect, or the broker lost its state). */
  sessionLost = true;

  connect(): void {
    if (this.connected) return;
    this.connected = true;
    this.attach(this.sessionLost);
    this.sessionLost = false;
  }

  /** The cloud reads the n oldest messages the broker holds for it, stores them, and receipts. */
  cloudRead(n: number): void {
    const batch = this.brokerQueue.splice(0, n);
    if (batch.length === 0) return;
    for (const m of batch) {
      if (!this.cloudHas.has(m.eventId)) {
        // In order — unless this is the re-send of a copy the cloud itself lost (CloudLoses).
        if (!this.cloudLost.has(m.eventId))
          expect(m.seq, 'first copies arrive in sequence order').toBeGreaterThan(this.cloudNewest);
        this.cloudNewest = Math.max(this.cloudNewest, m.seq);
        this.cloudHas.set(m.eventId, m.seq);
      }
    }
    // Receipt what was stored, duplicates included (the cloud lost nothing by storing twice).
    const seqs = [...new Set(batch.map((m) => m.seq))].sort((a, b) => a - b);
    const ranges: [number, number][] = [];
    for (const s of seqs) {
      const last = ranges.at(-1);
      if (last && last[1] === s - 1) last[1] = s;
      else ranges.push([s, s]);
    }
    this.receipts.push(ranges);
  }

  /** A queued receipt reaches the unit (as the link applies one: a transaction, then heard, kick). */
  deliverReceipt(i: number): boolean {
    const ranges = this.receipts[i]!;
    try {
      this.store.tx(() => this.store.outbox.receipt(ranges, this.clock.now()));
    } catch (err) {
      // Busy: the link does not PUBACK; the broker delivers it again later.
      if ((err as { code?: string }).code === 'SQLITE_BUSY') return false;
      throw err;
    }
    this.receipts.splice(i, 1);
    const rows = this.store.db
      .prepare('SELECT event_id AS id FROM outbox WHERE receipted_at IS NOT NULL')
      .all() as { id: string }[];
    for (const r of rows) this.receiptedIds.add(r.id);
    this.drainer.cloudHeard();
    this.drainer.kick();
    return true;
  }

  changes(): number {
    return (this.store.db.prepare('SELECT total_changes() AS n').get() as { n: number }).n;
  }

  rows(): { seq: number; id: string; cls: Cls; sent: number | null; rec: number | null }[] {
    return this.store.db
      .prepare(
        'SELECT seq, event_id AS id, class AS cls, sent_at AS sent, receipted_at AS rec FROM outbox ORDER BY seq',
      )
      .all() as { seq: number; id: string; cls: Cls; sent: number | null; rec: number | null }[];
  }

  /** The unit goes away without a goodbye (SIGKILL, power cut): unsettled publishes never answer. */
  crash(): void {
    this.store.close();
    this.clock.clearAll();
    this.pending = [];
    this.gen++;
  }

  close(): void {
    try {
      this.store.close();
    } catch {
      /* already closed */
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}

export const settle = async () => {
  for (let i = 0; i < 25; i++) await new Promise((r) => setImmediate(r));
};

/** Advance time in sweep steps as the link's poll does (timers run, drain swept). */
export async function advance(w: World, ms: number, each?: () => void): Promise<void> {
  const end = w.clock.t + ms;
  while (w.clock.t < end) {
    w.clock.runDue(Math.min(end, w.clock.t + SWEEP_MS));
    w.drainer.sweep();
    await settle();
    each?.();
    await settle();
  }
}
