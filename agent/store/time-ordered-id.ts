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
import { randomUUID } from 'node:crypto';

/** A UUIDv7 for `nowMs` (the agent's clock). Lexicographic order of ids is the order of their ms. */
export function timeOrderedId(nowMs: number): string {
  if (!Number.isSafeInteger(nowMs) || nowMs < 0 || nowMs > 0xffff_ffff_ffff) {
    throw new RangeError(`timeOrderedId: ${nowMs} is not a 48-bit millisecond time`);
  }
  const ts = nowMs.toString(16).padStart(12, '0');
  // A v4 UUID from node's entropy cache keeps its variant and its random bits after the version
  // digit (12 + 62 = 74); its first 48 bits become the time and its version digit 7.
  return `${ts.slice(0, 8)}-${ts.slice(8, 12)}-7${randomUUID().slice(15)}`;
}
