/** The run lifecycle's public face (docs/lifecycle.md). */
import type { Clock } from '../clock.js';
import type { Store } from '../store/store.js';
import { CommandApplier, type CalleePolicy } from '../bookings/apply.js';
import { RunLifecycle, type DialGuard } from './lifecycle.js';

export * from './lifecycle.js';
export { beginBootEpoch, reconcilePreviousBoots, type ReconcileReport } from './reconcile.js';

/**
 * The apply path with its own lifecycle over a store, for a process that is not the agent (the CLI,
 * a sync test unit, a benchmark): the same validation and the same one writer of runs.
 */
export function applierFor(
  store: Store,
  clock: Clock,
  policy: DialGuard & CalleePolicy,
): { applier: CommandApplier; lifecycle: RunLifecycle } {
  const lifecycle = new RunLifecycle(store, policy);
  return { lifecycle, applier: new CommandApplier(store, clock, lifecycle, policy) };
}
