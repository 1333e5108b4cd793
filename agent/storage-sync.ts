/**
 * Wiring between degraded storage and the cloud link: after a corrupt store was replaced, or after a
 * full disk refused commands, the unit's picture of its bookings is incomplete. It asks the cloud for
 * a snapshot (on connect, or at once when space returns) until one has been applied.
 */
import type { Store } from './store/store.js';
import { SNAPSHOT_NEEDED_KEY } from './store/corrupt-recovery.js';

export interface SnapshotLink {
  requestSync(reason: 'resync'): void;
  on(event: 'inbound', fn: (out: { kind: string }) => void): unknown;
}

export function requestSnapshotWhenNeeded(store: Store, link: SnapshotLink): () => void {
  const needed = () => (store.meta.get(SNAPSHOT_NEEDED_KEY) ?? '') !== '';
  // Not connected yet: the link keeps the request and sends it right after SUBACK.
  if (needed()) link.requestSync('resync');
  const off = store.storage.onChange((_s, event) => {
    if (event === 'recovered') link.requestSync('resync');
  });
  link.on('inbound', (out) => {
    if (out.kind !== 'snapshot' || !needed()) return;
    try {
      store.tx(() => store.meta.set(SNAPSHOT_NEEDED_KEY, ''));
    } catch {
      // Disk full again: the flag stays and the next start asks once more, which is harmless.
    }
  });
  return off;
}
