/**
 * Building and publishing the unit's envelopes: one envelope per message, the channel's QoS and
 * retain from the contract, event bodies from outbox rows. Kept apart from the connection handling.
 */
import { randomUUID } from 'node:crypto';
import type { MqttClient } from 'mqtt';
import type { EventBody, StatusBody, TopicPayloads } from '../contract/bodies.js';
import { PROTOCOL_VERSION, type Envelope } from '../contract/envelope.js';
import { CHANNELS, topicFor, type OutboundChannel } from '../contract/topics.js';
import type { OutboxRow } from '../ports.js';

export interface Publisher {
  unitId: string;
  now: () => number;
}

export function envelopeFor<C extends OutboundChannel>(
  p: Publisher,
  body: TopicPayloads[C],
  ids: { msgId?: string; seq?: number; sentAt?: number } = {},
): Envelope<TopicPayloads[C]> {
  return {
    v: PROTOCOL_VERSION,
    msgId: ids.msgId ?? randomUUID(),
    unitId: p.unitId,
    ...(ids.seq !== undefined ? { seq: ids.seq } : {}),
    sentAt: new Date(ids.sentAt ?? p.now()).toISOString(),
    body,
  };
}

export function publishOn<C extends OutboundChannel>(
  p: Publisher,
  client: MqttClient,
  channel: C,
  body: TopicPayloads[C],
  ids: { msgId?: string; seq?: number } = {},
): Promise<void> {
  return publishText(p, client, channel, JSON.stringify(envelopeFor<C>(p, body, ids)));
}

/** Publish an envelope's JSON text with the channel's QoS and retain; resolves on the broker's ack. */
function publishText(
  p: Publisher,
  client: MqttClient,
  channel: OutboundChannel,
  text: string,
): Promise<void> {
  const spec = CHANNELS[channel];
  return new Promise((resolve, reject) => {
    client.publish(
      topicFor(p.unitId, channel),
      text,
      { qos: spec.qos, retain: spec.retain },
      (err) => (err ? reject(err) : resolve()),
    );
  });
}

/** Results go to `results`, everything else to `events`; both share the outbox's sequence. */
export function channelOf(type: string): 'results' | 'events' {
  return type === 'command.result' || type === 'control.result' ? 'results' : 'events';
}

/**
 * An outbox row's envelope as JSON text: what `JSON.stringify(envelopeFor(p, body, ids))` gives for
 * the event body `{ eventId, type, class, createdAt, payload }` — body last in the envelope, payload
 * last in the body — with the stored payload text put in place unparsed.
 */
export function rowEnvelopeJson(p: Publisher, row: Omit<OutboxRow, 'sentAt'>): string {
  const head = {
    eventId: row.eventId,
    type: row.type,
    class: row.class,
    createdAt: new Date(row.createdAt).toISOString(),
  };
  // The body without its payload (appended as text below): hence the cast.
  const env = JSON.stringify(
    envelopeFor<'events'>(p, head as EventBody, { msgId: row.eventId, seq: row.seq }),
  );
  // env ends with the body's and the envelope's closing braces: `...,"createdAt":"…"}}`.
  return `${env.slice(0, -2)},"payload":${row.payloadJson}}}`;
}

export function publishRow(p: Publisher, client: MqttClient, row: OutboxRow): Promise<void> {
  return publishText(p, client, channelOf(row.type), rowEnvelopeJson(p, row));
}

export function statusBody(
  state: StatusBody['state'],
  connectCount: number,
  since: number,
  lastSeq: number | null,
): StatusBody {
  return { state, connectCount, since: new Date(since).toISOString(), lastSeq };
}
