/**
 * The unit's link to the cloud. One MQTT 5 connection at a time (client id = unit id, persistent
 * session), replaced by a fresh one after a backoff-with-jitter delay whenever it drops. Inbound
 * commands are applied durably before their PUBACK (mqtt.js `handleMessage` callback); the outbox is
 * drained in order with QoS 1. Offline is normal: nothing else in the agent waits on this.
 */
import { EventEmitter } from 'node:events';
import { randomUUID } from 'node:crypto';
import mqtt, { type IConnackPacket, type IPublishPacket, type MqttClient } from 'mqtt';
import type { MqttConfig } from '../config.js';
import type { EventBody, StatusBody, SyncRequestBody, TopicPayloads } from '../contract/bodies.js';
import { PROTOCOL_VERSION, type Envelope } from '../contract/envelope.js';
import { loadPublicKey } from '../contract/signing.js';
import { CHANNELS, topicFor, type OutboundChannel } from '../contract/topics.js';
import {
  silentLogger,
  type ControlHandler,
  type HealthSource,
  type InboundSink,
  type LinkClock,
  type LinkLogger,
  type LinkMeta,
  type OutboxRow,
  type OutboxSource,
} from '../ports.js';
import { Backoff } from './backoff.js';
import { OutboxDrainer } from './drainer.js';
import { InboundProcessor, type InboundOutcome } from './inbound.js';
import { redactUrl, unitClientOptions } from './mqtt-options.js';

export const CONNECT_COUNT_KEY = 'mqtt_connect_count';
/** Safety net for outbox rows written without a kick (the runner, the scheduler). */
const POLL_MS = 5000;
/** A gap seen on every message until healed must not turn into a flood of sync requests. */
const SYNC_REQUEST_MIN_INTERVAL_MS = 10_000;

export interface SyncLinkDeps {
  unitId: string;
  config: MqttConfig;
  sink: InboundSink;
  outbox: OutboxSource;
  meta: LinkMeta;
  clock: LinkClock;
  log?: LinkLogger;
  controls?: ControlHandler;
  health?: HealthSource;
  /** e.g. `(fn) => store.tx(fn)`: marks a burst of PUBACKs sent in one commit. */
  transaction?: <T>(fn: () => T) => T;
  random?: () => number;
}

export interface LinkState {
  enabled: boolean;
  phase: 'stopped' | 'connecting' | 'connected' | 'waiting';
  connected: boolean;
  url: string;
  lastContactAt: number | null;
  connectedSince: number | null;
  connectCount: number;
  sessionPresent: boolean | null;
  lastSeq: number | null;
  nextRetryAt: number | null;
  lastError: string | null;
  backlog: number;
  oldestUnsentAt: number | null;
  inFlight: number;
  eventsSent: number;
  evictedTelemetry: number;
  commandsApplied: number;
  duplicates: number;
  rejected: number;
  syncRequests: number;
  snapshotInProgress: string | null;
}

export interface LinkEvents {
  connected: [{ sessionPresent: boolean; connectCount: number }];
  disconnected: [{ error: string | null }];
  inbound: [InboundOutcome];
  syncRequested: [SyncRequestBody];
}

export class SyncLink extends EventEmitter<LinkEvents> {
  private readonly cfg: MqttConfig;
  private readonly log: LinkLogger;
  private readonly backoff: Backoff;
  private readonly drainer: OutboxDrainer;
  private inbound: InboundProcessor | null = null;
  private client: MqttClient | null = null;
  private phase: LinkState['phase'] = 'stopped';
  private stopped = true;
  private retryTimer: unknown = null;
  private heartbeatTimer: unknown = null;
  private pollTimer: unknown = null;
  private startedAt = 0;
  private pendingSync: SyncRequestBody | null = null;
  /** True once the broker acknowledged our subscriptions on the current connection. */
  private subscribed = false;
  private lastSyncRequest = { key: '', at: Number.NEGATIVE_INFINITY };
  private readonly s = {
    lastContactAt: null as number | null,
    connectedSince: null as number | null,
    sessionPresent: null as boolean | null,
    nextRetryAt: null as number | null,
    lastError: null as string | null,
    commandsApplied: 0,
    duplicates: 0,
    rejected: 0,
    syncRequests: 0,
  };

  constructor(private readonly deps: SyncLinkDeps) {
    super();
    this.cfg = deps.config;
    this.log = deps.log ?? silentLogger;
    this.backoff = new Backoff(this.cfg.reconnect.minMs, this.cfg.reconnect.maxMs, deps.random);
    this.drainer = new OutboxDrainer(
      deps.outbox,
      {
        window: this.cfg.drainWindow,
        maxRows: this.cfg.outboxMaxRows,
        transaction: deps.transaction,
      },
      deps.clock,
      this.log,
    );
  }

  /** Begins connecting and returns at once: the agent never waits for the network. */
  async start(): Promise<void> {
    if (!this.stopped) return;
    const keys = this.cfg.signature.publicKeys.map(loadPublicKey);
    this.inbound = new InboundProcessor(
      this.deps.sink,
      {
        unitId: this.deps.unitId,
        maxPayloadBytes: this.cfg.maxPayloadBytes,
        signatureRequired: this.cfg.signature.required,
        publicKeys: keys,
      },
      this.deps.controls ?? null,
    );
    this.stopped = false;
    this.startedAt = this.deps.clock.now();
    this.drainer.enforceBound(true);
    this.schedulePoll();
    this.connect();
  }

  /** Says "offline" (retained) and disconnects normally, so the "lost" will is not sent. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.phase = 'stopped';
    for (const t of [this.retryTimer, this.heartbeatTimer, this.pollTimer]) {
      if (t !== null) this.deps.clock.clearTimeout(t);
    }
    this.retryTimer = this.heartbeatTimer = this.pollTimer = null;
    const client = this.client;
    this.client = null;
    this.drainer.detach();
    if (!client) return;
    if (client.connected) {
      await withTimeout(this.publishOn(client, 'status', this.statusBody('offline')), 2000).catch(
        () => undefined,
      );
      await withTimeout(client.endAsync(false, { reasonCode: 0 }), 2000).catch(() =>
        client.end(true),
      );
    } else {
      client.end(true);
    }
  }

  /** Drain the outbox now (call after writing outbox rows outside the link). */
  kick(): void {
    this.drainer.kick();
  }

  /** Ask the cloud for a snapshot (e.g. from the diagnostics "force resync" action). */
  requestSync(reason: SyncRequestBody['reason'] = 'resync'): void {
    this.sendSyncRequest({ reason, haveSeq: this.deps.sink.lastSeq() }, true);
  }

  state(): LinkState {
    const backlog = this.deps.outbox.backlog();
    return {
      enabled: this.cfg.enabled,
      phase: this.phase,
      connected: this.client?.connected === true && this.phase === 'connected' && this.subscribed,
      url: redactUrl(this.cfg.url),
      lastContactAt: this.s.lastContactAt,
      connectedSince: this.s.connectedSince,
      connectCount: this.deps.meta.getNumber(CONNECT_COUNT_KEY) ?? 0,
      sessionPresent: this.s.sessionPresent,
      lastSeq: this.deps.sink.lastSeq(),
      nextRetryAt: this.s.nextRetryAt,
      lastError: this.s.lastError,
      backlog: backlog.count,
      oldestUnsentAt: backlog.oldestCreatedAt,
      inFlight: this.drainer.stats.inFlight,
      eventsSent: this.drainer.stats.sent,
      evictedTelemetry: this.drainer.stats.evicted,
      commandsApplied: this.s.commandsApplied,
      duplicates: this.s.duplicates,
      rejected: this.s.rejected,
      syncRequests: this.s.syncRequests,
      snapshotInProgress: this.inbound?.snapshotInProgress ?? null,
    };
  }

  private connect(): void {
    if (this.stopped) return;
    this.retryTimer = null;
    this.s.nextRetryAt = null;
    const connectCount = (this.deps.meta.getNumber(CONNECT_COUNT_KEY) ?? 0) + 1;
    const will = this.envelope('status', {
      state: 'lost',
      connectCount,
      since: new Date(this.deps.clock.now()).toISOString(),
      lastSeq: this.deps.sink.lastSeq(),
    });
    let client: MqttClient;
    try {
      const opts = unitClientOptions(this.deps.unitId, this.cfg, {
        topic: topicFor(this.deps.unitId, 'status'),
        payload: JSON.stringify(will),
      });
      client = mqtt.connect(this.cfg.url, opts);
    } catch (err) {
      this.s.lastError = (err as Error).message;
      this.log.error({ err }, 'cannot build the MQTT connection');
      this.scheduleReconnect();
      return;
    }
    this.client = client;
    this.subscribed = false;
    this.phase = 'connecting';
    client.handleMessage = (packet, cb) => this.onMessage(client, packet, cb);
    client.on('connect', (connack) => this.onConnect(client, connack, connectCount));
    client.on('packetreceive', () => {
      if (client === this.client) this.s.lastContactAt = this.deps.clock.now();
    });
    client.on('error', (err) => {
      if (client !== this.client) return;
      this.s.lastError = err.message;
      this.log.warn({ err: err.message }, 'mqtt error');
    });
    client.on('close', () => this.onClose(client));
    client.connect();
  }

  private onConnect(client: MqttClient, connack: IConnackPacket, connectCount: number): void {
    if (client !== this.client) return;
    const now = this.deps.clock.now();
    this.backoff.reset();
    noDelay(client);
    this.phase = 'connected';
    this.deps.meta.set(CONNECT_COUNT_KEY, connectCount);
    this.s.connectedSince = now;
    this.s.lastContactAt = now;
    this.s.sessionPresent = connack.sessionPresent;
    this.s.lastError = null;
    this.log.info({ connectCount, sessionPresent: connack.sessionPresent }, 'mqtt connected');
    void this.publishOn(client, 'status', this.statusBody('online')).catch(() => undefined);
    const topics = (['cmd', 'snapshot', 'control'] as const).map((c) =>
      topicFor(this.deps.unitId, c),
    );
    client.subscribe(topics, { qos: 1 }, (err) => {
      if (client !== this.client) return;
      if (err) {
        this.s.lastError = `subscribe failed: ${err.message}`;
        this.log.error({ err: err.message }, 'subscribe failed; reconnecting');
        client.end(true);
        return;
      }
      // Announced only once the broker holds our subscriptions: from here nothing sent to us is lost.
      this.subscribed = true;
      this.emit('connected', { sessionPresent: connack.sessionPresent, connectCount });
    });
    const lastSeq = this.deps.sink.lastSeq();
    if (this.pendingSync) {
      this.sendSyncRequest(this.pendingSync, true);
    } else if (!connack.sessionPresent) {
      // No session: whatever the broker queued for us while we were away is gone (a broker restart
      // without persistence, an expired session). Ask for the full picture.
      this.sendSyncRequest(
        { reason: lastSeq === null ? 'never_synced' : 'session_lost', haveSeq: lastSeq },
        true,
      );
    }
    this.drainer.attach((row) => this.publishRow(client, row));
    this.scheduleHeartbeat(0);
  }

  private onClose(client: MqttClient): void {
    if (client !== this.client) return;
    this.client = null;
    this.drainer.detach();
    if (this.heartbeatTimer !== null) this.deps.clock.clearTimeout(this.heartbeatTimer);
    this.heartbeatTimer = null;
    const wasConnected = this.phase === 'connected';
    client.removeAllListeners('connect');
    client.end(true);
    if (wasConnected) this.log.warn({ err: this.s.lastError }, 'mqtt connection lost');
    this.emit('disconnected', { error: this.s.lastError });
    this.scheduleReconnect();
  }

  private scheduleReconnect(): void {
    if (this.stopped) return;
    const delay = this.backoff.next();
    this.phase = 'waiting';
    this.s.nextRetryAt = this.deps.clock.now() + delay;
    this.retryTimer = this.deps.clock.setTimeout(() => this.connect(), delay);
  }

  private onMessage(client: MqttClient, packet: IPublishPacket, cb: (err?: Error) => void): void {
    const inbound = this.inbound;
    if (!inbound) return cb(new Error('link not started'));
    const payload = Buffer.isBuffer(packet.payload) ? packet.payload : Buffer.from(packet.payload);
    inbound.handle(packet.topic, payload).then(
      (out) => {
        this.count(out);
        for (const d of out.direct) {
          void this.publishOn(client, 'results', this.directEvent(d.type, d.payload)).catch(
            () => undefined,
          );
        }
        if (out.syncRequest) {
          this.sendSyncRequest(out.syncRequest, out.syncRequest.reason === 'resync');
        }
        this.drainer.kick();
        this.emit('inbound', out);
        cb(); // the PUBACK: only now, after the commit above
      },
      (err: unknown) => {
        // The change did not commit (disk full, I/O error). No PUBACK; drop the connection so the
        // broker redelivers the message on the next session.
        this.s.lastError = `apply failed: ${(err as Error).message}`;
        this.log.error({ err }, 'applying an inbound message failed; not acknowledging it');
        cb(err as Error);
        client.end(true);
      },
    );
  }

  private count(out: InboundOutcome): void {
    for (const r of out.results) {
      if (r.status === 'duplicate') this.s.duplicates++;
      else if (r.status === 'rejected') this.s.rejected++;
      else this.s.commandsApplied++;
    }
  }

  private sendSyncRequest(body: SyncRequestBody, force: boolean): void {
    const now = this.deps.clock.now();
    // Only the same request repeated (a gap seen again on every message) is throttled.
    const key = `${body.reason}:${body.haveSeq}`;
    if (
      !force &&
      key === this.lastSyncRequest.key &&
      now - this.lastSyncRequest.at < SYNC_REQUEST_MIN_INTERVAL_MS
    ) {
      return;
    }
    const client = this.client;
    if (!client || this.phase !== 'connected') {
      this.pendingSync = body;
      return;
    }
    this.lastSyncRequest = { key, at: now };
    this.pendingSync = null;
    this.s.syncRequests++;
    this.log.info({ ...body }, 'asking the cloud for a snapshot');
    this.emit('syncRequested', body);
    this.publishOn(client, 'sync-request', body).catch(() => {
      this.pendingSync = body;
    });
  }

  private publishRow(client: MqttClient, row: OutboxRow): Promise<void> {
    const body: EventBody = {
      eventId: row.eventId,
      type: row.type,
      class: row.class,
      createdAt: row.createdAt,
      payload: row.payload,
    };
    const channel = row.type === 'command.result' ? 'results' : 'events';
    return this.publishOn(client, channel, body, { msgId: row.eventId, seq: row.seq });
  }

  private directEvent(type: string, payload: Record<string, unknown>): EventBody {
    return {
      eventId: randomUUID(),
      type,
      class: 'critical',
      createdAt: this.deps.clock.now(),
      payload,
    };
  }

  private statusBody(state: StatusBody['state']): StatusBody {
    return {
      state,
      connectCount: this.deps.meta.getNumber(CONNECT_COUNT_KEY) ?? 0,
      since: new Date(this.deps.clock.now()).toISOString(),
      lastSeq: this.deps.sink.lastSeq(),
    };
  }

  private envelope<C extends OutboundChannel>(
    _channel: C,
    body: TopicPayloads[C],
    ids: { msgId?: string; seq?: number } = {},
  ): Envelope<TopicPayloads[C]> {
    return {
      v: PROTOCOL_VERSION,
      msgId: ids.msgId ?? randomUUID(),
      unitId: this.deps.unitId,
      ...(ids.seq !== undefined ? { seq: ids.seq } : {}),
      sentAt: new Date(this.deps.clock.now()).toISOString(),
      body,
    };
  }

  private publishOn<C extends OutboundChannel>(
    client: MqttClient,
    channel: C,
    body: TopicPayloads[C],
    ids: { msgId?: string; seq?: number } = {},
  ): Promise<void> {
    const spec = CHANNELS[channel];
    const payload = JSON.stringify(this.envelope(channel, body, ids));
    return new Promise((resolve, reject) => {
      client.publish(
        topicFor(this.deps.unitId, channel),
        payload,
        { qos: spec.qos, retain: spec.retain },
        (err) => (err ? reject(err) : resolve()),
      );
    });
  }

  private scheduleHeartbeat(delayMs = this.cfg.heartbeatSec * 1000): void {
    if (this.heartbeatTimer !== null) this.deps.clock.clearTimeout(this.heartbeatTimer);
    this.heartbeatTimer = this.deps.clock.setTimeout(() => {
      this.heartbeatTimer = null;
      const client = this.client;
      if (!client || this.phase !== 'connected') return;
      const body = {
        uptimeSec: Math.max(0, Math.floor((this.deps.clock.now() - this.startedAt) / 1000)),
        lastSeq: this.deps.sink.lastSeq(),
        backlog: this.deps.outbox.backlog().count,
        connectCount: this.deps.meta.getNumber(CONNECT_COUNT_KEY) ?? 0,
        ...(this.deps.health ? { health: safeHealth(this.deps.health) } : {}),
      };
      void this.publishOn(client, 'heartbeat', body).catch(() => undefined);
      this.scheduleHeartbeat();
    }, delayMs);
  }

  private schedulePoll(): void {
    this.pollTimer = this.deps.clock.setTimeout(() => {
      if (this.stopped) return;
      this.drainer.enforceBound();
      this.drainer.kick();
      this.schedulePoll();
    }, POLL_MS);
  }
}

/** Commands and PUBACKs are small: Nagle would hold each one back waiting for the peer's ACK. */
export function noDelay(client: MqttClient): void {
  const stream = client.stream as { setNoDelay?: (on: boolean) => void } | undefined;
  stream?.setNoDelay?.(true);
}

function safeHealth(h: HealthSource): Record<string, unknown> {
  try {
    return h();
  } catch (err) {
    return { error: (err as Error).message };
  }
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error('timeout')), ms);
    p.then(
      (v) => {
        clearTimeout(t);
        resolve(v);
      },
      (e: unknown) => {
        clearTimeout(t);
        reject(e as Error);
      },
    );
  });
}
