/**
 * Degraded storage: what the agent does when SQLite says the disk is full (SQLITE_FULL) or the file is
 * not a database any more (SQLITE_CORRUPT / SQLITE_NOTADB). A full disk is a state, not a crash: new
 * commands are refused with `storage_full`, work already owed keeps retrying its small writes, and the
 * condition is visible (status read model) and reported through the outbox once space returns.
 */

/** better-sqlite3 throws SqliteError with `code`; a MigrationError carries it in `cause`. */
function sqliteCode(err: unknown): string | null {
  for (let e = err, depth = 0; e && depth < 4; depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && code.startsWith('SQLITE_')) return code;
    e = (e as { cause?: unknown }).cause;
  }
  return null;
}

export function isStorageFull(err: unknown): boolean {
  const code = sqliteCode(err);
  return code === 'SQLITE_FULL' || code === 'SQLITE_IOERR_WRITE';
}

export function isCorruption(err: unknown): boolean {
  const code = sqliteCode(err);
  return code === 'SQLITE_CORRUPT' || code === 'SQLITE_NOTADB';
}

export interface StorageState {
  state: 'ok' | 'full';
  /** When the current (or last) full period began. */
  fullSince: number | null;
  /** Writes refused since then (commands rejected, runner writes retried). */
  failedWrites: number;
  lastRecoveredAt: number | null;
}

export type StorageListener = (s: StorageState, event: 'full' | 'recovered') => void;

/** In-memory only: while the disk is full, the state itself cannot be written down. */
export class StorageHealth {
  private s: StorageState = {
    state: 'ok',
    fullSince: null,
    failedWrites: 0,
    lastRecoveredAt: null,
  };
  private readonly listeners = new Set<StorageListener>();

  constructor(private readonly now: () => number) {}

  view(): StorageState {
    return { ...this.s };
  }

  get full(): boolean {
    return this.s.state === 'full';
  }

  markFull(): void {
    this.s.failedWrites++;
    if (this.s.state === 'full') return;
    this.s = { ...this.s, state: 'full', fullSince: this.now() };
    for (const l of this.listeners) l(this.view(), 'full');
  }

  /** Returns the full period that just ended (for the recovery event), or null if none. */
  markRecovered(): StorageState | null {
    if (this.s.state !== 'full') return null;
    const ended = this.view();
    this.s = { ...this.s, state: 'ok', lastRecoveredAt: this.now() };
    for (const l of this.listeners) l(this.view(), 'recovered');
    return ended;
  }

  onChange(l: StorageListener): () => void {
    this.listeners.add(l);
    return () => this.listeners.delete(l);
  }
}

/**
 * Run a small durable write until it commits. Used by the runner for the writes that must not be
 * dropped (the dialing record, an outcome): on a full disk they wait and retry instead of leaving a
 * claimed attempt behind. Anything other than a full disk is rethrown at once. The wait is capped
 * at 2 s so a stop during a full-disk period is not held up for long.
 */
export async function retryWhileFull<T>(
  fn: () => T,
  opts: {
    setTimeout: (fn: () => void, ms: number) => unknown;
    stopped: () => boolean;
    delayMs?: number;
    onRetry?: (err: unknown) => void;
  },
): Promise<T> {
  for (let delay = opts.delayMs ?? 250; ; delay = Math.min(delay * 2, 2_000)) {
    try {
      return fn();
    } catch (err) {
      if (!isStorageFull(err) || opts.stopped()) throw err;
      opts.onRetry?.(err);
      await new Promise<void>((r) => opts.setTimeout(r, delay));
    }
  }
}
