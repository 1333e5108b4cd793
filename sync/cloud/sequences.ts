/**
 * The cloud's per-unit command sequence. In a backend it lives in the backend's database (one row
 * per unit, incremented in the same transaction that records the command); these two stores cover
 * tests, benchmarks and the CLI.
 */
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

export interface SequenceStore {
  /** Allocate the next sequence for a unit (1, 2, 3...). */
  next(unitId: string): number;
  /** The last allocated sequence (0 = none yet): what a snapshot is "as of". */
  current(unitId: string): number;
}

export class MemorySequences implements SequenceStore {
  private readonly seqs = new Map<string, number>();
  next(unitId: string): number {
    const n = (this.seqs.get(unitId) ?? 0) + 1;
    this.seqs.set(unitId, n);
    return n;
  }
  current(unitId: string): number {
    return this.seqs.get(unitId) ?? 0;
  }
}

/** JSON file of unit → last sequence, written atomically (the CLI runs once per command). */
export class FileSequences implements SequenceStore {
  constructor(private readonly path: string) {}

  next(unitId: string): number {
    const all = this.read();
    const n = (all[unitId] ?? 0) + 1;
    all[unitId] = n;
    mkdirSync(dirname(this.path), { recursive: true });
    const tmp = `${this.path}.tmp`;
    writeFileSync(tmp, JSON.stringify(all, null, 2));
    renameSync(tmp, this.path);
    return n;
  }

  current(unitId: string): number {
    return this.read()[unitId] ?? 0;
  }

  private read(): Record<string, number> {
    try {
      return JSON.parse(readFileSync(this.path, 'utf8')) as Record<string, number>;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return {};
      throw err;
    }
  }
}
