/**
 * The cloud side of the contract: what the backend (and our tests, benchmarks and CLI) use to push
 * booking changes, snapshots and controls to units and to read back results, events and status.
 * Every cloud→unit envelope carries the unit's next command sequence and, with a signing key, an
 * Ed25519 signature. Watching uses MQTT 5 subscription identifiers so overlapping subscriptions are
 * told apart, and `$share/<group>/...` so several backend replicas split a fleet's events.
 */
import { randomUUID, type KeyObject } from 'node:crypto';
import mqtt, { type IClientOptions, type IPublishPacket, type MqttClient } from 'mqtt';
import type { BookingCommandInput, BookingInput } from '../contract/booking.js';
import type { CommandResult } from '../contract/results.js';
import type { ControlBody, EventBody, TopicPayloads } from '../contract/bodies.js';
import { PROTOCOL_VERSION, type Envelope } from '../contract/envelope.js';
import { loadPrivateKey, signEnvelope } from '../contract/signing.js';
import {
  REVOCATIONS_ACTION,
  revocationListSchema,
  type RevocationListInput,
} from '../contract/technician.js'; // technician access (issue 15)
import {
  CHANNELS,
  OUTBOUND_CHANNELS,
  TOPIC_ROOT,
  parseTopic,
  topicFor,
  type InboundChannel,
  type OutboundChannel,
} from '../contract/topics.js';
import { MemorySequences, type SequenceStore } from './sequences.js';
import { noDelay } from '../link/link.js';
import { brokerTarget } from '../link/mqtt-options.js';

export type CommandInput = BookingCommandInput;

export interface CloudClientOptions {
  url: string;
  clientId?: string;
  username?: string;
  password?: string;
  tls?: {
    ca?: Buffer | string;
    cert?: Buffer | string;
    key?: Buffer | string;
    rejectUnauthorized?: boolean;
  };
  /** Ed25519 private key (PEM or KeyObject); without it envelopes go unsigned (development units). */
  signingKey?: KeyObject | string;
  sequences?: SequenceStore;
  /** > 0: a persistent session, so a backend consumer misses nothing across its own restarts. */
  sessionExpirySec?: number;
  connectTimeoutMs?: number;
  /**
   * Receipt every event received (default true): the unit keeps critical events, and sends them
   * again, until a receipt covers them. Off only to act out a cloud that never confirms.
   */
  receipts?: boolean;
  /** How long received sequences are gathered into one receipt message. */
  receiptDelayMs?: number;
}

export interface UnitMessage {
  unitId: string;
  channel: OutboundChannel;
  topic: string;
  /** Parsed envelope; null when the payload was not JSON (reported in `error`). */
  envelope: Envelope<unknown> | null;
  error?: string;
  retained: boolean;
  /** An event or result whose eventId was seen before (a re-send): already handled. */
  duplicate: boolean;
}

export interface WatchOptions {
  channels?: readonly OutboundChannel[];
  /** MQTT 5 shared subscription group: replicas with the same group split the messages. */
  shareGroup?: string;
}

export class CloudTimeoutError extends Error {
  override name = 'CloudTimeoutError';
}

export class CloudClientError extends Error {
  override name = 'CloudClientError';
}

interface Waiter {
  resolve: (payload: Record<string, unknown>) => void;
  reject: (err: Error) => void;
  timer: NodeJS.Timeout;
}

type Handler = (m: UnitMessage) => void;

const WAITER_SUB_ID = 1;

export class CloudClient {
  private client: MqttClient | null = null;
  private readonly key: KeyObject | null;
  private readonly sequences: SequenceStore;
  private readonly handlers = new Map<number, Handler>();
  private nextSubId = WAITER_SUB_ID + 1;
  private readonly waiters = new Map<string, Waiter>();
  /** msgId → command ids it carried, so an envelope-level rejection resolves all of them. */
  private readonly msgCommands = new Map<
    string,
    { unitId: string; ids: string[]; snapshotId?: string }
  >();
  private waiterSub: Promise<void> | null = null;
  private readonly subscriptions = new Map<number, string[]>();
  /** Event ids seen (bounded): the unit re-sends until receipted, so copies are expected. */
  private readonly seenEvents = new Map<string, true>();
  /** Sequences received per unit and not yet receipted. */
  private readonly toReceipt = new Map<string, number[]>();
  private receiptTimer: NodeJS.Timeout | null = null;

  constructor(private readonly opts: CloudClientOptions) {
    this.key =
      opts.signingKey === undefined
        ? null
        : typeof opts.signingKey === 'string'
          ? loadPrivateKey(opts.signingKey)
          : opts.signingKey;
    this.sequences = opts.sequences ?? new MemorySequences();
  }

  async start(): Promise<void> {
    const o = this.opts;
    const options: IClientOptions = {
      protocolVersion: 5,
      clientId: o.clientId ?? `companion-cloud-${randomUUID().slice(0, 8)}`,
      clean: !(o.sessionExpirySec && o.sessionExpirySec > 0),
      reconnectPeriod: 1000,
      // We re-subscribe ourselves: mqtt.js would drop the subscription identifiers we dispatch on.
      resubscribe: false,
      connectTimeout: o.connectTimeoutMs ?? 10_000,
      ...(o.sessionExpirySec ? { properties: { sessionExpiryInterval: o.sessionExpirySec } } : {}),
      ...(o.username ? { username: o.username } : {}),
      ...(o.password ? { password: o.password } : {}),
      ...(o.tls?.ca ? { ca: o.tls.ca } : {}),
      ...(o.tls?.cert ? { cert: o.tls.cert } : {}),
      ...(o.tls?.key ? { key: o.tls.key } : {}),
      ...(o.tls ? { rejectUnauthorized: o.tls.rejectUnauthorized ?? true } : {}),
    };
    try {
      // The URL parsed here (brokerTarget), not by mqtt.js: its url.parse() is deprecated in Node 24.
      // An empty URL string is mqtt.js's "everything is in the options" (as for an options object).
      this.client = await mqtt.connectAsync('', { ...brokerTarget(o.url), ...options }, false);
    } catch (err) {
      throw new CloudClientError(`cannot connect to ${o.url}: ${(err as Error).message}`);
    }
    this.client.on('message', (topic, payload, packet) => this.dispatch(topic, payload, packet));
    noDelay(this.client);
    this.client.on('connect', (connack) => {
      if (this.client) noDelay(this.client);
      if (connack.sessionPresent) return;
      // The broker forgot us (restart without persistence, expired session): subscribe again.
      for (const [subId, filters] of this.subscriptions) {
        this.client
          ?.subscribeAsync(filters, { qos: 1, properties: { subscriptionIdentifier: subId } })
          .catch(() => undefined);
      }
    });
  }

  async stop(): Promise<void> {
    if (this.receiptTimer) clearTimeout(this.receiptTimer);
    this.receiptTimer = null;
    await this.flushReceipts().catch(() => undefined);
    for (const w of this.waiters.values()) {
      clearTimeout(w.timer);
      w.reject(new CloudClientError('client stopped'));
    }
    this.waiters.clear();
    const c = this.client;
    this.client = null;
    if (c) await c.endAsync();
  }

  /** Build (and sign, with a key) a cloud→unit envelope. */
  envelope<C extends InboundChannel>(
    unitId: string,
    _channel: C,
    body: TopicPayloads[C] | Record<string, unknown>,
    seq?: number,
    /** Override the send time (conformance and replay tests: a stale message). */
    sentAt?: string,
  ): Envelope<unknown> {
    const env: Envelope<unknown> = {
      v: PROTOCOL_VERSION,
      msgId: randomUUID(),
      unitId,
      ...(seq !== undefined ? { seq } : {}),
      sentAt: sentAt ?? new Date().toISOString(),
      body,
    };
    return this.key
      ? (signEnvelope(
          env as unknown as Record<string, unknown>,
          this.key,
        ) as unknown as Envelope<unknown>)
      : env;
  }

  /** Publish a batch of commands (one message, one sequence number); resolves on the broker's PUBACK. */
  async sendCommands(
    unitId: string,
    commands: CommandInput[],
  ): Promise<{ msgId: string; seq: number }> {
    const seq = this.sequences.next(unitId);
    const env = this.envelope(unitId, 'cmd', { commands }, seq);
    this.msgCommands.set(env.msgId, { unitId, ids: commands.map((c) => c.commandId) });
    // Only needed until the answer arrives; keep the map bounded for long-running backends.
    if (this.msgCommands.size > 10_000) {
      this.msgCommands.delete(this.msgCommands.keys().next().value as string);
    }
    await this.publishEnvelope(unitId, 'cmd', env);
    return { msgId: env.msgId, seq };
  }

  /** Send commands and wait for each one's result from the unit. */
  async batch(
    unitId: string,
    commands: CommandInput[],
    timeoutMs = 10_000,
  ): Promise<CommandResult[]> {
    await this.ensureWaiterSubscription();
    const waits = commands.map((c) =>
      this.wait(`${unitId}|cmd|${c.commandId}`, timeoutMs).then(
        (p) => p as unknown as CommandResult,
      ),
    );
    await this.sendCommands(unitId, commands);
    return Promise.all(waits);
  }

  async book(unitId: string, booking: BookingInput, timeoutMs?: number): Promise<CommandResult> {
    const [r] = await this.batch(
      unitId,
      [{ type: 'booking.upsert', commandId: randomUUID(), booking }],
      timeoutMs,
    );
    return r!;
  }

  async cancel(
    unitId: string,
    bookingId: string,
    version: number,
    timeoutMs?: number,
  ): Promise<CommandResult> {
    const [r] = await this.batch(
      unitId,
      [{ type: 'booking.cancel', commandId: randomUUID(), bookingId, version }],
      timeoutMs,
    );
    return r!;
  }

  /**
   * Send the unit's full active set, chunked, **as of** the last command sequence assigned to the
   * unit (read before the set: in a backend, in the same transaction as the set). It is applied
   * atomically when the last chunk arrives. With `wait`, resolves with `snapshot.applied`.
   */
  async snapshot(
    unitId: string,
    bookings: unknown[],
    opts: {
      chunkSize?: number;
      snapshotId?: string;
      wait?: boolean;
      timeoutMs?: number;
      /** Override the as-of sequence (tests of stale snapshots). */
      asOf?: number;
    } = {},
  ): Promise<{ snapshotId: string; asOf: number; applied?: Record<string, unknown> }> {
    const snapshotId = opts.snapshotId ?? randomUUID();
    const size = Math.max(1, opts.chunkSize ?? 500);
    const chunks = Math.max(1, Math.ceil(bookings.length / size));
    const asOf = opts.asOf ?? this.sequences.current(unitId);
    let applied: Promise<Record<string, unknown>> | undefined;
    if (opts.wait) {
      await this.ensureWaiterSubscription();
      applied = this.wait(`${unitId}|snap|${snapshotId}`, opts.timeoutMs ?? 30_000);
    }
    for (let i = 0; i < chunks; i++) {
      const body = {
        snapshotId,
        asOf,
        chunk: i,
        chunks,
        bookings: bookings.slice(i * size, (i + 1) * size),
      };
      const env = this.envelope(unitId, 'snapshot', body);
      this.msgCommands.set(env.msgId, { unitId, ids: [], snapshotId });
      await this.publishEnvelope(unitId, 'snapshot', env);
    }
    return { snapshotId, asOf, ...(applied ? { applied: await applied } : {}) };
  }

  /** Send a control and wait for its `control.result` payload. */
  async control(
    unitId: string,
    control: ControlBody,
    timeoutMs = 10_000,
  ): Promise<Record<string, unknown>> {
    await this.ensureWaiterSubscription();
    const env = this.envelope(unitId, 'control', control);
    const result = this.wait(`${unitId}|ctl|${env.msgId}`, timeoutMs);
    await this.publishEnvelope(unitId, 'control', env);
    return result;
  }

  /**
   * technician access (issue 15): push the FULL current technician revocation list; the unit keeps
   * it if `version` is higher than what it holds. Resolves with the `control.result`.
   */
  async pushTechnicianRevocations(
    unitId: string,
    list: RevocationListInput,
    timeoutMs = 10_000,
  ): Promise<Record<string, unknown>> {
    const body = revocationListSchema.parse(list);
    return this.control(unitId, { action: REVOCATIONS_ACTION, ...body }, timeoutMs);
  }

  /**
   * Watch one unit ('+' for all) on the given channels. Returns an unsubscribe function. Status is
   * retained, so a new watcher immediately sees each unit's last state.
   */
  async watch(
    unitId: string,
    handler: Handler,
    opts: WatchOptions = {},
  ): Promise<() => Promise<void>> {
    const client = this.requireClient();
    const subId = this.nextSubId++;
    const channels = opts.channels ?? OUTBOUND_CHANNELS;
    const filters = channels.map((c) => {
      const f = `${TOPIC_ROOT}/${unitId}/${c}`;
      return opts.shareGroup ? `$share/${opts.shareGroup}/${f}` : f;
    });
    this.handlers.set(subId, handler);
    this.subscriptions.set(subId, filters);
    await client.subscribeAsync(filters, { qos: 1, properties: { subscriptionIdentifier: subId } });
    return async () => {
      this.handlers.delete(subId);
      this.subscriptions.delete(subId);
      if (this.client) await this.client.unsubscribeAsync(filters);
    };
  }

  /** Allocate the unit's next command sequence without sending (acts out a message lost in flight). */
  nextSeq(unitId: string): number {
    return this.sequences.next(unitId);
  }

  /** Publish arbitrary bytes to a unit topic (tests of garbage and forged input; ops tooling). */
  async publishRaw(topic: string, payload: string | Buffer, qos: 0 | 1 = 1): Promise<void> {
    await this.requireClient().publishAsync(topic, payload, { qos });
  }

  async publishEnvelope(
    unitId: string,
    channel: InboundChannel,
    env: Envelope<unknown>,
  ): Promise<void> {
    await this.requireClient().publishAsync(topicFor(unitId, channel), JSON.stringify(env), {
      qos: CHANNELS[channel].qos,
      retain: CHANNELS[channel].retain,
    });
  }

  private requireClient(): MqttClient {
    if (!this.client) throw new CloudClientError('cloud client not started (call start())');
    return this.client;
  }

  private ensureWaiterSubscription(): Promise<void> {
    const filters = [`${TOPIC_ROOT}/+/results`, `${TOPIC_ROOT}/+/events`];
    this.subscriptions.set(WAITER_SUB_ID, filters);
    this.waiterSub ??= this.requireClient()
      .subscribeAsync(filters, {
        qos: 1,
        properties: { subscriptionIdentifier: WAITER_SUB_ID },
      })
      .then(() => undefined);
    return this.waiterSub;
  }

  private wait(key: string, timeoutMs: number): Promise<Record<string, unknown>> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters.delete(key);
        reject(
          new CloudTimeoutError(`no answer for ${key.replaceAll('|', ' ')} within ${timeoutMs} ms`),
        );
      }, timeoutMs);
      this.waiters.set(key, { resolve, reject, timer });
    });
  }

  private settle(key: string, payload: Record<string, unknown>): void {
    const w = this.waiters.get(key);
    if (!w) return;
    this.waiters.delete(key);
    clearTimeout(w.timer);
    w.resolve(payload);
  }

  private dispatch(topic: string, payload: Buffer, packet: IPublishPacket): void {
    const t = parseTopic(topic);
    if (!t || !(OUTBOUND_CHANNELS as readonly string[]).includes(t.channel)) return;
    let envelope: Envelope<unknown> | null = null;
    let error: string | undefined;
    try {
      envelope = JSON.parse(payload.toString('utf8')) as Envelope<unknown>;
    } catch (err) {
      error = `invalid JSON: ${(err as Error).message}`;
    }
    const raw = packet.properties?.subscriptionIdentifier;
    const ids = raw === undefined ? [] : Array.isArray(raw) ? raw : [raw];
    const duplicate = envelope ? this.noteEvent(t.unitId, t.channel, envelope) : false;
    // Settling a waiter twice is harmless; overlapping subscriptions may deliver one message twice.
    if (ids.includes(WAITER_SUB_ID) && envelope) this.onResult(t.unitId, envelope);
    const msg: UnitMessage = {
      unitId: t.unitId,
      channel: t.channel as OutboundChannel,
      topic,
      envelope,
      retained: packet.retain,
      duplicate,
      ...(error ? { error } : {}),
    };
    for (const id of ids) this.handlers.get(id)?.(msg);
  }

  /**
   * An event or result arrived: receipt its sequence (soon, gathered with others) and tell whether
   * its event id was seen before. A backend receipts only once the event is stored durably; this
   * client hands events to its handlers synchronously first.
   */
  private noteEvent(unitId: string, channel: string, env: Envelope<unknown>): boolean {
    if (channel !== 'events' && channel !== 'results') return false;
    const eventId = (env.body as EventBody | undefined)?.eventId;
    if (typeof env.seq === 'number' && this.opts.receipts !== false) {
      const list = this.toReceipt.get(unitId) ?? [];
      list.push(env.seq);
      this.toReceipt.set(unitId, list);
      this.receiptTimer ??= setTimeout(() => {
        this.receiptTimer = null;
        void this.flushReceipts().catch(() => undefined);
      }, this.opts.receiptDelayMs ?? 50);
    }
    if (typeof eventId !== 'string') return false;
    const key = `${unitId}|${eventId}`;
    if (this.seenEvents.has(key)) return true;
    this.seenEvents.set(key, true);
    if (this.seenEvents.size > 200_000)
      this.seenEvents.delete(this.seenEvents.keys().next().value!);
    return false;
  }

  /** Send one receipt per unit for the sequences received since the last one. */
  async flushReceipts(): Promise<void> {
    if (!this.client) return;
    const pending = [...this.toReceipt];
    this.toReceipt.clear();
    for (const [unitId, seqs] of pending) {
      const ranges = toRanges(seqs);
      for (let i = 0; i < ranges.length; i += 1000) {
        const body = { ranges: ranges.slice(i, i + 1000) };
        await this.publishEnvelope(unitId, 'receipts', this.envelope(unitId, 'receipts', body));
      }
    }
  }

  private onResult(unitId: string, env: Envelope<unknown>): void {
    const body = env.body as EventBody | undefined;
    const p = body?.payload;
    if (!p) return;
    if (body.type === 'command.result' && typeof p.commandId === 'string') {
      this.settle(`${unitId}|cmd|${p.commandId}`, p);
      if (p.commandId.startsWith('rejected:')) {
        // The whole envelope was refused: every command it carried gets this answer.
        const msgId = p.commandId.slice('rejected:'.length);
        const sent = this.msgCommands.get(msgId);
        for (const id of sent?.ids ?? [])
          this.settle(`${unitId}|cmd|${id}`, { ...p, commandId: id });
        this.settle(`${unitId}|ctl|${msgId}`, p);
        if (sent?.snapshotId) this.settle(`${unitId}|snap|${sent.snapshotId}`, p);
        this.msgCommands.delete(msgId);
      }
    } else if (body.type === 'control.result' && typeof p.inReplyTo === 'string') {
      this.settle(`${unitId}|ctl|${p.inReplyTo}`, p);
    } else if (body.type === 'snapshot.applied' && typeof p.snapshotId === 'string') {
      this.settle(`${unitId}|snap|${p.snapshotId}`, p);
    }
  }
}

/** Sorted, merged inclusive ranges of the given sequences. */
export function toRanges(seqs: number[]): [number, number][] {
  const sorted = [...new Set(seqs)].sort((a, b) => a - b);
  const out: [number, number][] = [];
  for (const s of sorted) {
    const last = out.at(-1);
    if (last && s === last[1] + 1) last[1] = s;
    else out.push([s, s]);
  }
  return out;
}
