/**
 * Wiring between degraded storage and the cloud link: after a corrupt store was replaced, or while
 * a full disk refused commands, the unit's picture of its bookings is incomplete. The store records
 * the need (agent/bookings/sync-position.ts reads it); the link asks for a snapshot until one heals
 * it, and asks at once when space returns.
 */
import type { Store } from './store/store.js';

export interface SnapshotLink {
  requestSync(reason: 'storage_full'): void;
}

export function requestSnapshotWhenNeeded(store: Store, link: SnapshotLink): () => void {
  return store.storage.onChange((_s, event) => {
    if (event === 'recovered') link.requestSync('storage_full');
  });
}
