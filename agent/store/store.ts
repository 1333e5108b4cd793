/**
 * The store: one SQLite file, opened once, with typed repositories over it. The heart of the agent;
 * every component gets it through its constructor.
 */
import { openDb, type Db, type OpenOptions } from './db.js';
import type { Statement } from 'better-sqlite3';
import { META, MetaStore } from './meta.js';
import { Outbox } from './outbox.js';
import { BookingsRepo } from './bookings-repo.js';
import { RunsRepo } from './runs-repo.js';
import { CommandsRepo } from './commands-repo.js';
import { MessagesRepo } from './messages-repo.js';
import { StorageHealth, isStorageFull } from './storage-health.js';
import { WalCheckpointer, type WalCheckpointerOptions } from './wal-checkpointer.js';
import {
  openDbRecovering,
  SNAPSHOT_NEEDED_KEY,
  type CorruptionRecovery,
} from './corrupt-recovery.js';

export class Store {
  readonly meta: MetaStore;
  readonly outbox: Outbox;
  readonly bookings: BookingsRepo;
  readonly runs: RunsRepo;
  readonly commands: CommandsRepo;
  readonly messages: MessagesRepo;
  /** Disk-full state: set by a failed write, cleared (and reported) by the next commit. */
  readonly storage: StorageHealth;
  /** Set when start found a corrupt file and began afresh. */
  recoveredFromCorruption: CorruptionRecovery | null = null;
  /** WAL checkpoints after a commit instead of inside one (null: SQLite's own, in-memory stores). */
  readonly checkpointer: WalCheckpointer | null;

  private depth = 0;
  private outboxWritten = false;
  private afterCommitFns: (() => void)[] = [];
  private readonly outboxListeners = new Set<() => void>();
  /** txLight's two pragmas, prepared once (db.pragma prepares on every call). */
  private syncPragmas: { normal: Statement; full: Statement } | null = null;

  constructor(
    readonly db: Db,
    private readonly now: () => number = Date.now,
    walCheckpoint: WalCheckpointerOptions = {},
  ) {
    this.storage = new StorageHealth(now);
    this.meta = new MetaStore(db);
    this.outbox = new Outbox(db, () => {
      this.outboxWritten = true;
    });
    this.bookings = new BookingsRepo(db);
    this.runs = new RunsRepo(db);
    this.commands = new CommandsRepo(db);
    this.messages = new MessagesRepo(db);
    this.checkpointer = WalCheckpointer.attach(db, walCheckpoint);
  }

  static open(path: string, opts: OpenOptions = {}): Store {
    const now = opts.now ?? Date.now;
    if (!opts.recoverCorruption || path === ':memory:')
      return new Store(openDb(path, opts), now, opts.walCheckpoint);
    const { db, recovered } = openDbRecovering(path, opts, now);
    const store = new Store(db, now, opts.walCheckpoint);
    if (recovered) {
      store.recoveredFromCorruption = recovered;
      // The fresh store knows no bookings: ask the cloud for all of them, and say what happened.
      store.tx(() => {
        store.meta.set(SNAPSHOT_NEEDED_KEY, 'recovered_from_corruption');
        store.outbox.continueAfter(recovered.floors.outboxSeq);
        store.meta.set(META.connectCount, recovered.floors.connectCount);
        store.outbox.add(
          'store.recovered_from_corruption',
          { ...recovered, at: new Date(recovered.at).toISOString() },
          recovered.at,
        );
      });
    }
    return store;
  }

  /** Run fn in one IMMEDIATE transaction (takes the write lock up front: no upgrade deadlocks). */
  tx<T>(fn: () => T): T {
    this.depth++;
    // While full, only a transaction that really wrote something proves space is back.
    const changesBefore = this.storage.full && this.depth === 1 ? this.totalChanges() : null;
    let result: T;
    try {
      result = this.db.transaction(fn).immediate();
    } catch (err) {
      if (this.depth === 1) {
        this.outboxWritten = false;
        this.afterCommitFns = [];
      }
      if (isStorageFull(err)) this.storage.markFull();
      throw err;
    } finally {
      this.depth--;
    }
    if (this.depth === 0 && this.afterCommitFns.length > 0) {
      const fns = this.afterCommitFns;
      this.afterCommitFns = [];
      for (const f of fns) f();
    }
    if (changesBefore !== null && this.totalChanges() > changesBefore)
      this.reportStorageRecovered();
    if (this.depth === 0 && this.outboxWritten) {
      this.outboxWritten = false;
      for (const l of this.outboxListeners) l();
    }
    // Last: its turn of the event loop comes after what the commit set in motion (the drain above).
    if (this.depth === 0) this.checkpointer?.afterCommit();
    return result;
  }

  /**
   * A transaction committed crash-safe but not flushed (`synchronous=NORMAL` for this one commit):
   * it survives a killed process, not necessarily a power cut. For progress marks that a later
   * FULL commit makes durable anyway (docs/lifecycle.md: two durable commits per placed call).
   * Must not be nested inside another transaction.
   */
  txLight<T>(fn: () => T): T {
    if (this.depth > 0) return this.tx(fn);
    this.syncPragmas ??= {
      normal: this.db.prepare('PRAGMA synchronous = NORMAL'),
      full: this.db.prepare('PRAGMA synchronous = FULL'),
    };
    this.syncPragmas.normal.run();
    try {
      return this.tx(fn);
    } finally {
      this.syncPragmas.full.run();
    }
  }

  /**
   * A commit went through after the disk was full: space is back. Say so through the outbox, and ask
   * for a snapshot, since commands refused meanwhile (storage_full) were never applied.
   */
  private reportStorageRecovered(): void {
    const ended = this.storage.markRecovered();
    if (!ended) return;
    try {
      this.tx(() => {
        const at = this.now();
        this.meta.set(SNAPSHOT_NEEDED_KEY, 'storage_full');
        this.outbox.add(
          'storage.recovered',
          {
            fullSince: new Date(ended.fullSince ?? at).toISOString(),
            recoveredAt: new Date(at).toISOString(),
            failedWrites: ended.failedWrites,
          },
          at,
        );
      });
    } catch {
      // Still full after all (the tx above marked it again): the next commit reports it.
    }
  }

  /**
   * Run `fn` once the outermost transaction has committed (at once outside a transaction); dropped
   * if it rolls back. What a change sets in motion (a hang-up, a re-plan) must not act on a change
   * that never committed.
   */
  afterCommit(fn: () => void): void {
    if (this.depth === 0) fn();
    else this.afterCommitFns.push(fn);
  }

  /**
   * Called after a transaction that wrote outbox rows has COMMITTED (never before: an event must
   * not be sent for a change that could still roll back). The MQTT link drains on this.
   */
  onOutboxCommit(listener: () => void): () => void {
    this.outboxListeners.add(listener);
    return () => this.outboxListeners.delete(listener);
  }

  private totalChanges(): number {
    return (this.db.prepare('SELECT total_changes() AS n').get() as { n: number }).n;
  }

  /** A cheap liveness probe: the database answers a query. */
  ping(): boolean {
    return this.db.prepare('SELECT 1 AS ok').get() !== undefined;
  }

  sizeBytes(): number {
    const pageCount = this.db.pragma('page_count', { simple: true }) as number;
    const pageSize = this.db.pragma('page_size', { simple: true }) as number;
    return pageCount * pageSize;
  }

  close(): void {
    if (this.db.open) this.db.close();
  }
}
