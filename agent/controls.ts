/**
 * Cloud controls (MQTT `control` topic): a test call, replaying a dead-lettered run. The same
 * operations the CLI and the diagnostics endpoint use. Idempotent on the control id (kept in the
 * command audit log, so a redelivered control is a duplicate) and durable before it returns: the
 * link acknowledges the message after this.
 */
import type { Clock } from './clock.js';
import type { Store } from './store/store.js';
import type { CommandResult } from './bookings/schema.js';
import { OperationError, type RunLifecycle } from './lifecycle/lifecycle.js';
import type { RevocationList } from '../sync/contract/technician.js';
import type { TechnicianRevocations } from './technician/revocations.js';

export type Control =
  | { action: 'test-call'; callee: string; agentId?: string | undefined }
  | { action: 'replay'; runId: string }
  // technician access (issue 15): the cloud's full revocation list
  | ({ action: 'technician.revocations' } & RevocationList);

export interface ControlOutcome {
  status: 'accepted' | 'rejected' | 'duplicate';
  detail?: Record<string, unknown>;
  reasons?: { path: string; code: string; message: string }[];
}

export class ControlHandler {
  constructor(
    private readonly store: Store,
    private readonly clock: Clock,
    private readonly lifecycle: RunLifecycle,
    /** Re-plan so the runner acts at once. */
    private readonly poke: () => void,
    /** technician access (issue 15): where `technician.revocations` lists are kept. */
    private readonly revocations: Pick<TechnicianRevocations, 'replace'> | null = null,
  ) {}

  handle(control: Control, ctx: { controlId: string }): ControlOutcome {
    const prior = this.store.commands.get(ctx.controlId);
    if (prior) {
      return { status: 'duplicate', detail: { original: prior.result.status } };
    }
    const now = this.clock.now();
    let outcome: ControlOutcome;
    try {
      outcome = this.store.tx(() => {
        const o = this.execute(control, now);
        this.remember(ctx.controlId, control, o, now);
        return o;
      });
    } catch (err) {
      if (!(err instanceof OperationError)) throw err;
      outcome = {
        status: 'rejected',
        reasons: [
          {
            path: control.action === 'replay' ? 'runId' : 'callee',
            code: err.code,
            message: err.message,
          },
        ],
      };
      this.store.tx(() => this.remember(ctx.controlId, control, outcome, now));
    }
    if (outcome.status === 'accepted') this.poke();
    return outcome;
  }

  private execute(control: Control, now: number): ControlOutcome {
    // technician access (issue 15)
    if (control.action === 'technician.revocations') {
      if (!this.revocations) throw new OperationError('no technician revocation store', 'invalid');
      const { action: _a, ...list } = control;
      return this.revocations.replace(list, now);
    }
    if (control.action === 'replay') {
      const run = this.lifecycle.replay(control.runId, 'cloud', now);
      return { status: 'accepted', detail: { runId: run.id, replays: run.replays } };
    }
    // The dial policy checks the number (and caps) now; a refusal is an OperationError with its code.
    const run = this.lifecycle.requestTestCall(
      {
        callee: control.callee,
        requestedBy: 'cloud',
        ...(control.agentId ? { agentId: control.agentId } : {}),
      },
      now,
    );
    return { status: 'accepted', detail: { runId: run.id } };
  }

  private remember(controlId: string, control: Control, o: ControlOutcome, now: number): void {
    const result: CommandResult = {
      commandId: controlId,
      status: o.status === 'accepted' ? 'accepted' : 'rejected',
      bookingId: null,
      currentVersion: null,
      reasons: o.reasons ?? [],
    };
    this.store.commands.record({
      commandId: controlId,
      source: 'mqtt',
      type: `control.${control.action}`,
      bookingId: null,
      status: result.status === 'accepted' ? 'accepted' : 'rejected',
      result,
      raw: null,
      receivedAt: now,
    });
  }
}
