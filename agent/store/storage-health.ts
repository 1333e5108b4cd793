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
 * Errors that clear on their own: another connection holds the write lock (BUSY, LOCKED), the disk
 * is full, a write hit an I/O error (a flash hiccup). Retrying them is right; anything else is a bug
 * or a broken store, and the agent exits so systemd restarts it and reconciliation runs.
 */
export function isTransient(err: unknown): boolean {
  const code = sqliteCode(err);
  if (code === null) return false;
  return (
    code.startsWith('SQLITE_BUSY') ||
    code.startsWith('SQLITE_LOCKED') ||
    code === 'SQLITE_FULL' ||
    code.startsWith('SQLITE_IOERR')
  );
}

export class TransientGaveUp extends Error {
  constructor(
    readonly what: string,
    readonly ms: number,
    override readonly cause: unknown,
  ) {
    super(`${what}: a transient storage error did not clear within ${Math.round(ms / 1000)} s`);
    this.name = 'TransientGaveUp';
  }
}

/**
 * Run a small durable write until it commits, retrying transient errors asynchronously with capped
 * backoff (the event loop is never blocked longer than SQLite's short busy timeout). Used for the
 * writes that must not be dropped: a claim, an outcome, a planning pass. Anything not transient is
 * rethrown at once; a busy lock or I/O error that lasts longer than `giveUpMs` becomes
 * TransientGaveUp (the caller treats it as fatal: exit, restart, reconcile). A full disk is waited
 * out however long it lasts: nothing is dialled without its record meanwhile, and the state shows.
 */
export async function retryTransient<T>(
  fn: () => T,
  opts: {
    what: string;
    timers: { setTimeout: (fn: () => void, ms: number) => unknown; monotonic: () => number };
    stopped: () => boolean;
    giveUpMs: number;
    delayMs?: number;
    onRetry?: (err: unknown, attempt: number) => void;
  },
): Promise<T> {
  const started = opts.timers.monotonic();
  for (let delay = opts.delayMs ?? 50, n = 1; ; delay = Math.min(delay * 2, 2_000), n++) {
    try {
      return fn();
    } catch (err) {
      if (!isTransient(err) || opts.stopped()) throw err;
      const elapsed = opts.timers.monotonic() - started;
      // A full disk is a state (reported, commands refused) that lasts as long as it lasts; a lock
      // or I/O error that does not clear is a wedge a restart may clear.
      if (elapsed >= opts.giveUpMs && !isStorageFull(err))
        throw new TransientGaveUp(opts.what, elapsed, err);
      opts.onRetry?.(err, n);
      await new Promise<void>((r) => opts.timers.setTimeout(r, delay));
    }
  }
}
