/**
 * Collects the chunks of one snapshot until all have arrived. Chunks are acknowledged as they are
 * received (a PUBACK cannot be held back: mqtt.js hands us one message at a time, so holding chunk 1
 * would stop chunk 2 from ever arriving); nothing is applied until the last one, and then all at
 * once. An incomplete snapshot lost to a restart is harmless: the cloud treats a snapshot as done
 * only when it sees `snapshot.applied`, and the unit asks again on reconnect.
 */
export interface SnapshotChunk {
  snapshotId: string;
  chunk: number;
  chunks: number;
  seq: number | undefined;
  bookings: unknown[];
}

export type AssemblyResult =
  | { kind: 'incomplete' }
  | { kind: 'complete'; snapshotId: string; seq: number | undefined; bookings: unknown[] }
  | { kind: 'mismatch'; message: string };

export class SnapshotAssembler {
  private current: {
    snapshotId: string;
    chunks: number;
    seq: number | undefined;
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
      this.current = { snapshotId: c.snapshotId, chunks: c.chunks, seq: c.seq, parts: new Map() };
    }
    const cur = this.current;
    if (cur.chunks !== c.chunks || cur.seq !== c.seq) {
      return {
        kind: 'mismatch',
        message: `chunk ${c.chunk} says ${c.chunks} chunks at seq ${c.seq}, snapshot began with ${cur.chunks} at seq ${cur.seq}`,
      };
    }
    cur.parts.set(c.chunk, c.bookings);
    if (cur.parts.size < cur.chunks) return { kind: 'incomplete' };
    this.current = null;
    const bookings: unknown[] = [];
    for (let i = 0; i < cur.chunks; i++) bookings.push(...cur.parts.get(i)!);
    return { kind: 'complete', snapshotId: cur.snapshotId, seq: cur.seq, bookings };
  }

  clear(): void {
    this.current = null;
  }
}
