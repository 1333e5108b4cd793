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

  constructor(readonly db: Db) {
    this.meta = new MetaStore(db);
    this.outbox = new Outbox(db);
    this.bookings = new BookingsRepo(db);
    this.runs = new RunsRepo(db);
    this.commands = new CommandsRepo(db);
  }

  static open(path: string, opts?: OpenOptions): Store {
    return new Store(openDb(path, opts));
  }

  /** Run fn in one IMMEDIATE transaction (takes the write lock up front: no upgrade deadlocks). */
  tx<T>(fn: () => T): T {
    return this.db.transaction(fn).immediate();
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
