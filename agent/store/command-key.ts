/**
 * The commands table's lookup key (migration 0007): 48 bits of the command id's SHA-256, a safe
 * integer. Command ids are the cloud's (random UUIDs in practice); a primary key on the id text
 * made every 500-command burst dirty hundreds of random leaves of a wide index. A key collision
 * costs one more row compared: lookups match the id too.
 */
import { createHash } from 'node:crypto';

export function commandKey(commandId: string): number {
  return createHash('sha256').update(commandId).digest().readUIntBE(0, 6);
}

/** SQLite's name for it, registered on every connection that may migrate (agent/store/db.ts). */
export const COMMAND_KEY_SQL = 'command_key';
