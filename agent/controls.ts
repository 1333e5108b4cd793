/**
 * Cloud controls (MQTT `control` topic): a test call, replaying a dead-lettered run. The same
 * operations the CLI and the diagnostics endpoint use. Idempotent on the control id (kept in the
 * command audit log, so a redelivered control is a duplicate) and durable before it returns: the
 * link acknowledges the message after this.
 */
import type { Clock } from './clock.js';
import type { Store } from './store/store.js';
import type { DialGuard } from './runner/runner.js';
import type { CommandResult } from './bookings/schema.js';
import { OperationError, replayDeadRun, requestTestCall } from './runner/operations.js';

export type Control =
  | { action: 'test-call'; callee: string; agentId?: string | undefined }
  | { action: 'replay'; runId: string };

export interface ControlOutcome {
  status: 'accepted' | 'rejected' | 'duplicate';
  detail?: Record<string, unknown>;
  reasons?: { path: string; code: string; message: string }[];
}

export class ControlHandler {
  constructor(
    private readonly store: Store,
    private readonly clock: Clock,
    private readonly dialGuard: DialGuard,
    /** Re-plan so the runner acts at once. */
    private readonly poke: () => void,
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
            path: control.action === 'replay' ? 'runId' : '',
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
    if (control.action === 'replay') {
      const run = replayDeadRun(this.store, control.runId, 'cloud', now);
      return { status: 'accepted', detail: { runId: run.id, replays: run.replays } };
    }
    const verdict = this.dialGuard.check(control.callee, {
      now,
      callsLastHour: this.store.runs.dialsSince(now - 3_600_000),
      callsLastDay: this.store.runs.dialsSince(now - 86_400_000),
      allowQuietHours: true,
    });
    if (!verdict.ok) {
      return {
        status: 'rejected',
        reasons: [
          { path: 'callee', code: `dial_policy:${verdict.reason}`, message: verdict.message },
        ],
      };
    }
    const run = requestTestCall(
      this.store,
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
