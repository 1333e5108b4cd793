/**
 * The agent's side of the cloud link (sync/ports.ts InboundSink): every inbound message is one
 * durable transaction in which the change, the de-duplication memory (the `messages` table, by
 * msgId), the sync position and every answer (outbox rows) commit together — the link sends the
 * PUBACK after it. Message ids, command ids and control ids each mean one thing
 * (docs/protocol.md "Ids"): a message seen before is answered with its first answers, a reused id
 * with other content is refused.
 */
import { randomUUID } from 'node:crypto';
import type { Clock } from './clock.js';
import type { Logger } from './log.js';
import type { Store } from './store/store.js';
import { META } from './store/meta.js';
import type { MessageAnswer } from './store/messages-repo.js';
import { CommandApplier, type CalleePolicy } from './bookings/apply.js';
import { RunLifecycle } from './lifecycle/lifecycle.js';
import { applySnapshot } from './bookings/snapshot.js';
import { SyncPosition, type SnapshotReason } from './bookings/sync-position.js';
import { ControlHandler } from './controls.js';
import type { ControlBody, SyncRequestBody } from '../sync/contract/bodies.js';
import { LINK_REJECTIONS } from '../sync/contract/reasons.js';
import type {
  CommandResult,
  CommandResultPayload,
  ControlResultPayload,
  RejectionReason,
} from '../sync/contract/results.js';
import type {
  CheckedMessage,
  CommandsOutcome,
  ControlOutcomeResult,
  InboundSink,
  SnapshotOutcome,
} from '../sync/ports.js';
import { SnapshotAssembler } from '../sync/link/snapshots.js';

export interface SyncSinkDeps {
  store: Store;
  applier: CommandApplier;
  controls: ControlHandler;
  clock: Clock;
  /** Whether the unit's clock is trusted now (freshness is judged on it only then). */
  clockTrusted: () => boolean;
  logger: Logger;
}

/** Repeated `resync` controls within this long collapse into the one request already open. */
const RESYNC_COLLAPSE_MS = 30_000;

export class SyncSink implements InboundSink {
  readonly position: SyncPosition;
  private readonly assembler = new SnapshotAssembler();
  private readonly log: Logger;

  constructor(private readonly d: SyncSinkDeps) {
    this.position = new SyncPosition(d.store);
    this.log = d.logger.child({ component: 'sync-sink' });
  }

  /** A snapshot half-received when the agent last stopped is gone: ask for it again. */
  start(): void {
    const { store } = this.d;
    if (store.meta.get(META.snapshotAssembling) === null) return;
    store.tx(() => {
      store.meta.delete(META.snapshotAssembling);
      this.position.need('snapshot_incomplete', this.d.clock.now());
    });
  }

  commands(m: CheckedMessage, commands: unknown[]): CommandsOutcome {
    const { store, applier } = this.d;
    return store.tx(() => {
      const seen = this.seen(m);
      if (seen === 'reused') return { results: [], duplicate: false, reused: true };
      if (seen) return { results: seen.commands, duplicate: true, reused: false };
      const results = applier.apply(commands, {
        source: 'mqtt',
        msgId: m.msgId,
        ...(m.seq !== null ? { seq: m.seq } : {}),
      });
      if (m.seq !== null) this.position.noteCommand(m.seq, this.d.clock.now());
      this.remember(
        m,
        results.map((r) => ({ type: 'command.result', payload: resultPayload(r, m.msgId) })),
      );
      return { results, duplicate: false, reused: false };
    });
  }

  snapshotChunk(
    m: CheckedMessage,
    chunk: { snapshotId: string; asOf: number; chunk: number; chunks: number; bookings: unknown[] },
  ): SnapshotOutcome {
    const { store, applier, clock } = this.d;
    const out = store.tx((): SnapshotOutcome => {
      const seen = this.seen(m);
      if (seen === 'reused') return { duplicate: false, reused: true, applied: false };
      if (seen) return { duplicate: true, reused: false, applied: false };
      const got = this.assembler.add(chunk);
      if (got.kind === 'mismatch') {
        const refused = { path: 'body', code: 'snapshot_mismatch', message: got.message };
        this.rejectedInTx(m.msgId, 'snapshot', m.raw, [refused], m.sentAt);
        return { duplicate: false, reused: false, applied: false, refused };
      }
      if (got.kind === 'incomplete') {
        store.meta.set(META.snapshotAssembling, chunk.snapshotId);
        this.remember(m, []);
        return { duplicate: false, reused: false, applied: false };
      }
      store.meta.delete(META.snapshotAssembling);
      const last = this.position.lastSeq() ?? 0;
      if (got.asOf < last) {
        // Older than the contiguous range the unit holds: there is nothing it could heal.
        const refused = {
          path: 'body.asOf',
          code: 'stale_snapshot',
          message: `snapshot is as of seq ${got.asOf}; commands up to ${last} are already applied`,
        };
        this.rejectedInTx(m.msgId, 'snapshot', m.raw, [refused], m.sentAt);
        return { duplicate: false, reused: false, applied: false, refused };
      }
      applySnapshot(
        store,
        applier,
        { snapshotId: got.snapshotId, asOf: got.asOf, bookings: got.bookings },
        {
          source: 'mqtt',
          msgId: m.msgId,
        },
      );
      this.position.noteSnapshot(got.asOf, clock.now());
      this.remember(m, []);
      return { duplicate: false, reused: false, applied: true };
    });
    // Only once it committed (or was refused for good) are the chunks let go.
    if (out.applied || out.refused) this.assembler.done(chunk.snapshotId);
    return out;
  }

  /** The chunks stopped arriving: drop them and ask for the snapshot again. */
  abandonSnapshot(): void {
    const id = this.assembler.inProgress;
    if (id === null) return;
    this.assembler.clear();
    this.d.store.tx(() => {
      this.d.store.meta.delete(META.snapshotAssembling);
      this.position.need('snapshot_incomplete', this.d.clock.now());
    });
    this.log.warn({ snapshotId: id }, 'snapshot chunks stopped arriving; asking again');
  }

  get snapshotInProgress(): string | null {
    return this.assembler.inProgress;
  }

  control(m: CheckedMessage, control: ControlBody): ControlOutcomeResult {
    const { store, clock } = this.d;
    let acted = false;
    const out = store.tx((): ControlOutcomeResult => {
      const seen = this.seen(m);
      if (seen === 'reused') {
        return {
          duplicate: false,
          reused: true,
          result: {
            inReplyTo: m.msgId,
            action: control.action,
            status: 'rejected',
            detail: {},
            reasons: [reusedReason(m.msgId)],
          },
        };
      }
      if (seen) return { duplicate: true, reused: false, result: seen.control! };
      let result: ControlResultPayload;
      if (control.action === 'resync') {
        const need = this.position.needed();
        const collapsed =
          need?.reason === 'resync' && clock.now() - need.since < RESYNC_COLLAPSE_MS;
        if (!collapsed) this.position.need('resync', clock.now());
        result = {
          inReplyTo: m.msgId,
          action: 'resync',
          status: 'accepted',
          detail: { collapsed },
          reasons: [],
        };
      } else {
        result = this.d.controls.execute(control, m.msgId);
        acted = result.status === 'accepted';
      }
      store.outbox.add('control.result', result, clock.now());
      this.remember(m, [{ type: 'control.result', payload: { ...result } }]);
      return { duplicate: false, reused: false, result };
    });
    if (acted) this.d.controls.afterAccepted();
    return out;
  }

  rejected(r: {
    msgId: string | null;
    channel: string;
    raw: string | null;
    reasons: RejectionReason[];
    sentAt: number | null;
  }): void {
    this.d.store.tx(() => this.rejectedInTx(r.msgId, r.channel, r.raw, r.reasons, r.sentAt));
  }

  receipt(ranges: readonly (readonly [number, number])[]): number {
    const { store, clock } = this.d;
    return store.tx(() => store.outbox.receipt(ranges, clock.now()));
  }

  lastSeq(): number | null {
    return this.position.lastSeq();
  }

  snapshotNeeded(): Omit<SyncRequestBody, 'attempt'> | null {
    const n = this.position.needed();
    if (!n) return null;
    return {
      reason: n.reason,
      haveSeq: this.position.lastSeq(),
      ...(n.gotSeq !== undefined ? { gotSeq: n.gotSeq } : {}),
      since: new Date(n.since || this.d.clock.now()).toISOString(),
    };
  }

  needSnapshot(reason: SyncRequestBody['reason']): void {
    this.d.store.tx(() => this.position.need(reason as SnapshotReason, this.d.clock.now()));
  }

  freshness(): { now: number; clockTrusted: boolean; newestSentAt: number | null } {
    return {
      now: this.d.clock.now(),
      clockTrusted: this.d.clockTrusted(),
      newestSentAt: this.d.store.meta.getNumber(META.newestCloudSentAt),
    };
  }

  /**
   * The de-duplication memory. null: a new message. 'reused': the id named another message — the
   * refusal is recorded and answered here. Otherwise the first answers, sent again as duplicates.
   */
  private seen(
    m: CheckedMessage,
  ): null | 'reused' | { commands: CommandResult[]; control: ControlResultPayload | null } {
    const prior = this.d.store.messages.get(m.msgId);
    if (!prior) return null;
    if (prior.digest !== null && prior.digest !== m.digest) {
      this.rejectedInTx(m.msgId, m.channel, m.raw, [reusedReason(m.msgId)], m.sentAt);
      return 'reused';
    }
    const now = this.d.clock.now();
    const commands: CommandResult[] = [];
    let control: ControlResultPayload | null = null;
    for (const a of prior.answers) {
      if (a.type === 'command.result') {
        const original = a.payload as unknown as CommandResultPayload;
        const { inReplyTo: _r, original: _o, ...first } = original;
        const dup: CommandResultPayload = {
          ...first,
          status: 'duplicate',
          inReplyTo: m.msgId,
          original: first,
        };
        this.d.store.outbox.add('command.result', dup, now);
        commands.push(dup);
      } else {
        const { original: _o, ...first } = a.payload as unknown as ControlResultPayload;
        control = { ...first, status: 'duplicate', original: first };
        this.d.store.outbox.add('control.result', control, now);
      }
    }
    return { commands, control };
  }

  private remember(m: CheckedMessage, answers: MessageAnswer[]): void {
    const { store, clock } = this.d;
    store.messages.record({
      msgId: m.msgId,
      channel: m.channel,
      digest: m.digest,
      status: 'accepted',
      answers,
      raw: null,
      sentAt: m.sentAt,
      receivedAt: clock.now(),
    });
    const newest = store.meta.getNumber(META.newestCloudSentAt);
    if (newest === null || m.sentAt > newest) store.meta.set(META.newestCloudSentAt, m.sentAt);
  }

  private rejectedInTx(
    msgId: string | null,
    channel: string,
    raw: string | null,
    reasons: RejectionReason[],
    sentAt: number | null,
  ): void {
    const { store, clock } = this.d;
    const now = clock.now();
    // A message without a usable id is kept under one made up for it (never an id a cloud would use).
    const id = msgId ?? `unidentified-${randomUUID()}`;
    const commandId = `rejected:${id}`;
    const payload: CommandResultPayload = {
      commandId,
      status: 'rejected',
      bookingId: null,
      currentVersion: null,
      reasons,
      inReplyTo: msgId,
    };
    // Kept for audit; a refused message never owns its id (a forged copy cannot take the real one's).
    store.messages.record({
      msgId: id,
      channel,
      digest: null,
      status: 'rejected',
      answers: [{ type: 'command.result', payload: { ...payload } }],
      raw,
      sentAt,
      receivedAt: now,
    });
    store.outbox.add('command.result', payload, now);
    this.log.warn({ msgId, channel, reasons: reasons.map((x) => x.code) }, 'message refused');
  }
}

function resultPayload(r: CommandResult, msgId: string): Record<string, unknown> {
  return { ...r, inReplyTo: msgId };
}

function reusedReason(msgId: string): RejectionReason {
  return {
    path: 'msgId',
    code: 'msg_id_reused',
    message: `${LINK_REJECTIONS.msg_id_reused} (${msgId})`,
  };
}

/**
 * A sink with its own apply path and run lifecycle over a store, for a process that is not the
 * agent (a sync test unit, a benchmark): the same rules, no runner.
 */
export function standaloneSink(
  store: Store,
  clock: Clock,
  policy: ConstructorParameters<typeof RunLifecycle>[1] & CalleePolicy,
  logger: Logger,
): { sink: SyncSink; applier: CommandApplier; lifecycle: RunLifecycle } {
  const lifecycle = new RunLifecycle(store, policy);
  const applier = new CommandApplier(store, clock, lifecycle, policy);
  const sink = new SyncSink({
    store,
    applier,
    controls: new ControlHandler(clock, lifecycle, () => undefined),
    clock,
    clockTrusted: () => true,
    logger,
  });
  sink.start();
  return { sink, applier, lifecycle };
}
