/**
 * Sync convergence, proven by a model-based test over the real link and a real Mosquitto (issue 11).
 *
 * The cloud side is a small reference model: a command history (seq → upsert/cancel of a booking, a
 * cancel bumps the version like a backend does) and what the cloud wants as of any sequence, D(k).
 * Each step builds messages as a backend would — commands with the next sequence, snapshots as of the
 * current sequence — and either delivers them now or holds them back; later steps deliver held
 * messages in any order (gaps, reordering, snapshots that arrive late), drop them for good, redeliver
 * delivered ones byte for byte, re-send them as a backend would (new msgId, same seq), or restart
 * the unit on its data dir, or have the broker come back without its state (sessions lost).
 *
 * After every step, once the unit has processed what was published (the link's `inbound` event for
 * each msgId), the unit must hold, for every booking b, exactly D_b(R_b) where R_b is the newest
 * point the unit has heard about b: the highest seq of a delivered command for b, or the asOf of the
 * newest snapshot it applied — whichever is higher. Its lastSeq must be the end of the contiguous
 * range (applied commands plus the snapshot's asOf), and while a gap is open it must be asking for a
 * snapshot. At the end a fresh snapshot heals everything
 * and the unit's live set must equal D(now) exactly: that is convergence.
 *
 * CI runs CONVERGENCE_MODEL_RUNS (default 60) sequences from a fixed seed; raise it for a soak.
 */
import { randomUUID } from 'node:crypto';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CloudClient } from '../../sync/cloud/client.js';
import type { Envelope } from '../../sync/contract/envelope.js';
import type { InboundOutcome } from '../../sync/link/inbound.js';
import { startBroker, stopAllBrokers, type MosquittoBroker } from '../support/mosquitto.js';
import { booking, KEYS, startUnit, until, type Unit } from './unit-harness.js';

const RUNS = Number(process.env.CONVERGENCE_MODEL_RUNS ?? 60);
const SEED = Number(process.env.CONVERGENCE_MODEL_SEED ?? 20261202);
const IDS = ['a', 'b', 'c'] as const;

type Op = { kind: 'upsert' | 'cancel'; version: number };
type Held =
  | { kind: 'cmd'; seq: number; bookingId: string; env: Envelope<unknown> }
  | { kind: 'snapshot'; asOf: number; envs: Envelope<unknown>[] };

/** The cloud's history and the unit's predicted position: what the unit must hold after each step. */
interface Model {
  seq: number;
  history: { seq: number; bookingId: string; op: Op }[];
  /** Built but not delivered yet (gaps, late snapshots). */
  held: Held[];
  /** Delivered at least once (redelivery candidates). */
  delivered: Held[];
  /** The unit's picture, as the documented rules predict it. */
  unit: {
    cmdSeqs: Set<number>;
    newestCmdFor: Map<string, number>;
    snapshotAsOf: number;
    lastSeq: number;
  };
}

interface Real {
  unit: Unit;
  cloud: CloudClient;
  unitId: string;
  dir: string;
  seen: Map<string, number>;
  attach(u: Unit): void;
}

/** The booking's state the cloud wants as of sequence k: null = not live (never made, or cancelled). */
function wanted(m: Model, id: string, k: number): number | null {
  let last: Op | null = null;
  for (const h of m.history) if (h.bookingId === id && h.seq <= k) last = h.op;
  return last && last.kind === 'upsert' ? last.version : null;
}

function currentVersion(m: Model, id: string): number {
  let v = 0;
  for (const h of m.history) if (h.bookingId === id) v = h.op.version;
  return v;
}

function contiguousEnd(from: number, seqs: Set<number>): number {
  let end = from;
  while (seqs.has(end + 1)) end++;
  return end;
}

/** The model's side of one delivery (the documented rules of docs/protocol.md). */
function modelDeliver(m: Model, h: Held): void {
  const u = m.unit;
  if (h.kind === 'cmd') {
    u.cmdSeqs.add(h.seq);
    u.newestCmdFor.set(h.bookingId, Math.max(u.newestCmdFor.get(h.bookingId) ?? 0, h.seq));
    u.lastSeq = contiguousEnd(u.lastSeq, u.cmdSeqs);
  } else if (h.asOf >= u.lastSeq) {
    // A snapshot older than lastSeq is refused stale_snapshot; any other heals up to its asOf.
    u.snapshotAsOf = Math.max(u.snapshotAsOf, h.asOf);
    u.lastSeq = contiguousEnd(Math.max(u.lastSeq, h.asOf), u.cmdSeqs);
  }
  if (!m.delivered.includes(h)) m.delivered.push(h);
}

function expectedLive(m: Model): Record<string, number> {
  const out: Record<string, number> = {};
  for (const id of IDS) {
    const r = Math.max(m.unit.newestCmdFor.get(id) ?? 0, m.unit.snapshotAsOf);
    const v = wanted(m, id, r);
    if (v !== null) out[id] = v;
  }
  return out;
}

function liveOf(unit: Unit): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [id, b] of Object.entries(unit.bookings()))
    if (b.status !== 'cancelled') out[id] = b.version;
  return out;
}

async function publish(
  r: Real,
  channel: 'cmd' | 'snapshot',
  env: Envelope<unknown>,
): Promise<void> {
  const before = r.seen.get(env.msgId) ?? 0;
  await r.cloud.publishEnvelope(r.unitId, channel, env);
  await until(
    () => (r.seen.get(env.msgId) ?? 0) > before,
    `the unit processed ${channel} ${env.msgId}`,
  );
}

async function deliverReal(r: Real, h: Held): Promise<void> {
  if (h.kind === 'cmd') await publish(r, 'cmd', h.env);
  else for (const env of h.envs) await publish(r, 'snapshot', env);
}

function check(m: Model, r: Real, what: string): void {
  expect(liveOf(r.unit), `live set after ${what}`).toEqual(expectedLive(m));
  expect(r.unit.lastSeq() ?? 0, `lastSeq after ${what}`).toBe(m.unit.lastSeq);
  // A command beyond lastSeq arrived: the unit knows it has a gap and is asking for a snapshot.
  const gap = [...m.unit.cmdSeqs].some((q) => q > m.unit.lastSeq);
  if (gap)
    expect(r.unit.sink.snapshotNeeded(), `a snapshot asked for after ${what}`).not.toBeNull();
}

function buildCommand(m: Model, r: Real, id: string, kind: Op['kind']): Held {
  const version = currentVersion(m, id) + 1;
  const seq = ++m.seq;
  m.history.push({ seq, bookingId: id, op: { kind, version } });
  const command =
    kind === 'upsert'
      ? { type: 'booking.upsert' as const, commandId: randomUUID(), booking: booking(id, version) }
      : { type: 'booking.cancel' as const, commandId: randomUUID(), bookingId: id, version };
  return {
    kind: 'cmd',
    seq,
    bookingId: id,
    env: r.cloud.envelope(r.unitId, 'cmd', { commands: [command] }, seq),
  };
}

function buildSnapshot(m: Model, r: Real, chunkSize: number): Held {
  const asOf = m.seq;
  const items = IDS.flatMap((id) => {
    const v = wanted(m, id, asOf);
    return v === null ? [] : [booking(id, v)];
  });
  const snapshotId = randomUUID();
  const chunks = Math.max(1, Math.ceil(items.length / chunkSize));
  const envs = Array.from({ length: chunks }, (_, i) =>
    r.cloud.envelope(r.unitId, 'snapshot', {
      snapshotId,
      asOf,
      chunk: i,
      chunks,
      bookings: items.slice(i * chunkSize, (i + 1) * chunkSize),
    }),
  );
  return { kind: 'snapshot', asOf, envs };
}

type Cmd = fc.AsyncCommand<Model, Real>;

class Command implements Cmd {
  constructor(
    readonly id: string,
    readonly kind: Op['kind'],
    readonly now: boolean,
  ) {}
  check = () => true;
  async run(m: Model, r: Real) {
    const h = buildCommand(m, r, this.id, this.kind);
    if (!this.now) return void m.held.push(h);
    await deliverReal(r, h);
    modelDeliver(m, h);
    check(m, r, this.toString());
  }
  toString = () => `${this.kind}(${this.id})${this.now ? '' : ' held'}`;
}

class Snapshot implements Cmd {
  constructor(
    readonly now: boolean,
    readonly chunkSize: number,
  ) {}
  check = () => true;
  async run(m: Model, r: Real) {
    const h = buildSnapshot(m, r, this.chunkSize);
    if (!this.now) return void m.held.push(h);
    await deliverReal(r, h);
    modelDeliver(m, h);
    check(m, r, this.toString());
  }
  toString = () => `snapshot(chunks of ${this.chunkSize})${this.now ? '' : ' held'}`;
}

/** A held message arrives (out of order: a gap closes, or a snapshot arrives late). */
class DeliverHeld implements Cmd {
  constructor(readonly pick: number) {}
  check = (m: Readonly<Model>) => m.held.length > 0;
  async run(m: Model, r: Real) {
    const [h] = m.held.splice(this.pick % m.held.length, 1);
    await deliverReal(r, h!);
    modelDeliver(m, h!);
    check(m, r, this.toString());
  }
  toString = () => `deliverHeld(${this.pick})`;
}

/** A held message is lost for good: only a snapshot can heal the gap. */
class Drop implements Cmd {
  constructor(readonly pick: number) {}
  check = (m: Readonly<Model>) => m.held.length > 0;
  async run(m: Model) {
    m.held.splice(this.pick % m.held.length, 1);
  }
  toString = () => `drop(${this.pick})`;
}

/** The broker (or a backend retry) delivers the same bytes again: nothing may change. */
class Redeliver implements Cmd {
  constructor(readonly pick: number) {}
  check = (m: Readonly<Model>) => m.delivered.length > 0;
  async run(m: Model, r: Real) {
    const h = m.delivered[this.pick % m.delivered.length]!;
    await deliverReal(r, h);
    check(m, r, this.toString());
  }
  toString = () => `redeliver(${this.pick})`;
}

/**
 * A backend re-sends a message it is unsure of, as the document says a re-send must be: a new
 * msgId and sentAt (and for a snapshot a new snapshotId), the same commands and seq, the same asOf
 * and items. A command re-sent is answered duplicate by its commandId; a snapshot re-sent late is
 * just a late snapshot (refused stale, or applied by the same rules).
 */
class Resend implements Cmd {
  constructor(readonly pick: number) {}
  check = (m: Readonly<Model>) => m.delivered.length > 0;
  async run(m: Model, r: Real) {
    const h = m.delivered[this.pick % m.delivered.length]!;
    let again: Held;
    if (h.kind === 'cmd') {
      again = {
        ...h,
        env: r.cloud.envelope(r.unitId, 'cmd', h.env.body as { commands: [] }, h.seq),
      };
    } else {
      const snapshotId = randomUUID();
      const envs = h.envs.map((e) =>
        r.cloud.envelope(r.unitId, 'snapshot', {
          ...(e.body as Record<string, unknown>),
          snapshotId,
        }),
      );
      again = { kind: 'snapshot', asOf: h.asOf, envs };
    }
    await deliverReal(r, again);
    modelDeliver(m, again);
    check(m, r, this.toString());
  }
  toString = () => `resend(${this.pick})`;
}

/** The agent stops and starts again on the same data dir (its session kept at the broker). */
class Restart implements Cmd {
  check = () => true;
  async run(m: Model, r: Real) {
    await r.unit.stop();
    const unit = startUnit(brokerUrl(), {
      unitId: r.unitId,
      dir: r.dir,
      mqtt: { snapshotRequest: { minSec: 1, maxSec: 2, chunkTimeoutSec: 30 } },
    });
    r.attach(unit);
    await unit.start();
    await until(() => unit.link.state().connected, 'connected again');
    r.unit = unit;
    check(m, r, this.toString());
  }
  toString = () => 'restart';
}

/**
 * The broker dies and comes back without its state (no persistence file): the unit's session and
 * subscriptions are gone. It reconnects without a session and asks for a snapshot (session_lost);
 * nothing it holds may change, and what follows is delivered as before.
 */
class BrokerLosesState implements Cmd {
  check = () => true;
  async run(m: Model, r: Real) {
    const before = r.unit.link.state().connectCount;
    await broker.stop(false);
    rmSync(join(broker.dir, 'mosquitto.db'), { force: true });
    await broker.start();
    await until(
      () => r.unit.link.state().connectCount > before && r.unit.link.state().connected,
      'the unit connected again',
    );
    expect(r.unit.link.state().sessionPresent).toBe(false);
    check(m, r, this.toString());
  }
  toString = () => 'brokerLosesState';
}

const command = fc
  .tuple(
    fc.constantFrom(...IDS),
    fc.constantFrom('upsert' as const, 'upsert' as const, 'cancel' as const),
    fc.boolean(),
  )
  .map(([id, kind, now]) => new Command(id, kind, now));
const deliverHeld = fc.nat(20).map((n) => new DeliverHeld(n));
/** Weighted by repetition: mostly commands and out-of-order deliveries, now and then the rest. */
const commands = [
  command,
  command,
  command,
  fc
    .tuple(fc.boolean(), fc.integer({ min: 1, max: 3 }))
    .map(([now, size]) => new Snapshot(now, size)),
  deliverHeld,
  deliverHeld,
  fc.nat(20).map((n) => new Drop(n)),
  fc.nat(20).map((n) => new Redeliver(n)),
  fc.nat(20).map((n) => new Resend(n)),
  fc.constantFrom<Cmd>(new Restart(), new BrokerLosesState()),
];

let broker: MosquittoBroker;
const brokerUrl = () => broker.url;
beforeAll(async () => {
  broker = await startBroker({ persistence: true });
});
afterAll(async () => {
  await stopAllBrokers();
});

/** One sequence on a fresh unit: the first picture, the steps, then the healing snapshot. */
async function runSequence(cmds: Iterable<Cmd>): Promise<void> {
  const unitId = `conv-${randomUUID().slice(0, 8)}`;
  const seen = new Map<string, number>();
  const onInbound = (o: InboundOutcome) => {
    if (o.msgId) seen.set(o.msgId, (seen.get(o.msgId) ?? 0) + 1);
  };
  const cloud = new CloudClient({ url: broker.url, signingKey: KEYS.privateKeyPem });
  await cloud.start();
  const unit = startUnit(broker.url, {
    unitId,
    mqtt: { snapshotRequest: { minSec: 1, maxSec: 2, chunkTimeoutSec: 30 } },
  });
  const real: Real = {
    unit,
    cloud,
    unitId,
    dir: unit.dir,
    seen,
    attach: (u) => void u.link.on('inbound', onInbound),
  };
  real.attach(unit);
  try {
    await unit.start();
    await until(() => unit.link.state().connected, 'connected');
    const model: Model = {
      seq: 0,
      history: [],
      held: [],
      delivered: [],
      unit: { cmdSeqs: new Set(), newestCmdFor: new Map(), snapshotAsOf: 0, lastSeq: 0 },
    };
    // The first picture: an empty snapshot as of 0, as the cloud answers never_synced.
    const first = buildSnapshot(model, real, 1);
    await deliverReal(real, first);
    modelDeliver(model, first);
    await fc.asyncModelRun(() => ({ model, real }), cmds);
    // Heal: whatever was held or lost, a snapshot as of now brings the unit in step.
    const heal = buildSnapshot(model, real, 2);
    await deliverReal(real, heal);
    modelDeliver(model, heal);
    check(model, real, 'the healing snapshot');
    const want: Record<string, number> = {};
    for (const id of IDS) {
      const v = wanted(model, id, model.seq);
      if (v !== null) want[id] = v;
    }
    expect(liveOf(real.unit), 'converged: the live set is what the cloud wants now').toEqual(want);
    expect(real.unit.lastSeq() ?? 0).toBe(model.seq);
  } finally {
    await real.unit.stop().catch(() => undefined);
    await cloud.stop().catch(() => undefined);
  }
}

describe('sync convergence (model-based, real link and broker)', () => {
  it(`the unit holds what the cloud wants as of what it heard, after every step of ${RUNS} interleavings (seed ${SEED})`, async () => {
    await fc.assert(
      fc.asyncProperty(fc.commands(commands, { maxCommands: 30, size: 'max' }), runSequence),
      {
        numRuns: RUNS,
        seed: SEED,
        endOnFailure: process.env.CI === 'true',
      },
    );
  }, 600_000);

  // Found by reasoning over the model before the generator hit it; kept as a named sequence.
  it('regression: a held upsert older than an applied snapshot never revives what the snapshot cancelled', async () => {
    await runSequence([
      new Command('b', 'upsert', true),
      new Command('b', 'upsert', false),
      new Command('b', 'cancel', false),
      new Snapshot(true, 1),
      new DeliverHeld(0),
    ]);
  });

  it('regression: a held command older than an applied snapshot never creates what the snapshot left out', async () => {
    await runSequence([
      new Command('a', 'upsert', false),
      new Command('a', 'cancel', false),
      new Snapshot(true, 1),
      new DeliverHeld(0),
    ]);
  });
});
