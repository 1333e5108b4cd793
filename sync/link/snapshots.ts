/**
 * Collects the chunks of one snapshot until all have arrived. Chunks are acknowledged as they are
 * received (a PUBACK cannot be held back: mqtt.js hands us one message at a time, so holding chunk 1
 * would stop chunk 2 from ever arriving); nothing is applied until the last one, and then all at
 * once. The assembly is dropped only once the snapshot committed (`done`), so a final chunk whose
 * commit failed (and that the broker delivers again) finds its chunks still there. An assembly lost
 * to a restart, or whose chunks stop arriving, is asked for again (`snapshot_incomplete`).
 */
export interface SnapshotChunk {
  snapshotId: string;
  chunk: number;
  chunks: number;
  asOf: number;
  bookings: unknown[];
}

export type AssemblyResult =
  | { kind: 'incomplete' }
  | { kind: 'complete'; snapshotId: string; asOf: number; bookings: unknown[] }
  | { kind: 'mismatch'; message: string };

export class SnapshotAssembler {
  private current: {
    snapshotId: string;
    chunks: number;
    asOf: number;
    parts: Map<number, unknown[]>;
  } | null = null;

  get inProgress(): string | null {
    return this.current?.snapshotId ?? null;
  }

  add(c: SnapshotChunk): AssemblyResult {
    if (c.chunk >= c.chunks) {
      return { kind: 'mismatch', message: `chunk ${c.chunk} of ${c.chunks} is out of range` };
    }
    // A new snapshot id supersedes an unfinished one: the cloud started over.
    if (!this.current || this.current.snapshotId !== c.snapshotId) {
      this.current = { snapshotId: c.snapshotId, chunks: c.chunks, asOf: c.asOf, parts: new Map() };
    }
    const cur = this.current;
    if (cur.chunks !== c.chunks || cur.asOf !== c.asOf) {
      return {
        kind: 'mismatch',
        message: `chunk ${c.chunk} says ${c.chunks} chunks as of ${c.asOf}, snapshot began with ${cur.chunks} as of ${cur.asOf}`,
      };
    }
    cur.parts.set(c.chunk, c.bookings);
    if (cur.parts.size < cur.chunks) return { kind: 'incomplete' };
    const bookings: unknown[] = [];
    for (let i = 0; i < cur.chunks; i++) bookings.push(...cur.parts.get(i)!);
    return { kind: 'complete', snapshotId: cur.snapshotId, asOf: cur.asOf, bookings };
  }

  /** The snapshot committed (or was refused for good): forget its chunks. */
  done(snapshotId: string): void {
    if (this.current?.snapshotId === snapshotId) this.current = null;
  }

  clear(): void {
    this.current = null;
  }
}
