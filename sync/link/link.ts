/**
 * The unit's link to the cloud. One MQTT 5 connection at a time (client id = unit id, persistent
 * session), replaced by a fresh one after a backoff-with-jitter delay whenever it drops. Inbound
 * messages are applied durably before their PUBACK (mqtt.js `handleMessage` callback); the outbox is
 * drained in order with QoS 1 and every critical event is kept until the cloud receipts it; a needed
 * snapshot is asked for until it arrives. Offline is normal: nothing else in the agent waits on this.
 */
import { EventEmitter } from 'node:events';
import mqtt, { type IConnackPacket, type IPublishPacket, type MqttClient } from 'mqtt';
import type { MqttConfig } from '../config.js';
import type { SyncRequestBody } from '../contract/bodies.js';
import { loadPublicKey } from '../contract/signing.js';
import { topicFor, type InboundChannel } from '../contract/topics.js';
import {
  silentLogger,
  type HealthSource,
  type InboundSink,
  type LinkClock,
  type LinkLogger,
  type LinkMeta,
  type OutboxSource,
} from '../ports.js';
import { Backoff } from './backoff.js';
import { OutboxDrainer } from './drainer.js';
import { InboundProcessor, type InboundOutcome } from './inbound.js';
import { isRetryableStorage, isStorageFull } from './storage-errors.js';
import { redactUrl, unitClientOptions } from './mqtt-options.js';
import { envelopeFor, publishOn, publishRow, statusBody, type Publisher } from './publish.js';
import { SnapshotRequester } from './snapshot-requests.js';

/** Also named in agent/store/meta.ts (META.connectCount): a recovered store carries it over. */
export const CONNECT_COUNT_KEY = 'mqtt_connect_count';
/** 1 while a re-send of every unreceipted event (after a lost session) has not completed. */
const RESEND_ALL_OWED_KEY = 'outbox_resend_all_owed';
/** Safety net for outbox rows written without a kick, and the receipt re-send sweep. */
const POLL_MS = 5000;
const SUBSCRIBED: readonly InboundChannel[] = ['cmd', 'snapshot', 'control', 'receipts'];

export interface SyncLinkDeps {
  unitId: string;
  config: MqttConfig;
  sink: InboundSink & { abandonSnapshot?: () => void; snapshotInProgress?: string | null };
  outbox: OutboxSource;
  meta: LinkMeta;
  clock: LinkClock;
  log?: LinkLogger;
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
  unreceipted: number;
  oldestUnsentAt: number | null;
  inFlight: number;
  eventsSent: number;
  /** Unreceipted critical events published again, and the wait between re-send passes now. */
  eventsResent: number;
  resendIntervalMs: number;
  evictedTelemetry: number;
  commandsApplied: number;
  duplicates: number;
  rejected: number;
  syncRequests: number;
  snapshotNeeded: string | null;
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
  private readonly requests: SnapshotRequester;
  private readonly pub: Publisher;
  private inbound: InboundProcessor | null = null;
  private client: MqttClient | null = null;
  private phase: LinkState['phase'] = 'stopped';
  private stopped = true;
  private retryTimer: unknown = null;
  private heartbeatTimer: unknown = null;
  private pollTimer: unknown = null;
  private chunkTimer: unknown = null;
  private startedAt = 0;
  /** True once the broker acknowledged our subscriptions on the current connection. */
  private subscribed = false;
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
    this.pub = { unitId: deps.unitId, now: () => deps.clock.now() };
    this.backoff = new Backoff(this.cfg.reconnect.minMs, this.cfg.reconnect.maxMs, deps.random);
    this.drainer = new OutboxDrainer(
      deps.outbox,
      {
        window: this.cfg.drainWindow,
        maxRows: this.cfg.outboxMaxRows,
        resendAfterMs: this.cfg.resendAfterSec * 1000,
        transaction: deps.transaction,
        resendAllOwed: {
          load: () => deps.meta.getNumber(RESEND_ALL_OWED_KEY) === 1,
          save: (owed) => deps.meta.set(RESEND_ALL_OWED_KEY, owed ? 1 : 0),
        },
      },
      deps.clock,
      this.log,
    );
    this.requests = new SnapshotRequester({
      clock: deps.clock,
      needed: () => deps.sink.snapshotNeeded(),
      send: (body) => this.sendSyncRequest(body),
      minMs: this.cfg.snapshotRequest.minSec * 1000,
      maxMs: this.cfg.snapshotRequest.maxSec * 1000,
    });
  }

  /** Begins connecting and returns at once: the agent never waits for the network. */
  async start(): Promise<void> {
    if (!this.stopped) return;
    const keys = this.cfg.signature.publicKeys.map(loadPublicKey);
    this.inbound = new InboundProcessor(this.deps.sink, {
      unitId: this.deps.unitId,
      maxPayloadBytes: this.cfg.maxPayloadBytes,
      signatureRequired: this.cfg.signature.required,
      publicKeys: keys,
      freshness: {
        maxAgeMs: this.cfg.freshness.maxAgeSec * 1000,
        maxFutureMs: this.cfg.freshness.maxFutureSec * 1000,
        controlMaxAgeMs: this.cfg.freshness.controlMaxAgeSec * 1000,
      },
    });
    this.stopped = false;
    this.startedAt = this.deps.clock.now();
    this.drainer.enforceBound(true);
    this.requests.start();
    this.schedulePoll();
    this.connect();
  }

  /** Says "offline" (retained) and disconnects normally, so the "lost" will is not sent. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.phase = 'stopped';
    this.requests.stop();
    for (const t of [this.retryTimer, this.heartbeatTimer, this.pollTimer, this.chunkTimer]) {
      if (t !== null) this.deps.clock.clearTimeout(t);
    }
    this.retryTimer = this.heartbeatTimer = this.pollTimer = this.chunkTimer = null;
    const client = this.client;
    this.client = null;
    this.drainer.detach();
    if (!client) return;
    if (client.connected) {
      const body = this.status('offline', this.connectCount(), this.deps.clock.now());
      await withTimeout(publishOn(this.pub, client, 'status', body), 2000).catch(() => undefined);
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

  /** Ask the cloud for a snapshot now (the diagnostics "force resync", space back after a full disk). */
  requestSync(reason: SyncRequestBody['reason'] = 'resync'): void {
    this.deps.sink.needSnapshot(reason);
    this.requests.poke({ force: true });
  }

  /** Whether the link is up and since when, without reading the store (history samples it). */
  connection(): Pick<LinkState, 'enabled' | 'connected' | 'connectedSince'> {
    return {
      enabled: this.cfg.enabled,
      connected: this.isConnected(),
      connectedSince: this.s.connectedSince,
    };
  }

  private isConnected(): boolean {
    return this.client?.connected === true && this.phase === 'connected' && this.subscribed;
  }

  state(): LinkState {
    const backlog = this.deps.outbox.backlog();
    return {
      enabled: this.cfg.enabled,
      phase: this.phase,
      connected: this.isConnected(),
      url: redactUrl(this.cfg.url),
      lastContactAt: this.s.lastContactAt,
      connectedSince: this.s.connectedSince,
      connectCount: this.connectCount(),
      sessionPresent: this.s.sessionPresent,
      lastSeq: this.deps.sink.lastSeq(),
      nextRetryAt: this.s.nextRetryAt,
      lastError: this.s.lastError,
      backlog: backlog.count,
      unreceipted: this.deps.outbox.unreceipted(),
      oldestUnsentAt: backlog.oldestCreatedAt,
      inFlight: this.drainer.stats.inFlight,
      eventsSent: this.drainer.stats.sent,
      eventsResent: this.drainer.stats.resent,
      resendIntervalMs: this.drainer.stats.resendIntervalMs,
      evictedTelemetry: this.drainer.stats.evicted,
      commandsApplied: this.s.commandsApplied,
      duplicates: this.s.duplicates,
      rejected: this.s.rejected,
      syncRequests: this.s.syncRequests,
      snapshotNeeded: this.deps.sink.snapshotNeeded()?.reason ?? null,
      snapshotInProgress: this.deps.sink.snapshotInProgress ?? null,
    };
  }

  private connectCount(): number {
    return this.deps.meta.getNumber(CONNECT_COUNT_KEY) ?? 0;
  }

  private status(state: 'online' | 'lost' | 'offline', connectCount: number, since: number) {
    return statusBody(state, connectCount, since, this.deps.sink.lastSeq());
  }

  private connect(): void {
    if (this.stopped) return;
    this.retryTimer = null;
    this.s.nextRetryAt = null;
    const connectCount = this.connectCount() + 1;
    // The will is built now but published by the broker only after willDelaySec without us: it says
    // so in `since`, which is after this connection's birth, and carries this connection's count —
    // a "newest wins" consumer orders by (connectCount, online before lost).
    const now = this.deps.clock.now();
    const willAt = now + this.cfg.willDelaySec * 1000;
    const will = envelopeFor<'status'>(this.pub, this.status('lost', connectCount, willAt), {
      sentAt: willAt,
    });
    let client: MqttClient;
    try {
      const opts = unitClientOptions(this.deps.unitId, this.cfg, {
        topic: topicFor(this.deps.unitId, 'status'),
        payload: JSON.stringify(will),
      });
      client = mqtt.connect(opts); // where: opts from brokerTarget (mqtt-options.ts)
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
    try {
      this.deps.meta.set(CONNECT_COUNT_KEY, connectCount);
    } catch (err) {
      // A busy or full disk must not take the link down: the count lives on in memory (birth,
      // will) and the next connect writes it. Anything else is a bug: fail loudly.
      if (!isStorageFull(err) && !isRetryableStorage(err)) throw err;
      this.log.warn({ err }, 'connect count not recorded (storage busy or full)');
    }
    this.s.connectedSince = now;
    this.s.lastContactAt = now;
    this.s.sessionPresent = connack.sessionPresent;
    this.s.lastError = null;
    this.log.info({ connectCount, sessionPresent: connack.sessionPresent }, 'mqtt connected');
    void publishOn(this.pub, client, 'status', this.status('online', connectCount, now)).catch(
      () => undefined,
    );
    const topics = SUBSCRIBED.map((c) => topicFor(this.deps.unitId, c));
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
    if (!connack.sessionPresent) {
      // No session: whatever the broker queued for us while we were away is gone (a broker restart
      // without persistence, an expired session). Ask for the full picture until it arrives.
      try {
        this.deps.sink.needSnapshot(
          this.deps.sink.lastSeq() === null ? 'never_synced' : 'session_lost',
        );
      } catch (err) {
        this.log.warn({ err }, 'could not record that a snapshot is needed; asking anyway');
      }
    }
    this.requests.poke({ force: true });
    this.drainer.attach((row) => publishRow(this.pub, client, row), !connack.sessionPresent);
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
        this.s.commandsApplied += out.counts.applied;
        this.s.duplicates += out.counts.duplicates + (out.kind === 'duplicate' ? 1 : 0);
        this.s.rejected += out.counts.rejected;
        for (const d of out.direct ?? []) {
          const body = {
            eventId: crypto.randomUUID(),
            type: d.type,
            class: 'critical' as const,
            createdAt: new Date(this.deps.clock.now()).toISOString(),
            payload: d.payload,
          };
          void publishOn(this.pub, client, 'results', body).catch(() => undefined);
        }
        this.watchSnapshotChunks(out);
        // An authentic message from the cloud (not a rejection, not a broker redelivery): it is up.
        if (out.kind !== 'rejected' && out.kind !== 'duplicate') this.drainer.cloudHeard();
        // A new need (a gap, a resync) is asked for at once; the requester repeats it until healed.
        if (out.resync || this.deps.sink.snapshotNeeded())
          this.requests.poke(out.resync && out.msgId ? { inReplyTo: out.msgId } : {});
        this.drainer.kick();
        this.emit('inbound', out);
        cb(); // the PUBACK: only now, after the commit above
      },
      (err: unknown) => {
        // The change did not commit (a busy store, an I/O error). No PUBACK; drop the connection so
        // the broker delivers the message again on the next session.
        this.s.lastError = `apply failed: ${(err as Error).message}`;
        this.log.error({ err }, 'applying an inbound message failed; not acknowledging it');
        cb(err as Error);
        client.end(true);
      },
    );
  }

  /** Chunks that stop arriving are dropped and the snapshot asked for again. */
  private watchSnapshotChunks(out: InboundOutcome): void {
    if (out.kind !== 'snapshot_chunk' && out.kind !== 'snapshot') return;
    if (this.chunkTimer !== null) this.deps.clock.clearTimeout(this.chunkTimer);
    this.chunkTimer = null;
    if (out.kind === 'snapshot') return;
    this.chunkTimer = this.deps.clock.setTimeout(() => {
      this.chunkTimer = null;
      this.deps.sink.abandonSnapshot?.();
      this.requests.poke({ force: true });
    }, this.cfg.snapshotRequest.chunkTimeoutSec * 1000);
  }

  private sendSyncRequest(body: SyncRequestBody): boolean {
    const client = this.client;
    if (!client || this.phase !== 'connected') return false;
    this.s.syncRequests++;
    this.log.info({ ...body }, 'asking the cloud for a snapshot');
    this.emit('syncRequested', body);
    void publishOn(this.pub, client, 'sync-request', body).catch(() => undefined);
    return true;
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
        unreceipted: this.deps.outbox.unreceipted(),
        connectCount: this.connectCount(),
        ...(this.deps.health ? { health: safeHealth(this.deps.health) } : {}),
      };
      void publishOn(this.pub, client, 'heartbeat', body).catch(() => undefined);
      this.scheduleHeartbeat();
    }, delayMs);
  }

  private schedulePoll(): void {
    this.pollTimer = this.deps.clock.setTimeout(() => {
      if (this.stopped) return;
      this.drainer.enforceBound();
      this.drainer.sweep();
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
