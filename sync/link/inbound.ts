/**
 * Inbound pipeline: bytes from the broker → checked envelope → the applier, in one synchronous
 * durable transaction. The caller sends the PUBACK only after `handle` resolves (rule 1).
 *
 * Order of checks, each with its own reason code (sync/contract/reasons.ts): size, UTF-8 JSON,
 * envelope shape, version, unit id, signature, body. Anything refused here is handed to
 * `recordRejected` (audit + a `command.result` outbox event) and still acknowledged: redelivering
 * garbage forever would only block the queue behind it.
 */
import { randomUUID, type KeyObject } from 'node:crypto';
import type { z } from 'zod';
import type { CommandResult, RejectionReason } from '../../agent/bookings/schema.js';
import {
  controlBodySchema,
  wireCommandBatchBodySchema,
  wireSnapshotChunkBodySchema,
  type ControlBody,
  type SyncRequestBody,
} from '../contract/bodies.js';
import { anyEnvelopeSchema, PROTOCOL_VERSION } from '../contract/envelope.js';
import { LINK_REJECTIONS, type LinkRejectionCode } from '../contract/reasons.js';
import { verifyEnvelope } from '../contract/signing.js';
import { parseTopic, type InboundChannel } from '../contract/topics.js';
import type { ControlHandler, InboundSink } from '../ports.js';
import { auditText, decodeUtf8 } from './raw.js';
import { SnapshotAssembler } from './snapshots.js';

export interface InboundOptions {
  unitId: string;
  maxPayloadBytes: number;
  signatureRequired: boolean;
  publicKeys: KeyObject[];
}

/** A result the link publishes itself on the results topic (not an outbox row). */
export interface DirectResult {
  type: 'command.result' | 'control.result';
  payload: Record<string, unknown>;
}

export interface InboundOutcome {
  kind: 'commands' | 'snapshot_chunk' | 'snapshot' | 'control' | 'rejected';
  msgId: string | null;
  results: CommandResult[];
  /** Duplicates (their original results are already in the outbox) and control results. */
  direct: DirectResult[];
  syncRequest?: SyncRequestBody;
}

type Parsed = z.infer<typeof anyEnvelopeSchema>;

export class InboundProcessor {
  private readonly snapshots = new SnapshotAssembler();

  constructor(
    private readonly sink: InboundSink,
    private readonly opts: InboundOptions,
    private readonly controls: ControlHandler | null = null,
  ) {}

  get snapshotInProgress(): string | null {
    return this.snapshots.inProgress;
  }

  async handle(topic: string, payload: Buffer): Promise<InboundOutcome> {
    let env: Parsed | null = null;
    try {
      const checked = this.check(topic, payload);
      if ('rejected' in checked) return checked.rejected;
      env = checked.env;
      switch (checked.channel) {
        case 'cmd':
          return this.commands(env, payload);
        case 'snapshot':
          return this.snapshot(env, payload);
        case 'control':
          return await this.control(env, payload);
      }
    } catch (err) {
      // Any other failure (I/O error) did not commit: the link withholds the PUBACK and the broker
      // redelivers. A full disk would fail the same way forever, so it is answered instead.
      if (!isDiskFull(err)) throw err;
      return storageFull(env);
    }
  }

  private check(
    topic: string,
    payload: Buffer,
  ): { env: Parsed; channel: InboundChannel } | { rejected: InboundOutcome } {
    const t = parseTopic(topic);
    const channel = t?.channel;
    if (!t || (channel !== 'cmd' && channel !== 'snapshot' && channel !== 'control')) {
      return {
        rejected: this.reject(null, payload, 'invalid_envelope', `not an inbound topic: ${topic}`),
      };
    }
    if (payload.length > this.opts.maxPayloadBytes) {
      return {
        rejected: this.reject(
          null,
          payload,
          'payload_too_large',
          `${payload.length} bytes > limit ${this.opts.maxPayloadBytes}`,
        ),
      };
    }
    const text = decodeUtf8(payload);
    let json: unknown;
    try {
      if (text === null) throw new Error('not UTF-8');
      json = JSON.parse(text);
    } catch (err) {
      return { rejected: this.reject(null, payload, 'invalid_json', (err as Error).message) };
    }
    const msgId = msgIdOf(json);
    const v = (json as { v?: unknown } | null)?.v;
    if (typeof json === 'object' && json !== null && v !== undefined && v !== PROTOCOL_VERSION) {
      return {
        rejected: this.reject(
          msgId,
          payload,
          'unsupported_version',
          `v=${String(v)}; this unit speaks v${PROTOCOL_VERSION}`,
        ),
      };
    }
    const parsed = anyEnvelopeSchema.safeParse(json);
    if (!parsed.success) {
      return { rejected: this.rejectMany(msgId, payload, 'invalid_envelope', parsed.error.issues) };
    }
    const env = parsed.data;
    if (env.unitId !== this.opts.unitId || t.unitId !== this.opts.unitId) {
      return {
        rejected: this.reject(
          env.msgId,
          payload,
          'unit_mismatch',
          `addressed to ${env.unitId} on ${t.unitId}'s topic; this unit is ${this.opts.unitId}`,
        ),
      };
    }
    if (env.sig === undefined) {
      if (this.opts.signatureRequired) {
        return {
          rejected: this.reject(
            env.msgId,
            payload,
            'signature_missing',
            LINK_REJECTIONS.signature_missing,
          ),
        };
      }
    } else if (this.opts.signatureRequired || this.opts.publicKeys.length > 0) {
      // A signature that is present is always checked when we have keys: a bad one is an attack.
      if (!verifyEnvelope(env as Record<string, unknown>, this.opts.publicKeys)) {
        return {
          rejected: this.reject(env.msgId, payload, 'bad_signature', LINK_REJECTIONS.bad_signature),
        };
      }
    }
    return { env, channel };
  }

  private commands(env: Parsed, payload: Buffer): InboundOutcome {
    const body = wireCommandBatchBodySchema.safeParse(env.body);
    if (!body.success)
      return this.rejectMany(env.msgId, payload, 'invalid_body', body.error.issues, 'body');
    const last = this.sink.lastSeq();
    const seq = env.seq;
    // Only a message that continues the sequence moves it: a gap leaves lastSeq where it was, so the
    // gap stays visible (and keeps asking) until a snapshot heals it, even across a crash. Out of
    // order or replayed messages are still applied: per-booking versions decide what wins.
    const contiguous = seq !== undefined && (last === null ? seq === 1 : seq === last + 1);
    const results = this.sink.apply(body.data.commands, {
      source: 'mqtt',
      ...(contiguous ? { seq } : {}),
    });
    const gap = seq !== undefined && (last === null ? seq > 1 : seq > last + 1);
    return {
      kind: 'commands',
      msgId: env.msgId,
      results,
      direct: results
        .filter((r) => r.status === 'duplicate')
        .map((r) => ({ type: 'command.result', payload: { ...r, inReplyTo: env.msgId } })),
      ...(gap
        ? { syncRequest: { reason: 'gap', haveSeq: last, gotSeq: seq, inReplyTo: env.msgId } }
        : {}),
    };
  }

  private snapshot(env: Parsed, payload: Buffer): InboundOutcome {
    const body = wireSnapshotChunkBodySchema.safeParse(env.body);
    if (!body.success)
      return this.rejectMany(env.msgId, payload, 'invalid_body', body.error.issues, 'body');
    const got = this.snapshots.add({ ...body.data, seq: env.seq });
    if (got.kind === 'incomplete')
      return { kind: 'snapshot_chunk', msgId: env.msgId, results: [], direct: [] };
    if (got.kind === 'mismatch')
      return this.reject(env.msgId, payload, 'snapshot_mismatch', got.message);
    const last = this.sink.lastSeq();
    if (got.seq !== undefined && last !== null && got.seq < last) {
      // Cancelling by absence from an older picture would undo newer commands.
      return this.reject(
        `${got.snapshotId}`,
        payload,
        'stale_snapshot',
        `snapshot is as of seq ${got.seq}; commands up to ${last} are already applied`,
      );
    }
    const results = this.sink.applySnapshot(
      { snapshotId: got.snapshotId, bookings: got.bookings },
      { source: 'mqtt', ...(got.seq !== undefined ? { seq: got.seq } : {}) },
    );
    return { kind: 'snapshot', msgId: env.msgId, results, direct: [] };
  }

  private async control(env: Parsed, payload: Buffer): Promise<InboundOutcome> {
    const body = controlBodySchema.safeParse(env.body);
    if (!body.success)
      return this.rejectMany(env.msgId, payload, 'invalid_body', body.error.issues, 'body');
    const control: ControlBody = body.data;
    const reply = (status: string, extra: Record<string, unknown> = {}): InboundOutcome => ({
      kind: 'control',
      msgId: env.msgId,
      results: [],
      direct: [
        {
          type: 'control.result',
          payload: { inReplyTo: env.msgId, action: control.action, status, reasons: [], ...extra },
        },
      ],
    });
    if (control.action === 'resync') {
      return {
        ...reply('accepted'),
        syncRequest: { reason: 'resync', haveSeq: this.sink.lastSeq(), inReplyTo: env.msgId },
      };
    }
    if (!this.controls) {
      return reply('rejected', {
        reasons: [
          {
            path: 'body.action',
            code: 'control_failed',
            message: 'this unit has no handler for controls',
          },
        ],
      });
    }
    try {
      const out = await this.controls.handle(control, { controlId: env.msgId });
      return reply(out.status, { detail: out.detail ?? {}, reasons: out.reasons ?? [] });
    } catch (err) {
      return reply('rejected', {
        reasons: [{ path: 'body', code: 'control_failed', message: (err as Error).message }],
      });
    }
  }

  private reject(
    msgId: string | null,
    payload: Buffer,
    code: LinkRejectionCode,
    message: string,
  ): InboundOutcome {
    return this.rejectWith(msgId, payload, [{ path: '', code, message }]);
  }

  private rejectMany(
    msgId: string | null,
    payload: Buffer,
    code: LinkRejectionCode,
    issues: readonly z.core.$ZodIssue[],
    prefix = '',
  ): InboundOutcome {
    const reasons = issues.slice(0, 20).map((i) => ({
      path: [prefix, ...i.path.map(String)].filter(Boolean).join('.'),
      code: i.code === 'unrecognized_keys' ? 'unknown_field' : code,
      message: i.message,
    }));
    return this.rejectWith(msgId, payload, reasons);
  }

  private rejectWith(
    msgId: string | null,
    payload: Buffer,
    reasons: RejectionReason[],
  ): InboundOutcome {
    // Prefixed so a forged message can never occupy the id of a real future command.
    const commandId = `rejected:${msgId ?? randomUUID()}`;
    this.sink.recordRejected({ source: 'mqtt', commandId, raw: auditText(payload), reasons });
    const result: CommandResult = {
      commandId,
      status: 'rejected',
      bookingId: null,
      currentVersion: null,
      reasons,
    };
    return { kind: 'rejected', msgId, results: [result], direct: [] };
  }
}

function isDiskFull(err: unknown): boolean {
  return (err as { code?: unknown } | null)?.code === 'SQLITE_FULL';
}

/**
 * The disk is full: nothing was committed and nothing can be recorded, so the answer goes straight
 * back on the results topic (not through the outbox) and the message is acknowledged as refused.
 * The cloud resends later; the agent also asks for a snapshot once space returns (storage.recovered).
 */
function storageFull(env: Parsed | null): InboundOutcome {
  const reasons: RejectionReason[] = [
    { path: '', code: 'storage_full', message: LINK_REJECTIONS.storage_full },
  ];
  const parsed = env ? wireCommandBatchBodySchema.safeParse(env.body) : null;
  const ids = parsed?.success
    ? parsed.data.commands.map((c) => (c as { commandId?: unknown }).commandId)
    : [];
  const commandIds = ids.filter((c): c is string => typeof c === 'string');
  const results: CommandResult[] = (
    commandIds.length > 0 ? commandIds : [`rejected:${env?.msgId ?? randomUUID()}`]
  ).map((commandId) => ({
    commandId,
    status: 'rejected',
    bookingId: null,
    currentVersion: null,
    reasons,
  }));
  return {
    kind: 'rejected',
    msgId: env?.msgId ?? null,
    results,
    direct: results.map((r) => ({
      type: 'command.result',
      payload: { ...r, inReplyTo: env?.msgId ?? null },
    })),
  };
}

function msgIdOf(json: unknown): string | null {
  const m = (json as { msgId?: unknown } | null)?.msgId;
  return typeof m === 'string' && m.length > 0 && m.length <= 128 ? m : null;
}
