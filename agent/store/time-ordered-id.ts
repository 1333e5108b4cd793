/**
 * Time-ordered ids for the rows the unit writes in bursts (runs, attempts): UUID version 7 (RFC
 * 9562 §5.7) — 48 bits of Unix milliseconds, then 74 random bits.
 *
 * Why not `randomUUID()` (issue 14): a random primary key puts every insert on a random leaf of the
 * table's id index, so a planning pass that writes 80 runs dirtied ~80 leaves of that index alone,
 * each a page the FULL commit writes to flash. Ids that grow with time land on the index's last leaf,
 * and an attempt's `attempts_run (run_id, …)` entry follows its run's. The id stays opaque to the
 * cloud (a string, docs/protocol.md) and unique without coordination: two ids of the same
 * millisecond differ in 74 random bits; a clock set back only costs locality, never uniqueness.
 */
import { randomFillSync } from 'node:crypto';

const POOL_IDS = 128;
/** Random bytes drawn 10 per id from a pool refilled at once (one syscall per 128 ids). */
const pool = Buffer.alloc(POOL_IDS * 10);
let offset = pool.length;

const hex: string[] = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

/** A UUIDv7 for `nowMs` (the agent's clock). Lexicographic order of ids is the order of their ms. */
export function timeOrderedId(nowMs: number): string {
  if (!Number.isSafeInteger(nowMs) || nowMs < 0 || nowMs > 0xffff_ffff_ffff) {
    throw new RangeError(`timeOrderedId: ${nowMs} is not a 48-bit millisecond time`);
  }
  if (offset + 10 > pool.length) {
    randomFillSync(pool);
    offset = 0;
  }
  const r = pool.subarray(offset, offset + 10);
  offset += 10;
  const ts = nowMs.toString(16).padStart(12, '0');
  return (
    `${ts.slice(0, 8)}-${ts.slice(8, 12)}-` +
    `7${hex[r[0]! & 0x0f]!.slice(1)}${hex[r[1]!]!}-` +
    `${hex[(r[2]! & 0x3f) | 0x80]!}${hex[r[3]!]!}-` +
    `${hex[r[4]!]!}${hex[r[5]!]!}${hex[r[6]!]!}${hex[r[7]!]!}${hex[r[8]!]!}${hex[r[9]!]!}`
  );
}
