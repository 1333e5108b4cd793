/**
 * Drains the outbox to the broker: rows in seq order, QoS 1, at most `window` unacknowledged at a
 * time, each row marked sent when its PUBACK arrives (rule 6). A critical row stays owed until the
 * cloud receipts it (docs/protocol.md "Receipts"): after a reconnect on which the broker kept no
 * session every unreceipted critical row is sent again, oldest first, and re-send passes (checked
 * at every sweep, the first one `resendAfterMs` after start) re-send those sent at least
 * `resendAfterMs` ago — so a broker that loses a message it acknowledged, or a cloud that loses
 * one it read, loses nothing. The cloud de-duplicates by event id; first copies arrive in order.
 *
 * Re-sends back off while the cloud stays silent: after a pass that re-sent anything the next one
 * waits the re-send interval, which doubles up to RESEND_MAX_MS and drops back to `resendAfterMs`
 * as soon as the cloud is heard (a receipt, a command). A re-send writes nothing to disk: only the
 * first send of a row is marked. Without both, a unit whose cloud was down re-sent its whole
 * unreceipted backlog every two minutes and rewrote every row each time (105 MB/h of flash writes
 * measured with 10,000 rows, issue 14).
 */
import type { LinkClock, LinkLogger, OutboxRow, OutboxSource } from '../ports.js';
import { isRetryableStorage, isStorageFull } from './storage-errors.js';

/** A write that failed because the disk is full or busy is tried again this much later. */
const STORAGE_RETRY_MS = 1000;
/** The longest wait between re-send passes while nothing is heard from the cloud. */
export const RESEND_MAX_MS = 3_600_000;

export type PublishRow = (row: OutboxRow) => Promise<void>;

export interface DrainerOptions {
  window: number;
  maxRows: number;
  /** A critical row sent this long ago without a receipt is sent again. */
  resendAfterMs: number;
  /**
   * Wraps a group of markSent calls in one transaction. A lost mark only means a row sent again
   * (the cloud de-duplicates), so it need not be flushed (agent/main.ts: store.txLight).
   */
  transaction?: <T>(fn: () => T) => T;
  /**
   * Keeps "a re-send-all is owed" across restarts (written only when a session was lost and when
   * that re-send completes): a restart in the middle must not let newer rows overtake it.
   */
  resendAllOwed?: { load(): boolean; save(owed: boolean): void };
}

export interface DrainerStats {
  inFlight: number;
  /** Rows marked sent (first sends). */
  sent: number;
  /** Unreceipted critical rows published again. */
  resent: number;
  evicted: number;
  /** The current wait between re-send passes. */
  resendIntervalMs: number;
}

export class OutboxDrainer {
  private publish: PublishRow | null = null;
  /** Bumped on attach/detach so callbacks from a dead connection change nothing. */
  private generation = 0;
  private afterSeq = 0;
  /** Sent at or before this: a critical row without a receipt is owed again (Infinity: all of them). */
  private resendBefore = Number.POSITIVE_INFINITY;
  /** Whether this pass may re-send (a reconnect's or a due sweep's) and how many it re-sent. */
  private resendPass = false;
  /**
   * A pass re-sending every unreceipted row (after a session was lost) has not finished: it is
   * done once it reached the end of the outbox and the broker acknowledged each of its re-sends.
   */
  private resendAllOwed = false;
  private resendAllReachedEnd = false;
  private resendAllUnacked = 0;
  private resentInPass = 0;
  /** The first re-send pass comes one interval after start (set in the constructor). */
  private nextResendAt: number;
  /** Seqs of rows published on this connection and not acknowledged yet. */
  private readonly flying = new Set<number>();
  private inFlight = 0;
  private scheduled = false;
  private acked: number[] = [];
  private flushScheduled = false;
  private lastEvictCheck = Number.NEGATIVE_INFINITY;
  readonly stats: DrainerStats;

  constructor(
    private readonly source: OutboxSource,
    private readonly opts: DrainerOptions,
    private readonly clock: LinkClock,
    private readonly log: LinkLogger,
  ) {
    this.nextResendAt = clock.now() + opts.resendAfterMs;
    this.resendAllOwed = opts.resendAllOwed?.load() ?? false;
    this.stats = {
      inFlight: 0,
      sent: 0,
      resent: 0,
      evicted: 0,
      resendIntervalMs: opts.resendAfterMs,
    };
  }

  /**
   * A fresh connection. `resendAll` (the broker kept no session for us: it may have lost what it
   * had acknowledged) sends every unreceipted critical row again at once. Otherwise the broker
   * still holds what it acknowledged: only never-sent rows go now, and re-sends keep their
   * schedule — a cellular link that drops ten times an hour must not send the whole unreceipted
   * backlog ten times an hour.
   */
  attach(publish: PublishRow, resendAll: boolean): void {
    this.generation++;
    this.publish = publish;
    this.afterSeq = 0;
    // A re-send-all pass that a drop cut short is owed until it reaches the end, also on a
    // connection that finds its session: otherwise rows behind the cut would go first and the
    // cloud's first copies arrive out of order (found by test/sync/outbox-delivery.model.test.ts).
    if (resendAll && !this.resendAllOwed) this.setResendAllOwed(true);
    this.resendAllReachedEnd = false;
    this.resendAllUnacked = 0;
    if (this.resendAllOwed) {
      this.resendBefore = Number.POSITIVE_INFINITY;
      this.startResendPass();
    } else {
      this.resendBefore = Number.NEGATIVE_INFINITY;
      this.resendPass = false;
    }
    this.inFlight = 0;
    this.flying.clear();
    this.kick();
  }

  detach(): void {
    this.generation++;
    this.publish = null;
    this.afterSeq = 0;
    this.resendPass = false;
    this.inFlight = 0;
    this.flying.clear();
    this.stats.inFlight = 0;
  }

  /**
   * Start a pass from the oldest row again (the safety net for rows written without a kick); when a
   * re-send is due, critical rows sent at least `resendAfterMs` ago and still unreceipted go again.
   */
  sweep(): void {
    // A re-send pass still running goes on from where it is: from the start it would send again
    // what it already re-sent (a re-send leaves sent_at as it was).
    if (this.resendPass) return this.kick();
    this.afterSeq = 0;
    const now = this.clock.now();
    if (now >= this.nextResendAt) {
      this.resendBefore = now - this.opts.resendAfterMs;
      this.startResendPass();
    }
    this.kick();
  }

  /** The cloud answered: it is up, so re-sends go back to the base interval. */
  cloudHeard(): void {
    if (this.stats.resendIntervalMs === this.opts.resendAfterMs) return;
    this.stats.resendIntervalMs = this.opts.resendAfterMs;
    // Give it one base interval to receipt what the broker queued for it while it was away.
    this.nextResendAt = Math.min(this.nextResendAt, this.clock.now() + this.opts.resendAfterMs);
  }

  private startResendPass(): void {
    this.resendPass = true;
    this.resentInPass = 0;
  }

  /** A pass reached the end of the owed rows. */
  private endPass(): void {
    if (this.resendBefore === Number.POSITIVE_INFINITY) {
      this.resendAllReachedEnd = true;
      this.resendAllDone();
    }
    this.resendBefore = Number.NEGATIVE_INFINITY;
    if (!this.resendPass) return;
    this.resendPass = false;
    if (this.resentInPass === 0) return; // nothing was overdue: look again at the next sweep
    this.nextResendAt = this.clock.now() + this.stats.resendIntervalMs;
    this.stats.resendIntervalMs = Math.min(this.stats.resendIntervalMs * 2, RESEND_MAX_MS);
  }

  /** Ask for a drain soon; many kicks in one tick coalesce into one pass. */
  kick(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      this.pump();
    });
  }

  /** Keep the backlog bounded: drop the oldest telemetry above maxRows (critical rows never). */
  enforceBound(force = false): void {
    const now = this.clock.now();
    if (!force && now - this.lastEvictCheck < 1000) return;
    this.lastEvictCheck = now;
    const { count } = this.source.backlog();
    if (count <= this.opts.maxRows) return;
    const evicted = this.source.evictTelemetry(count - this.opts.maxRows);
    if (evicted > 0) {
      this.stats.evicted += evicted;
      this.log.warn({ evicted, backlog: count }, 'outbox over its bound: evicted oldest telemetry');
    }
  }

  private pump(): void {
    try {
      this.pumpOnce();
    } catch (err) {
      // Reading the backlog or evicting telemetry met a busy or full disk: try again shortly.
      if (!isStorageFull(err) && !isRetryableStorage(err)) throw err;
      this.log.warn({ err }, 'outbox drain paused by storage; trying again');
      this.clock.setTimeout(() => this.kick(), STORAGE_RETRY_MS);
    }
  }

  private pumpOnce(): void {
    const publish = this.publish;
    if (!publish) return;
    this.enforceBound();
    const gen = this.generation;
    while (this.inFlight < this.opts.window) {
      const asked = this.opts.window - this.inFlight;
      const rows = this.source.owed(asked, this.afterSeq, this.resendBefore);
      for (const row of rows) {
        this.afterSeq = row.seq;
        if (this.flying.has(row.seq)) continue;
        const first = row.sentAt === null;
        const ofResendAll = !first && this.resendBefore === Number.POSITIVE_INFINITY;
        if (ofResendAll) this.resendAllUnacked++;
        if (!first) {
          this.resentInPass++;
          this.stats.resent++;
        }
        this.flying.add(row.seq);
        this.inFlight++;
        this.send(publish, row, gen, first, ofResendAll);
      }
      if (rows.length < asked) {
        // The pass reached the end (fewer owed rows than asked for): from now on only new rows
        // (and the next due sweep's).
        this.endPass();
        break;
      }
    }
    this.stats.inFlight = this.inFlight;
  }

  /**
   * Publish one row. The callbacks keep only its seq, not the row: whatever waits for a PUBACK
   * outlives V8's young generation while a backlog drains and is promoted (issue 14: draining
   * 20,000 rows peaked 5 MB lower this way; the young generation's size did the rest,
   * agent/node-flags.ts).
   */
  private send(
    publish: PublishRow,
    row: OutboxRow,
    gen: number,
    first: boolean,
    ofResendAll: boolean,
  ): void {
    const seq = row.seq;
    publish(row).then(
      () => this.onAck(gen, seq, first, ofResendAll),
      (err: unknown) => {
        if (gen !== this.generation) return;
        // The connection is going away; the reconnect starts again from the oldest owed row.
        this.log.debug({ err, seq }, 'outbox publish not acknowledged');
      },
    );
  }

  /** The re-send-all is complete once it reached the end and every re-send of it was acked. */
  private resendAllDone(): void {
    if (this.resendAllOwed && this.resendAllReachedEnd && this.resendAllUnacked === 0)
      this.setResendAllOwed(false);
  }

  private setResendAllOwed(owed: boolean): void {
    this.resendAllOwed = owed;
    try {
      this.opts.resendAllOwed?.save(owed);
    } catch (err) {
      // A busy or full disk: the flag lives on in memory (only a restart meanwhile forgets it).
      if (!isStorageFull(err) && !isRetryableStorage(err)) throw err;
      this.log.warn({ err, owed }, 'could not record the re-send-all state');
    }
  }

  private onAck(gen: number, seq: number, first: boolean, ofResendAll: boolean): void {
    if (gen === this.generation) {
      this.inFlight--;
      this.flying.delete(seq);
      if (ofResendAll) {
        this.resendAllUnacked--;
        this.resendAllDone();
      }
    } // else: acked on a connection we already gave up on; still true that the broker has it.
    if (!first) {
      // A re-send: the row already carries its first send; nothing to write.
      if (gen === this.generation) this.kick();
      return;
    }
    this.acked.push(seq);
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(() => this.flushAcks());
    }
  }

  private flushAcks(): void {
    this.flushScheduled = false;
    const seqs = this.acked;
    this.acked = [];
    const at = this.clock.now();
    let sent = 0;
    const mark = () => (sent = this.source.markSent(seqs, at));
    try {
      if (this.opts.transaction) this.opts.transaction(mark);
      else mark();
    } catch (err) {
      // A full or busy disk must not kill the link (it would crash-loop while the disk stays
      // full): the rows stay unsent, the marks are tried again, and the cloud de-duplicates a
      // row sent twice by its eventId. Anything else is a bug: let it fail loudly.
      if (!isStorageFull(err) && !isRetryableStorage(err)) throw err;
      this.acked = [...seqs, ...this.acked];
      this.log.warn({ err, rows: seqs.length }, 'outbox rows sent but not marked; trying again');
      if (!this.flushScheduled) {
        this.flushScheduled = true;
        this.clock.setTimeout(() => this.flushAcks(), STORAGE_RETRY_MS);
      }
      return;
    }
    this.stats.sent += sent;
    this.stats.inFlight = this.inFlight;
    this.pump();
  }
}
