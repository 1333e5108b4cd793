/**
 * Cloud controls (MQTT `control` topic): a test call, replaying a dead-lettered run, and the
 * technicians' revocation list. The same operations the CLI and the diagnostics endpoint use,
 * through the run lifecycle. Runs inside the sync sink's transaction (agent/sync-sink.ts), which
 * de-duplicates on the message id and writes the answer: this only decides what the control does.
 */
import type { Clock } from './clock.js';
import type { ControlBody } from '../sync/contract/bodies.js';
import type { ControlResultPayload } from '../sync/contract/results.js';
import { OperationError, type RunLifecycle } from './lifecycle/lifecycle.js';
import type { TechnicianRevocations } from './technician/revocations.js';

export type Control = Exclude<ControlBody, { action: 'resync' }>;

export class ControlHandler {
  constructor(
    private readonly clock: Clock,
    private readonly lifecycle: RunLifecycle,
    /** Re-plan so the runner acts at once (called after the commit). */
    private readonly poke: () => void,
    /** technician access (issue 15): where `technician.revocations` lists are kept. */
    private readonly revocations: Pick<TechnicianRevocations, 'replace'> | null = null,
  ) {}

  /** Carry the control out; an OperationError becomes a rejected result with its code. */
  execute(control: Control, msgId: string): ControlResultPayload {
    const now = this.clock.now();
    const base = { inReplyTo: msgId, action: control.action };
    try {
      if (control.action === 'technician.revocations') {
        if (!this.revocations)
          throw new OperationError('no technician revocation store on this unit', 'invalid');
        const { action: _a, ...list } = control;
        const out = this.revocations.replace(list, now);
        return {
          ...base,
          status: out.status === 'accepted' ? 'accepted' : 'rejected',
          detail: out.detail ?? {},
          reasons: out.reasons ?? [],
        };
      }
      if (control.action === 'replay') {
        const run = this.lifecycle.replay(control.runId, 'cloud', now);
        return {
          ...base,
          status: 'accepted',
          detail: { runId: run.id, replays: run.replays },
          reasons: [],
        };
      }
      // The dial policy checks the number (and caps) now; a refusal carries its dial_policy:* code.
      const run = this.lifecycle.requestTestCall(
        {
          callee: control.callee,
          requestedBy: 'cloud',
          ...(control.agentId ? { agentId: control.agentId } : {}),
        },
        now,
      );
      return { ...base, status: 'accepted', detail: { runId: run.id }, reasons: [] };
    } catch (err) {
      if (!(err instanceof OperationError)) throw err;
      return {
        ...base,
        status: 'rejected',
        detail: {},
        reasons: [
          {
            path: control.action === 'replay' ? 'body.runId' : 'body.callee',
            code: err.code,
            message: err.message,
          },
        ],
      };
    }
  }

  afterAccepted(): void {
    this.poke();
  }
}
