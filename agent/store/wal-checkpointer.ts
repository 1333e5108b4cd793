/**
 * WAL checkpoints in the pause after commits, not inside one (issue 14).
 *
 * SQLite's own auto-checkpoint runs inside the COMMIT that takes the WAL past 1000 pages: whichever
 * transaction that happens to be — a call's claim, a command's result — waits while the pages are
 * copied into the database file and it is flushed (1.3–2.7 ms on the development VM, tens of ms on
 * a unit's eMMC). The fire-lateness bench writes ~47 WAL pages per placed call, so about one call in
 * twenty had a checkpoint in one of its commits, now and then the claim before the dial.
 *
 * Here the store checkpoints (PASSIVE: never waits for readers) once no commit came for `quietMs`
 * (100 ms) after at least `commits` (64) top-level commits: a call's claim, dial and progress marks,
 * a command's commit, PUBACK and result run back to back, and the copy waits for the pause after
 * them; commits that never pause get it between two of them after 256. SQLite's auto-checkpoint
 * stays as the backstop at 4000 pages (a burst of large commits). 64 commits are ~500 pages of the agent's usual 2–16-page commits: about as often as
 * SQLite's 1000 pages, so flash writes stay about what they were.
 *
 * Why commits and not the WAL's page count: that count is in the wal-index (`-shm`), and opening
 * and closing that file in the process that has the database open drops SQLite's POSIX locks on it
 * (https://sqlite.org/howtocorrupt.html §2.2) — another connection then rebuilt the index under the
 * agent, which died of SIGBUS in the chaos run. Nothing here touches the database's files.
 */
import type { Db } from './db.js';
import { isTransient } from './storage-health.js';

/** Top-level commits after which the next pause checkpoints. */
export const WAL_CHECKPOINT_COMMITS = 64;
/** SQLite's own auto-checkpoint, inside a commit, only past this (a burst, no pause). */
export const WAL_BACKSTOP_PAGES = 4000;
/** A checkpoint waits for this long without a commit. */
export const WAL_CHECKPOINT_QUIET_MS = 100;

/** Time for the quiet wait; the agent passes its clock (tests: a fake one). */
export interface CheckpointTimers {
  monotonic(): number;
  setTimeout(fn: () => void, ms: number): unknown;
}

/** Real time; its timer never keeps a stopping process alive. */
const REAL_TIMERS: CheckpointTimers = {
  monotonic: () => performance.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms).unref(),
};

export interface WalCheckpointerOptions {
  commits?: number;
  backstopPages?: number;
  quietMs?: number;
  timers?: CheckpointTimers;
}

export class WalCheckpointer {
  private waiting = false;
  private lastCommitAt = 0;
  private commitsSince = 0;
  private readonly commits: number;
  private readonly quietMs: number;
  private readonly timers: CheckpointTimers;
  /** Checkpoints run (diagnostics, tests). */
  runs = 0;

  private constructor(
    private readonly db: Db,
    opts: WalCheckpointerOptions,
  ) {
    this.commits = opts.commits ?? WAL_CHECKPOINT_COMMITS;
    this.quietMs = opts.quietMs ?? WAL_CHECKPOINT_QUIET_MS;
    this.timers = opts.timers ?? REAL_TIMERS;
  }

  /**
   * Take over checkpointing for a writable file database in WAL mode; null (SQLite keeps its own
   * auto-checkpoint) for an in-memory or read-only one.
   */
  static attach(db: Db, opts: WalCheckpointerOptions = {}): WalCheckpointer | null {
    if (db.memory || db.readonly) return null;
    if (String(db.pragma('journal_mode', { simple: true })).toLowerCase() !== 'wal') return null;
    db.pragma(`wal_autocheckpoint = ${Math.floor(opts.backstopPages ?? WAL_BACKSTOP_PAGES)}`);
    return new WalCheckpointer(db, opts);
  }

  /** A top-level transaction committed: once enough did, checkpoint when they pause. */
  afterCommit(): void {
    this.lastCommitAt = this.timers.monotonic();
    this.commitsSince++;
    if (!this.waiting && this.commitsSince >= this.commits) this.lookIn(this.quietMs);
  }

  private lookIn(ms: number): void {
    this.waiting = true;
    this.timers.setTimeout(() => this.look(), ms);
  }

  private look(): void {
    this.waiting = false;
    if (!this.db.open) return;
    const quietFor = this.timers.monotonic() - this.lastCommitAt;
    // Commits still coming: wait for their pause — but not past four times as many (back-to-back
    // commands never pause; the checkpoint then runs between them, not inside one).
    if (quietFor < this.quietMs && this.commitsSince < 4 * this.commits)
      this.lookIn(this.quietMs - quietFor);
    else this.checkpoint();
  }

  private checkpoint(): void {
    try {
      this.db.pragma('wal_checkpoint(PASSIVE)');
      this.runs++;
      this.commitsSince = 0;
    } catch (err) {
      // Another connection checkpointing, or no room to grow the file: the next commit's pause
      // tries again (SQLite's backstop still holds the WAL's size). Anything else: fail loudly.
      if (!isTransient(err)) throw err;
    }
  }
}
