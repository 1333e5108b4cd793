/**
 * The store: one SQLite file, opened once, with typed repositories over it. The heart of the agent;
 * every component gets it through its constructor.
 */
import { openDb, type Db, type OpenOptions } from './db.js';
import { MetaStore } from './meta.js';
import { Outbox } from './outbox.js';
import { BookingsRepo } from './bookings-repo.js';
import { RunsRepo } from './runs-repo.js';
import { CommandsRepo } from './commands-repo.js';

export class Store {
  readonly meta: MetaStore;
  readonly outbox: Outbox;
  readonly bookings: BookingsRepo;
  readonly runs: RunsRepo;
  readonly commands: CommandsRepo;

  private depth = 0;
  private outboxWritten = false;
  private readonly outboxListeners = new Set<() => void>();

  constructor(readonly db: Db) {
    this.meta = new MetaStore(db);
    this.outbox = new Outbox(db, () => {
      this.outboxWritten = true;
    });
    this.bookings = new BookingsRepo(db);
    this.runs = new RunsRepo(db);
    this.commands = new CommandsRepo(db);
  }

  static open(path: string, opts?: OpenOptions): Store {
    return new Store(openDb(path, opts));
  }

  /** Run fn in one IMMEDIATE transaction (takes the write lock up front: no upgrade deadlocks). */
  tx<T>(fn: () => T): T {
    this.depth++;
    let result: T;
    try {
      result = this.db.transaction(fn).immediate();
    } catch (err) {
      if (this.depth === 1) this.outboxWritten = false;
      throw err;
    } finally {
      this.depth--;
    }
    if (this.depth === 0 && this.outboxWritten) {
      this.outboxWritten = false;
      for (const l of this.outboxListeners) l();
    }
    return result;
  }

  /**
   * Called after a transaction that wrote outbox rows has COMMITTED (never before: an event must
   * not be sent for a change that could still roll back). The MQTT link drains on this.
   */
  onOutboxCommit(listener: () => void): () => void {
    this.outboxListeners.add(listener);
    return () => this.outboxListeners.delete(listener);
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
