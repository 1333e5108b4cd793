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
  const spec = CHANNELS[channel];
  const payload = JSON.stringify(envelopeFor<C>(p, body, ids));
  return new Promise((resolve, reject) => {
    client.publish(
      topicFor(p.unitId, channel),
      payload,
      { qos: spec.qos, retain: spec.retain },
      (err) => (err ? reject(err) : resolve()),
    );
  });
}

/** Results go to `results`, everything else to `events`; both share the outbox's sequence. */
export function channelOf(type: string): 'results' | 'events' {
  return type === 'command.result' || type === 'control.result' ? 'results' : 'events';
}

export function eventBodyOf(
  row: Pick<OutboxRow, 'eventId' | 'type' | 'class' | 'createdAt' | 'payload'>,
): EventBody {
  return {
    eventId: row.eventId,
    type: row.type,
    class: row.class,
    createdAt: new Date(row.createdAt).toISOString(),
    payload: row.payload,
  };
}

export function publishRow(p: Publisher, client: MqttClient, row: OutboxRow): Promise<void> {
  const channel = channelOf(row.type);
  return publishOn(p, client, channel, eventBodyOf(row), { msgId: row.eventId, seq: row.seq });
}

export function statusBody(
  state: StatusBody['state'],
  connectCount: number,
  since: number,
  lastSeq: number | null,
): StatusBody {
  return { state, connectCount, since: new Date(since).toISOString(), lastSeq };
}
