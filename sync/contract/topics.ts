/**
 * Topic layout of the contract: every unit owns one subtree, so a broker ACL of
 * `pattern readwrite companion/v1/units/%u/#` (username = unit id) confines each unit to itself.
 * The version sits in the topic as well as in the envelope, so a v2 contract can run beside v1.
 */

export const TOPIC_ROOT = 'companion/v1/units';

/** Cloud → unit. */
export const INBOUND_CHANNELS = ['cmd', 'snapshot', 'control', 'receipts'] as const;
/** Unit → cloud. */
export const OUTBOUND_CHANNELS = [
  'events',
  'results',
  'status',
  'sync-request',
  'heartbeat',
] as const;

export type InboundChannel = (typeof INBOUND_CHANNELS)[number];
export type OutboundChannel = (typeof OUTBOUND_CHANNELS)[number];
export type Channel = InboundChannel | OutboundChannel;

export interface ChannelSpec {
  direction: 'cloud→unit' | 'unit→cloud';
  qos: 0 | 1;
  retain: boolean;
  why: string;
}

/** QoS and retain per channel: the single place both sides read them from (and docs/protocol.md). */
export const CHANNELS: Record<Channel, ChannelSpec> = {
  cmd: {
    direction: 'cloud→unit',
    qos: 1,
    retain: false,
    why: 'booking changes; PUBACK after commit',
  },
  snapshot: {
    direction: 'cloud→unit',
    qos: 1,
    retain: false,
    why: 'full active set, chunked; applied atomically when the last chunk arrives',
  },
  control: { direction: 'cloud→unit', qos: 1, retain: false, why: 'resync, test call, replay' },
  receipts: {
    direction: 'cloud→unit',
    qos: 1,
    retain: false,
    why: 'the outbox sequences the cloud has stored; critical events are re-sent until receipted',
  },
  events: { direction: 'unit→cloud', qos: 1, retain: false, why: 'outbox events, in order' },
  results: {
    direction: 'unit→cloud',
    qos: 1,
    retain: false,
    why: 'per-command and per-control results',
  },
  status: {
    direction: 'unit→cloud',
    qos: 1,
    retain: true,
    why: 'online birth / lost will / offline; last state is what a new watcher sees',
  },
  'sync-request': {
    direction: 'unit→cloud',
    qos: 1,
    retain: false,
    why: 'the unit detected a gap and asks for a snapshot',
  },
  heartbeat: {
    direction: 'unit→cloud',
    qos: 0,
    retain: false,
    why: 'liveness and health; a lost one is replaced by the next',
  },
};

const UNIT_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

export class TopicError extends Error {
  override name = 'TopicError';
}

/** Unit ids end up in topic names and ACL patterns: no wildcards, no slashes, no `$`. */
export function assertUnitId(unitId: string): string {
  if (!UNIT_ID.test(unitId)) {
    throw new TopicError(
      `invalid unit id ${JSON.stringify(unitId)}: 1-64 letters, digits, ".", "_" or "-"`,
    );
  }
  return unitId;
}

export function topicFor(unitId: string, channel: Channel): string {
  return `${TOPIC_ROOT}/${assertUnitId(unitId)}/${channel}`;
}

/** Filter for one channel across every unit (cloud side), optionally as an MQTT 5 shared subscription. */
export function fleetFilter(channel: Channel, shareGroup?: string): string {
  const filter = `${TOPIC_ROOT}/+/${channel}`;
  return shareGroup ? `$share/${shareGroup}/${filter}` : filter;
}

export interface ParsedTopic {
  unitId: string;
  channel: Channel;
}

const ALL: readonly string[] = [...INBOUND_CHANNELS, ...OUTBOUND_CHANNELS];

/** Inverse of topicFor; null for anything outside the contract. */
export function parseTopic(topic: string): ParsedTopic | null {
  const prefix = `${TOPIC_ROOT}/`;
  if (!topic.startsWith(prefix)) return null;
  const rest = topic.slice(prefix.length).split('/');
  if (rest.length !== 2) return null;
  const [unitId, channel] = rest as [string, string];
  if (!UNIT_ID.test(unitId) || !ALL.includes(channel)) return null;
  return { unitId, channel: channel as Channel };
}
