/**
 * The steps the outbound delivery model interleaves (test/sync/outbox-delivery.model.test.ts). Each
 * acts on the world, lets the unit react, then checks every invariant.
 */
import { closeSync, openSync, rmSync, writeSync } from 'node:fs';
import fc from 'fast-check';
import { expect } from 'vitest';
import { RetentionQueries } from '../../../agent/store/retention.js';
import { RESEND_MAX_MS } from '../../../sync/link/drainer.js';
import { holdWriteLock } from '../../support/write-lock.js';
import { check, noteTaken } from './invariants.js';
import {
  advance,
  BASE_MS,
  settle,
  STORAGE_RETRY_MS,
  SWEEP_MS,
  WINDOW,
  type Cls,
  type Model,
  type World,
} from './world.js';

export type Cmd = fc.AsyncCommand<Model, World>;

export class Add implements Cmd {
  constructor(
    readonly cls: Cls,
    readonly n: number,
  ) {}
  check = () => true;
  async run(m: Model, w: World) {
    w.store.tx(() => {
      for (let i = 0; i < this.n; i++) {
        const at = w.clock.now();
        const id =
          this.cls === 'critical'
            ? w.store.outbox.add('clock.trusted', { source: 'model' }, at)
            : w.store.outbox.add(
                'attempt.alerting',
                {
                  runId: 'r',
                  bookingId: null,
                  slotAt: new Date(at).toISOString(),
                  attemptId: 'a',
                  attemptNo: 1,
                  agentId: 'u',
                  at: new Date(at).toISOString(),
                },
                at,
              );
        m.added.set(id, this.cls);
      }
    });
    await settle();
    check(m, w, this.toString());
  }
  toString = () => `add(${this.n} ${this.cls})`;
}

export class Ack implements Cmd {
  constructor(readonly n: number) {}
  check = () => true;
  async run(m: Model, w: World) {
    w.ack(this.n);
    noteTaken(m, w);
    await settle();
    check(m, w, this.toString());
  }
  toString = () => `ack(${this.n})`;
}

/** Acks are marked while another connection holds the write lock: the marks wait and retry. */
export class AckWhileBusy implements Cmd {
  constructor(readonly n: number) {}
  check = () => true;
  async run(m: Model, w: World) {
    const lock = holdWriteLock(w.path);
    try {
      w.ack(this.n);
      noteTaken(m, w);
      await settle();
      check(m, w, this.toString());
      // A sweep while the marks wait (the poll does not stop for a busy disk).
      w.drainer.sweep();
      await settle();
    } finally {
      lock.release();
    }
    await advance(w, STORAGE_RETRY_MS);
    check(m, w, this.toString());
  }
  toString = () => `ackWhileBusy(${this.n})`;
}

export class CloudRead implements Cmd {
  constructor(
    readonly n: number,
    readonly deliver: boolean,
  ) {}
  check = () => true;
  async run(m: Model, w: World) {
    w.cloudRead(this.n);
    if (this.deliver && w.connected && w.receipts.length > 0)
      w.deliverReceipt(w.receipts.length - 1);
    await settle();
    check(m, w, this.toString());
  }
  toString = () => `cloudRead(${this.n}${this.deliver ? ', receipt now' : ''})`;
}

/**
 * The cloud takes messages from the broker and loses them before storing (a worker that crashed):
 * gone from the broker, never receipted. Only a re-send brings them.
 */
export class CloudLoses implements Cmd {
  constructor(readonly n: number) {}
  check = () => true;
  async run(m: Model, w: World) {
    for (const q of w.brokerQueue.splice(0, this.n)) w.cloudLost.add(q.eventId);
    check(m, w, this.toString());
  }
  toString = () => `cloudLoses(${this.n})`;
}

/** A receipt queued earlier arrives (late, possibly after newer ones), or is lost for good. */
export class LateReceipt implements Cmd {
  constructor(
    readonly pick: number,
    readonly lose: boolean,
  ) {}
  check = () => true;
  async run(m: Model, w: World) {
    if (w.receipts.length === 0) return;
    const i = this.pick % w.receipts.length;
    if (this.lose) w.receipts.splice(i, 1);
    else if (w.connected) w.deliverReceipt(i);
    await settle();
    check(m, w, this.toString());
  }
  toString = () => `${this.lose ? 'loseReceipt' : 'lateReceipt'}(${this.pick})`;
}

export class Drop implements Cmd {
  constructor(readonly taken: number) {}
  check = () => true;
  async run(m: Model, w: World) {
    w.drop(this.taken);
    noteTaken(m, w);
    await settle();
    check(m, w, this.toString());
  }
  toString = () => `drop(broker took ${this.taken})`;
}

export class Connect implements Cmd {
  check = () => true;
  async run(m: Model, w: World) {
    w.connect();
    await settle();
    check(m, w, this.toString());
  }
  toString = () => 'connect';
}

/** The broker restarts without persistence: what it held for the cloud and for the unit is gone. */
export class BrokerLosesState implements Cmd {
  check = () => true;
  async run(m: Model, w: World) {
    const was = w.connected;
    w.drop(0);
    w.brokerQueue = [];
    w.receipts = [];
    w.sessionLost = true;
    if (was) w.connect();
    await settle();
    check(m, w, this.toString());
  }
  toString = () => 'brokerLosesState';
}

/**
 * Time passes with the broker up (it acks every publish) and the cloud silent (it reads nothing):
 * the only writes allowed are first-send marks.
 */
export class Silence implements Cmd {
  constructor(readonly ms: number) {}
  check = () => true;
  async run(m: Model, w: World) {
    const unsentBefore = new Set(
      w
        .rows()
        .filter((r) => r.sent === null)
        .map((r) => r.id),
    );
    const before = w.changes();
    const flagBefore = w.store.meta.get('outbox_resend_all_owed');
    const sentBefore = new Map(w.published);
    await advance(w, this.ms, () => w.ack(WINDOW));
    // Each re-send pass sends a row once; passes are at least a base interval apart.
    const passes = 2 + Math.floor(this.ms / BASE_MS);
    for (const [id, n] of w.published) {
      const during = n - (sentBefore.get(id) ?? 0);
      expect(during, `publishes of one row during ${this}`).toBeLessThanOrEqual(passes);
    }
    noteTaken(m, w);
    const marked = w.rows().filter((r) => r.sent !== null && unsentBefore.has(r.id)).length;
    // ... and the end of a re-send-all after a lost session, recorded once.
    const flag = flagBefore !== w.store.meta.get('outbox_resend_all_owed') ? 1 : 0;
    expect(w.changes() - before, `writes during ${this}: first-send marks only`).toBe(
      marked + flag,
    );
    check(m, w, this.toString());
  }
  toString = () => `silence(${this.ms / 60_000} min)`;
}

export class Housekeep implements Cmd {
  check = () => true;
  async run(m: Model, w: World) {
    const q = new RetentionQueries(w.store.db);
    w.store.tx(() => q.outbox({ maxAgeDays: 0, maxRows: 0 }, w.clock.now(), 10_000));
    check(m, w, this.toString());
  }
  toString = () => 'housekeep';
}

export class Restart implements Cmd {
  check = () => true;
  async run(m: Model, w: World) {
    await settle();
    w.crash();
    w.open();
    await settle();
    check(m, w, this.toString());
  }
  toString = () => 'restart';
}

/**
 * The unit restarts on a file a power cut damaged: the store is recovered fresh (its events are
 * gone — the cloud is told by store.recovered_from_corruption), while receipts the cloud sent for the
 * old store's rows may still be queued at the broker for the unit's session.
 */
export class Corrupt implements Cmd {
  check = () => true;
  async run(m: Model, w: World) {
    await settle();
    w.crash();
    const fd = openSync(w.path, 'r+');
    writeSync(fd, Buffer.alloc(4096, 0x5a), 0, 4096, 0);
    closeSync(fd);
    rmSync(`${w.path}-wal`, { force: true });
    rmSync(`${w.path}-shm`, { force: true });
    m.added.clear();
    m.telemetryTaken.clear();
    w.sentAt.clear();
    w.open(true);
    for (const r of w.rows()) m.added.set(r.id, r.cls);
    await settle();
    check(m, w, this.toString());
  }
  toString = () => 'corrupt';
}

/**
 * The cloud answers from now on: the broker acks, the cloud reads and receipts at once. Within the
 * longest re-send wait plus one base interval everything critical is receipted and nothing is owed.
 */
export class CloudAnswers implements Cmd {
  /** `hello`: the cloud's first act is a message (a receipt of what it holds newest). */
  constructor(readonly hello: boolean) {}
  check = () => true;
  async run(m: Model, w: World) {
    w.connect();
    await settle();
    const newest = Math.max(0, ...w.cloudHas.values());
    const heard = this.hello && newest > 0;
    if (heard) {
      w.receipts.push([[newest, newest]]);
      w.deliverReceipt(w.receipts.length - 1);
    }
    const pump = () => {
      for (let i = 0; i < 50; i++) {
        w.ack(WINDOW);
        w.cloudRead(1_000);
        while (w.receipts.length > 0 && w.deliverReceipt(0));
        if (w.pending.filter((p) => p.gen === w.gen).length === 0 && w.brokerQueue.length === 0)
          return;
      }
    };
    pump();
    // First the drain reaches the end of what it owes (a re-send pass already running — after a
    // reconnect, say — finishes at the pace of the acks) ...
    for (let i = 0; w.drainer.stats.inFlight > 0; i++) {
      expect(i, 'the drain reaches the end of the outbox').toBeLessThan(100);
      await advance(w, SWEEP_MS, pump);
    }
    // ... then, heard from, every row is re-sent at most two base intervals after its last send: a
    // pass re-sends what was sent at least one base interval before it, and passes come one base
    // interval apart once the cloud is heard (a row sent just after a pass waits for the next but
    // one). Not heard (it had nothing to say): the longest wait between passes comes first.
    await advance(w, (heard ? 0 : RESEND_MAX_MS) + 2 * BASE_MS + 2 * SWEEP_MS, pump);
    noteTaken(m, w);
    check(m, w, this.toString());
    const owed = w
      .rows()
      .filter((r) => (r.cls === 'critical' && r.rec === null) || r.sent === null);
    expect(
      owed.map((r) => r.seq),
      'owed after the cloud answered',
    ).toEqual([]);
    for (const [id, cls] of m.added)
      if (cls === 'critical') expect(w.cloudHas.has(id), `the cloud has ${id}`).toBe(true);
  }
  toString = () => `cloudAnswers(${this.hello ? 'hello first' : 'silent until asked'})`;
}

const add = fc
  .tuple(fc.constantFrom<Cls>('critical', 'critical', 'telemetry'), fc.integer({ min: 1, max: 8 }))
  .map(([c, n]) => new Add(c, n));
export const commands = [
  add,
  add,
  fc.integer({ min: 1, max: 20 }).map((n) => new CloudLoses(n)),
  fc.integer({ min: 1, max: WINDOW }).map((n) => new Ack(n)),
  fc.integer({ min: 1, max: WINDOW }).map((n) => new Ack(n)),
  fc.integer({ min: 1, max: WINDOW }).map((n) => new AckWhileBusy(n)),
  fc.tuple(fc.integer({ min: 1, max: 8 }), fc.boolean()).map(([n, d]) => new CloudRead(n, d)),
  fc.tuple(fc.nat(10), fc.boolean()).map(([p, lose]) => new LateReceipt(p, lose)),
  fc.integer({ min: 0, max: WINDOW }).map((n) => new Drop(n)),
  fc.constant(new Connect()),
  fc.constantFrom(SWEEP_MS, BASE_MS, 30 * 60_000, 3 * 3_600_000).map((ms) => new Silence(ms)),
  fc.constantFrom<Cmd>(
    new BrokerLosesState(),
    new Housekeep(),
    new Restart(),
    new Corrupt(),
    new CloudAnswers(true),
    new CloudAnswers(false),
  ),
];
