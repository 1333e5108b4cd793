/**
 * Inbound pipeline: bytes from the broker → checked envelope → the sink, in one synchronous durable
 * transaction. The caller sends the PUBACK only after `handle` resolves (rule 1).
 *
 * Order of checks, each with its own reason code (sync/contract/reasons.ts): size, UTF-8 JSON that
 * can be canonicalised, envelope shape, version, unit id, freshness, signature, body. Anything
 * refused is handed to the sink (audit + an answer in the outbox) and still acknowledged:
 * redelivering garbage forever would only block the queue behind it. Nothing a message contains can
 * make this throw: an unexpected failure becomes `internal_error`. Only a failed commit (a busy or
 * full store) is left unacknowledged, so the broker delivers the message again.
 */
import { createHash, type KeyObject } from 'node:crypto';
import type { z } from 'zod';
import {
  controlBodySchema,
  receiptBodySchema,
  wireCommandBatchBodySchema,
  wireSnapshotChunkBodySchema,
} from '../contract/bodies.js';
import { CanonicalJsonError, jsonDepth, MAX_JSON_DEPTH } from '../contract/canonical.js';
import { anyEnvelopeSchema, PROTOCOL_VERSION } from '../contract/envelope.js';
import { LINK_REJECTIONS, type LinkRejectionCode } from '../contract/reasons.js';
import type { RejectionReason } from '../contract/results.js';
import { signedBytes, verifyEnvelope } from '../contract/signing.js';
import { parseTopic } from '../contract/topics.js';
import type { CheckedMessage, InboundSink } from '../ports.js';
import { auditText, decodeUtf8 } from './raw.js';
import { isRetryableStorage, isStorageFull } from './storage-errors.js';

export interface FreshnessOptions {
  maxAgeMs: number;
  maxFutureMs: number;
  /** Test calls and replays act at once on a person's phone: a captured one must not work later. */
  controlMaxAgeMs: number;
}

export interface InboundOptions {
  unitId: string;
  maxPayloadBytes: number;
  signatureRequired: boolean;
  publicKeys: KeyObject[];
  freshness: FreshnessOptions;
}

export type InboundKind =
  'commands' | 'snapshot_chunk' | 'snapshot' | 'control' | 'receipt' | 'duplicate' | 'rejected';

export interface InboundOutcome {
  kind: InboundKind;
  msgId: string | null;
  /** How many booking commands were applied / answered duplicate / refused. */
  counts: { applied: number; duplicates: number; rejected: number };
  /** A `resync` control: the need is recorded; the link asks now. */
  resync?: boolean;
  /**
   * The disk is full: nothing was committed and nothing can be recorded, so these answers go out
   * directly on `results` (the one exception to "every answer is an outbox row"); the message is
   * acknowledged as refused and the unit asks for a snapshot once space returns.
   */
  direct?: { type: 'command.result' | 'control.result'; payload: Record<string, unknown> }[];
}

type Parsed = z.infer<typeof anyEnvelopeSchema>;

const ZERO = { applied: 0, duplicates: 0, rejected: 0 };

export class InboundProcessor {
  constructor(
    private readonly sink: InboundSink,
    private readonly opts: InboundOptions,
  ) {}

  async handle(topic: string, payload: Buffer): Promise<InboundOutcome> {
    let checked:
      { env: Parsed; m: CheckedMessage | null; channel: string } | { rejected: InboundOutcome };
    try {
      checked = this.check(topic, payload);
    } catch (err) {
      if (isStorageFull(err)) return storageFull(null, null);
      if (isRetryableStorage(err)) throw err;
      return this.reject(null, payload, 'internal_error', (err as Error).message, null);
    }
    if ('rejected' in checked) return checked.rejected;
    const { env, m, channel } = checked;
    try {
      switch (channel) {
        case 'cmd':
          return this.commands(env, m!);
        case 'snapshot':
          return this.snapshot(env, m!);
        case 'control':
          return await this.control(env, m!);
        default:
          return this.receipt(env);
      }
    } catch (err) {
      if (isStorageFull(err)) return storageFull(env, channel);
      // A busy store did not commit: no PUBACK, the broker delivers it again.
      if (isRetryableStorage(err)) throw err;
      // Anything else is a bug this message found: refuse it with a reason instead of wedging on it.
      return this.reject(
        env.msgId,
        payload,
        'internal_error',
        (err as Error).message,
        sentAtOf(env),
      );
    }
  }

  private check(
    topic: string,
    payload: Buffer,
  ): { env: Parsed; m: CheckedMessage | null; channel: string } | { rejected: InboundOutcome } {
    const t = parseTopic(topic);
    const channel = t?.channel;
    if (
      !t ||
      (channel !== 'cmd' &&
        channel !== 'snapshot' &&
        channel !== 'control' &&
        channel !== 'receipts')
    ) {
      return {
        rejected: this.reject(
          null,
          payload,
          'invalid_envelope',
          `not an inbound topic: ${topic}`,
          null,
        ),
      };
    }
    if (payload.length > this.opts.maxPayloadBytes) {
      return {
        rejected: this.reject(
          null,
          payload,
          'payload_too_large',
          `${payload.length} bytes > limit ${this.opts.maxPayloadBytes}`,
          null,
        ),
      };
    }
    const text = decodeUtf8(payload);
    let json: unknown;
    try {
      if (text === null) throw new Error('not UTF-8');
      json = JSON.parse(text);
      if (jsonDepth(json, MAX_JSON_DEPTH) > MAX_JSON_DEPTH)
        throw new Error(`nested deeper than ${MAX_JSON_DEPTH} levels`);
    } catch (err) {
      return { rejected: this.reject(null, payload, 'invalid_json', (err as Error).message, null) };
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
          null,
        ),
      };
    }
    const parsed = anyEnvelopeSchema.safeParse(json);
    if (!parsed.success) {
      return {
        rejected: this.rejectMany(msgId, payload, 'invalid_envelope', parsed.error.issues, null),
      };
    }
    const env = parsed.data;
    const sentAt = sentAtOf(env);
    if (env.unitId !== this.opts.unitId || t.unitId !== this.opts.unitId) {
      return {
        rejected: this.reject(
          env.msgId,
          payload,
          'unit_mismatch',
          `addressed to ${env.unitId} on ${t.unitId}'s topic; this unit is ${this.opts.unitId}`,
          sentAt,
        ),
      };
    }
    // Canonical bytes once: the digest names the message, the signature covers them.
    let digest: string;
    let bytes: Buffer;
    try {
      bytes = signedBytes(env as Record<string, unknown>);
      digest = createHash('sha256').update(bytes).digest('base64url');
    } catch (err) {
      if (!(err instanceof CanonicalJsonError)) throw err;
      return { rejected: this.reject(env.msgId, payload, 'invalid_json', err.message, sentAt) };
    }
    if (env.sig === undefined) {
      if (this.opts.signatureRequired) {
        return {
          rejected: this.reject(
            env.msgId,
            payload,
            'signature_missing',
            LINK_REJECTIONS.signature_missing,
            sentAt,
          ),
        };
      }
    } else if (this.opts.signatureRequired || this.opts.publicKeys.length > 0) {
      // A signature that is present is always checked when we have keys: a bad one is an attack.
      if (!verifyEnvelope(env as Record<string, unknown>, this.opts.publicKeys, bytes)) {
        return {
          rejected: this.reject(
            env.msgId,
            payload,
            'bad_signature',
            LINK_REJECTIONS.bad_signature,
            sentAt,
          ),
        };
      }
    }
    // Freshness after the signature: an attacker cannot make a genuine message look stale, and a
    // forged one is refused as forged. Judged on the unit's clock when it is trusted, else on the
    // newest cloud time seen (an RTC-less unit in 1970 must not take everything for the future).
    const stale = this.stale(channel, env, sentAt);
    if (stale) return { rejected: this.reject(env.msgId, payload, 'stale_message', stale, sentAt) };
    if (channel === 'receipts') return { env, m: null, channel };
    return {
      env,
      channel,
      m: {
        msgId: env.msgId,
        channel,
        digest,
        seq: env.seq ?? null,
        sentAt,
        raw: auditText(payload),
      },
    };
  }

  private stale(channel: string, env: Parsed, sentAt: number): string | null {
    const f = this.sink.freshness();
    const fo = this.opts.freshness;
    const reference = f.clockTrusted ? f.now : f.newestSentAt;
    if (f.clockTrusted && sentAt - f.now > fo.maxFutureMs)
      return `sentAt ${env.sentAt} is ${Math.round((sentAt - f.now) / 1000)} s ahead of the unit's clock`;
    if (reference === null) return null;
    const body = env.body as { action?: unknown } | null;
    const acts =
      channel === 'control' && (body?.action === 'test-call' || body?.action === 'replay');
    const maxAge = acts ? fo.controlMaxAgeMs : fo.maxAgeMs;
    if (reference - sentAt > maxAge)
      return `sentAt ${env.sentAt} is older than ${Math.round(maxAge / 1000)} s${acts ? ` (a ${String(body?.action)} must be fresh)` : ''}`;
    return null;
  }

  private commands(env: Parsed, m: CheckedMessage): InboundOutcome {
    const body = wireCommandBatchBodySchema.safeParse(env.body);
    if (!body.success)
      return this.rejectMany(
        env.msgId,
        null,
        'invalid_body',
        body.error.issues,
        m.sentAt,
        'body',
        m,
      );
    if (m.seq === null)
      return this.reject(
        env.msgId,
        null,
        'invalid_envelope',
        'a cmd message must carry its command sequence (seq)',
        m.sentAt,
        m,
      );
    const out = this.sink.commands(m, body.data.commands);
    const counts = { applied: 0, duplicates: 0, rejected: 0 };
    for (const r of out.results) {
      if (r.status === 'duplicate') counts.duplicates++;
      else if (r.status === 'rejected') counts.rejected++;
      else counts.applied++;
    }
    return {
      kind: out.duplicate ? 'duplicate' : out.reused ? 'rejected' : 'commands',
      msgId: env.msgId,
      counts,
    };
  }

  private snapshot(env: Parsed, m: CheckedMessage): InboundOutcome {
    const body = wireSnapshotChunkBodySchema.safeParse(env.body);
    if (!body.success)
      return this.rejectMany(
        env.msgId,
        null,
        'invalid_body',
        body.error.issues,
        m.sentAt,
        'body',
        m,
      );
    const out = this.sink.snapshotChunk(m, body.data);
    const kind: InboundKind = out.duplicate
      ? 'duplicate'
      : out.reused || out.refused
        ? 'rejected'
        : out.applied
          ? 'snapshot'
          : 'snapshot_chunk';
    return { kind, msgId: env.msgId, counts: ZERO };
  }

  private async control(env: Parsed, m: CheckedMessage): Promise<InboundOutcome> {
    const body = controlBodySchema.safeParse(env.body);
    if (!body.success)
      return this.rejectMany(
        env.msgId,
        null,
        'invalid_body',
        body.error.issues,
        m.sentAt,
        'body',
        m,
      );
    const out = await this.sink.control(m, body.data);
    return {
      kind: out.duplicate ? 'duplicate' : out.reused ? 'rejected' : 'control',
      msgId: env.msgId,
      counts: ZERO,
      ...(body.data.action === 'resync' && !out.duplicate && !out.reused ? { resync: true } : {}),
    };
  }

  private receipt(env: Parsed): InboundOutcome {
    const body = receiptBodySchema.safeParse(env.body);
    if (!body.success)
      return this.rejectMany(
        env.msgId,
        null,
        'invalid_body',
        body.error.issues,
        sentAtOf(env),
        'body',
      );
    this.sink.receipt(body.data.ranges);
    return { kind: 'receipt', msgId: env.msgId, counts: ZERO };
  }

  private reject(
    msgId: string | null,
    payload: Buffer | null,
    code: LinkRejectionCode,
    message: string,
    sentAt: number | null,
    m?: CheckedMessage,
  ): InboundOutcome {
    return this.rejectWith(msgId, payload, [{ path: '', code, message }], sentAt, m);
  }

  private rejectMany(
    msgId: string | null,
    payload: Buffer | null,
    code: LinkRejectionCode,
    issues: readonly z.core.$ZodIssue[],
    sentAt: number | null,
    prefix = '',
    m?: CheckedMessage,
  ): InboundOutcome {
    const reasons = issues.slice(0, 20).map((i) => ({
      path: [prefix, ...i.path.map(String)].filter(Boolean).join('.'),
      code: i.code === 'unrecognized_keys' ? 'unknown_field' : code,
      message: i.message,
    }));
    return this.rejectWith(msgId, payload, reasons, sentAt, m);
  }

  private rejectWith(
    msgId: string | null,
    payload: Buffer | null,
    reasons: RejectionReason[],
    sentAt: number | null,
    m?: CheckedMessage,
  ): InboundOutcome {
    this.sink.rejected({
      msgId,
      channel: m?.channel ?? 'unknown',
      raw: m?.raw ?? (payload ? auditText(payload) : null),
      reasons,
      sentAt,
    });
    return { kind: 'rejected', msgId, counts: { ...ZERO, rejected: 1 } };
  }
}

/** The answers to a message that could not be applied because the disk is full. */
function storageFull(env: Parsed | null, channel: string | null): InboundOutcome {
  const reasons: RejectionReason[] = [
    { path: '', code: 'storage_full', message: LINK_REJECTIONS.storage_full },
  ];
  const msgId = env?.msgId ?? null;
  const direct: NonNullable<InboundOutcome['direct']> = [];
  if (channel === 'control') {
    const action = (env?.body as { action?: unknown } | undefined)?.action;
    direct.push({
      type: 'control.result',
      payload: {
        inReplyTo: msgId,
        action: String(action),
        status: 'rejected',
        detail: {},
        reasons,
      },
    });
  } else {
    const parsed = channel === 'cmd' ? wireCommandBatchBodySchema.safeParse(env?.body) : null;
    const ids = parsed?.success
      ? parsed.data.commands
          .map((c) => (c as { commandId?: unknown }).commandId)
          .filter((c): c is string => typeof c === 'string')
      : [];
    for (const commandId of ids.length > 0 ? ids : [`rejected:${msgId ?? 'unknown'}`])
      direct.push({
        type: 'command.result',
        payload: {
          commandId,
          status: 'rejected',
          bookingId: null,
          currentVersion: null,
          reasons,
          inReplyTo: msgId,
        },
      });
  }
  return { kind: 'rejected', msgId, counts: { ...ZERO, rejected: direct.length }, direct };
}

function sentAtOf(env: Parsed): number {
  return Date.parse(env.sentAt);
}

function msgIdOf(json: unknown): string | null {
  const m = (json as { msgId?: unknown } | null)?.msgId;
  return typeof m === 'string' && m.length > 0 && m.length <= 128 ? m : null;
}
