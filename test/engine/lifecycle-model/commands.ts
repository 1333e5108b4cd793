/**
 * The operations the model-based test interleaves: booking changes through the real apply path,
 * operator actions, call outcomes, time, faults (a held write lock, a full disk) and restarts.
 * Every command runs its action, lets the unit react, then checks every invariant.
 */
import fc from 'fast-check';
import type { BookingInput } from '../../../agent/bookings/schema.js';
import type { SimBehaviorInput } from '../../../hal/simulator/rules.js';
import { OperationError } from '../../../agent/lifecycle/lifecycle.js';
import { dbPathOf, RESTART_HOLD_MS } from '../../../agent/app.js';
import { holdWriteLock } from '../../support/write-lock.js';
import type { LifecycleModel, ModelBooking } from './model.js';
import type { ModelUnit } from './unit.js';
import { checkInvariants } from './invariants.js';

export const CALLEES = ['+4915111111111', '+4915122222222', '+4915133333333'] as const;
export const TEST_CALLEE = '+4915144444444';
const IDS = ['b1', 'b2', 'b3'] as const;

type Cmd = fc.AsyncCommand<LifecycleModel, ModelUnit>;

export interface SpecGen {
  callee: number;
  offsetSec: number;
  daily: boolean;
  retryMax: number;
  backoffSec: number;
  windowSec: number;
  misfire: 'skip' | 'fire_once';
}

const specGen: fc.Arbitrary<SpecGen> = fc.record({
  callee: fc.integer({ min: 0, max: CALLEES.length - 1 }),
  offsetSec: fc.integer({ min: 0, max: 180 }),
  daily: fc.boolean(),
  retryMax: fc.integer({ min: 1, max: 3 }),
  backoffSec: fc.integer({ min: 5, max: 30 }),
  windowSec: fc.constantFrom(60, 900),
  misfire: fc.constantFrom('skip' as const, 'fire_once' as const),
});

function hhmm(t: number): string {
  const d = new Date(t);
  return `${String(d.getUTCHours()).padStart(2, '0')}:${String(d.getUTCMinutes()).padStart(2, '0')}`;
}

function specOf(id: string, version: number, wall: number, g: SpecGen): BookingInput {
  const at = wall + g.offsetSec * 1000;
  return {
    id,
    version,
    callee: CALLEES[g.callee]!,
    agentId: 'model',
    schedule: g.daily
      ? { kind: 'daily', time: hhmm(at + 60_000), zone: 'UTC' }
      : { kind: 'once', at: new Date(at).toISOString() },
    ringTimeoutSec: 10,
    maxDurationSec: 30,
    retry: {
      maxAttempts: g.retryMax,
      initialBackoffSec: g.backoffSec,
      maxBackoffSec: 60,
      jitter: 0,
    },
    catchUpWindowSec: g.windowSec,
    misfire: g.misfire,
  };
}

/** Apply booking commands through the one apply path; the model learns only what was accepted. */
function applyChange(m: LifecycleModel, r: ModelUnit, next: ModelBooking, command: unknown): void {
  const [res] = r.proc.agent.applier.apply([command], { source: 'model' });
  if (res?.status !== 'accepted')
    throw new Error(`a valid change was not accepted: ${JSON.stringify(res)}`);
  m.commit(next, r.now);
  // A call of this booking still ringing when the cancel/pause committed must be hung up at once.
  const busy = r.proc.agent.runner.busy();
  if (busy && next.status !== 'active') {
    const run = r.proc.agent.store.runs.get(busy.runId);
    const a = r.proc.agent.store.runs.getAttempt(busy.attemptId);
    if (run?.bookingId === next.id && a && a.status !== 'active')
      m.ringingAtCancel.push({ attemptId: a.id, wall: r.now });
  }
}

let cmdSeq = 0;
const cid = () => `m-${++cmdSeq}`;

abstract class Step implements Cmd {
  check(_m: Readonly<LifecycleModel>): boolean {
    return true;
  }
  async run(m: LifecycleModel, r: ModelUnit): Promise<void> {
    m.step++;
    await this.act(m, r);
    await r.proc.clock.settle();
    await r.restartIfExited();
    r.collectDials(m.step);
    checkInvariants(m, r);
  }
  abstract act(m: LifecycleModel, r: ModelUnit): Promise<void>;
  abstract toString(): string;
}

class Upsert extends Step {
  constructor(
    readonly id: string,
    readonly g: SpecGen,
  ) {
    super();
  }
  async act(m: LifecycleModel, r: ModelUnit) {
    const spec = specOf(this.id, m.nextVersion(this.id), r.now, this.g);
    applyChange(
      m,
      r,
      { id: this.id, version: spec.version as number, status: 'active', spec },
      { type: 'booking.upsert', commandId: cid(), booking: spec },
    );
  }
  toString() {
    return `upsert(${this.id}, ${JSON.stringify(this.g)})`;
  }
}

/** An edit of a live booking: pause, resume, or a new callee. */
class Edit extends Step {
  constructor(
    readonly id: string,
    readonly what: 'pause' | 'resume' | 'callee',
    readonly callee: number,
  ) {
    super();
  }
  override check(m: Readonly<LifecycleModel>) {
    const b = m.bookings.get(this.id);
    return b !== undefined && b.status !== 'cancelled';
  }
  async act(m: LifecycleModel, r: ModelUnit) {
    const b = m.bookings.get(this.id)!;
    const version = b.version + 1;
    const spec: BookingInput = { ...b.spec, version };
    let status = b.status;
    if (this.what === 'pause') {
      spec.paused = true;
      status = 'paused';
    } else if (this.what === 'resume') {
      spec.paused = false;
      status = 'active';
    } else spec.callee = CALLEES[this.callee]!;
    applyChange(
      m,
      r,
      { id: this.id, version, status, spec },
      {
        type: 'booking.upsert',
        commandId: cid(),
        booking: spec,
      },
    );
  }
  toString() {
    return `edit(${this.id}, ${this.what}${this.what === 'callee' ? ` ${this.callee}` : ''})`;
  }
}

class Cancel extends Step {
  constructor(readonly id: string) {
    super();
  }
  async act(m: LifecycleModel, r: ModelUnit) {
    const prev = m.bookings.get(this.id);
    const version = m.nextVersion(this.id);
    const spec = prev?.spec ?? {
      id: this.id,
      version,
      callee: '',
      agentId: 'model',
      schedule: { kind: 'once', at: '' },
    };
    applyChange(
      m,
      r,
      { id: this.id, version, status: 'cancelled', spec: { ...spec, version } },
      {
        type: 'booking.cancel',
        commandId: cid(),
        bookingId: this.id,
        version,
      },
    );
  }
  toString() {
    return `cancel(${this.id})`;
  }
}

/**
 * Time runs on until a booking's call is up (dialing or ringing), then something happens to it:
 * the booking is cancelled, paused or edited, the store gets busy, or the process dies.
 */
class WhileRinging extends Step {
  constructor(
    readonly what: 'cancel' | 'pause' | 'edit' | 'busy' | 'crash' | 'restart' | 'upgrade',
    readonly callee: number,
  ) {
    super();
  }
  async act(m: LifecycleModel, r: ModelUnit) {
    for (let i = 0; i < 300; i++) {
      const busy = r.proc.agent.runner.busy();
      const run = busy && r.proc.agent.store.runs.get(busy.runId);
      const attempt = busy && r.proc.agent.store.runs.getAttempt(busy.attemptId);
      if (run && run.bookingId && attempt && attempt.status !== 'active') {
        const b = m.bookings.get(run.bookingId);
        if (!b || b.status !== 'active') return;
        // What happened so far is one step; the change that meets the ringing call is the next.
        r.collectDials(m.step);
        checkInvariants(m, r);
        m.step++;
        if (this.what === 'cancel') return await new Cancel(b.id).act(m, r);
        if (this.what === 'pause') return await new Edit(b.id, 'pause', 0).act(m, r);
        if (this.what === 'edit') return await new Edit(b.id, 'callee', this.callee).act(m, r);
        if (this.what === 'busy') return await new Busy(40_000).act(m, r);
        if (this.what === 'upgrade') return await new RestartRequest('restart').act(m, r);
        return await new Restart(this.what === 'crash').act(m, r);
      }
      await r.proc.clock.advance(1_000);
    }
  }
  toString() {
    return `whileRinging(${this.what})`;
  }
}

/**
 * An upgrade (packaging/debian/postinst): SIGUSR2 first, then — as postinst does once the agent
 * says no call is in progress — a graceful restart; or no restart at all (a postinst that died),
 * and the hold runs out on its own. The call in progress at the request must end by itself, never
 * be cut by the restart; nothing new is claimed while the hold lasts (invariant 9).
 */
class RestartRequest extends Step {
  constructor(readonly then: 'restart' | 'none') {
    super();
  }
  async act(m: LifecycleModel, r: ModelUnit) {
    const { agent } = r.proc;
    const inProgress = agent.runner.busy();
    // Calls wait for the hold: at most the call in progress (ring 10 s + 30 s + grace) and the hold.
    m.disturb(r.now, r.now + 60_000 + RESTART_HOLD_MS, 'restart_hold');
    r.requestRestart();
    await r.proc.clock.settle();
    if (this.then === 'none') return;
    // postinst polls the status line once a second until it says "no call in progress".
    for (let i = 0; i < 120 && agent.restartHold()?.state !== 'held'; i++)
      await r.proc.clock.advance(1_000);
    if (agent.restartHold()?.state !== 'held')
      throw new Error(`restart hold never reached "held": ${JSON.stringify(agent.restartHold())}`);
    if (inProgress) {
      const a = agent.store.runs.getAttempt(inProgress.attemptId)!;
      if (a.status !== 'ended' || (a.outcome ?? '').startsWith('interrupted'))
        throw new Error(
          `restart_hold_cut_call: ${a.id} is ${a.status}/${a.outcome} when the hold says no call is in progress`,
        );
      r.holdsWaitedForCall++;
    }
    await r.restart();
  }
  toString() {
    return `restartRequest(then ${this.then})`;
  }
}

/**
 * tzdata upgraded (the package's trigger restarts the agent; or the unit crashed and came back):
 * the new process sees a new version and computes every stored next slot again. The model's zones
 * (UTC) have the same rules in every version, so nothing may move (invariant 10).
 */
class TzdataUpgrade extends Step {
  constructor(readonly kill: boolean) {
    super();
  }
  async act(m: LifecycleModel, r: ModelUnit) {
    r.tzdata = `model-${++r.tzdataUpgrades + 1}`;
    await new Restart(this.kill).act(m, r);
  }
  toString() {
    return `tzdataUpgrade(${this.kill ? 'crash' : 'restart'})`;
  }
}

class Replay extends Step {
  async act(_m: LifecycleModel, r: ModelUnit) {
    const dead = r.proc.agent.store.runs.withStatus('dead', 1)[0];
    if (!dead) return;
    try {
      r.proc.agent.lifecycle.replay(dead.id, 'model', r.now);
      r.proc.agent.poke();
    } catch (err) {
      // A run whose booking was cancelled, paused or moved since is not replayed: that is the rule.
      if (!(err instanceof OperationError) || err.code !== 'conflict') throw err;
    }
  }
  toString() {
    return 'replay(first dead run)';
  }
}

class TestCall extends Step {
  async act(m: LifecycleModel, r: ModelUnit) {
    const run = r.proc.agent.lifecycle.requestTestCall(
      { callee: TEST_CALLEE, requestedBy: 'model', ringTimeoutSec: 10, maxDurationSec: 30 },
      r.now,
    );
    m.testCalls.set(run.id, TEST_CALLEE);
    r.proc.agent.poke();
  }
  toString() {
    return 'testCall()';
  }
}

const behaviors: fc.Arbitrary<SimBehaviorInput> = fc.constantFrom<SimBehaviorInput>(
  { outcome: 'answer', alertAfterMs: 200, answerAfterMs: 2_000, hangupAfterMs: 8_000 },
  { outcome: 'answer', alertAfterMs: 200, answerAfterMs: 1_000, hangupAfterMs: 500 }, // remote hang-up
  { outcome: 'busy', afterMs: 1_000 },
  { outcome: 'no_answer', alertAfterMs: 200 },
  { outcome: 'rejected', alertAfterMs: 200, afterMs: 2_000 },
  { outcome: 'hang' },
  { outcome: 'dial_error', message: 'ERROR' },
  { outcome: 'silent', afterMs: 500 },
);

class SetOutcome extends Step {
  constructor(
    readonly callee: string,
    readonly b: SimBehaviorInput,
  ) {
    super();
  }
  async act(_m: LifecycleModel, r: ModelUnit) {
    r.setRule(this.callee, this.b);
  }
  toString() {
    return `outcome(${this.callee.slice(-2)}, ${this.b.outcome})`;
  }
}

class Advance extends Step {
  constructor(readonly ms: number) {
    super();
  }
  async act(_m: LifecycleModel, r: ModelUnit) {
    await r.proc.clock.advance(this.ms);
  }
  toString() {
    return `advance(${this.ms})`;
  }
}

/** A wall-clock step (NTP, a bad RTC): timers run on monotonic time and do not move. */
class Jump extends Step {
  constructor(readonly ms: number) {
    super();
  }
  async act(m: LifecycleModel, r: ModelUnit) {
    const from = r.now;
    r.proc.clock.setWallTime(from + this.ms);
    // Up to a scheduler tick (60 s) after a jump, and the whole hold after a backward one.
    m.disturb(Math.min(from, from + this.ms), Math.max(from, from + this.ms) + 20 * 60_000, 'jump');
    await r.proc.clock.advance(1_000);
  }
  toString() {
    return `jump(${this.ms})`;
  }
}

/** Another process holds the write lock (a CLI apply): every write of the agent gets SQLITE_BUSY. */
class Busy extends Step {
  constructor(readonly ms: number) {
    super();
  }
  async act(m: LifecycleModel, r: ModelUnit) {
    const from = r.now;
    const lock = holdWriteLock(dbPathOf(r.config));
    try {
      await r.proc.clock.advance(this.ms);
    } finally {
      lock.release();
    }
    m.disturb(from, r.now + 2_500, 'busy');
    await r.proc.clock.advance(2_500); // let the backed-off retries land
  }
  toString() {
    return `busy(${this.ms})`;
  }
}

/** The disk fills up: no page can be added (SQLITE_FULL), then space returns. */
class DiskFull extends Step {
  constructor(readonly ms: number) {
    super();
  }
  async act(m: LifecycleModel, r: ModelUnit) {
    const db = r.proc.agent.store.db;
    const from = r.now;
    db.pragma(`max_page_count = ${db.pragma('page_count', { simple: true }) as number}`);
    try {
      await r.proc.clock.advance(this.ms);
    } finally {
      db.pragma('max_page_count = 1073741823');
    }
    m.disturb(from, r.now + 2_500, 'disk_full');
    await r.proc.clock.advance(2_500);
  }
  toString() {
    return `diskFull(${this.ms})`;
  }
}

class Restart extends Step {
  constructor(readonly kill: boolean) {
    super();
  }
  async act(m: LifecycleModel, r: ModelUnit) {
    m.disturb(r.now, r.now + 1_000, this.kill ? 'crash' : 'restart');
    if (this.kill) await r.crash();
    else await r.restart();
  }
  toString() {
    return this.kill ? 'crash()' : 'restart()';
  }
}

const id = fc.constantFrom(...IDS);
const upsert = fc.tuple(id, specGen).map(([i, g]) => new Upsert(i, g));
const edit = fc
  .tuple(id, fc.constantFrom('pause' as const, 'resume' as const, 'callee' as const), fc.nat(2))
  .map(([i, w, c]) => new Edit(i, w, c));
const setOutcome = fc
  .tuple(fc.constantFrom(...CALLEES, TEST_CALLEE), behaviors)
  .map(([c, b]) => new SetOutcome(c, b));

/** Weighted by repetition: fc.commands picks uniformly from this list. */
export const lifecycleCommands: fc.Arbitrary<Cmd>[] = [
  upsert,
  upsert,
  edit,
  edit,
  id.map((i) => new Cancel(i)),
  id.map((i) => new Cancel(i)),
  fc
    .tuple(
      fc.constantFrom(
        'cancel' as const,
        'pause' as const,
        'edit' as const,
        'busy' as const,
        'crash' as const,
        'restart' as const,
        'upgrade' as const,
      ),
      fc.nat(2),
    )
    .map(([w, c]) => new WhileRinging(w, c)),
  fc.constant(new Replay()),
  fc.constant(new TestCall()),
  setOutcome,
  setOutcome,
  fc.integer({ min: 200, max: 60_000 }).map((ms) => new Advance(ms)),
  fc.integer({ min: 200, max: 60_000 }).map((ms) => new Advance(ms)),
  fc.integer({ min: 60_000, max: 10 * 60_000 }).map((ms) => new Advance(ms)),
  fc.constantFrom(-10 * 60_000, -60_000, 2 * 60_000, 2 * 3_600_000).map((ms) => new Jump(ms)),
  fc.integer({ min: 100, max: 45_000 }).map((ms) => new Busy(ms)),
  fc.integer({ min: 100, max: 20_000 }).map((ms) => new DiskFull(ms)),
  fc.boolean().map((k) => new Restart(k)),
  fc.constantFrom('restart' as const, 'none' as const).map((t) => new RestartRequest(t)),
  fc.boolean().map((k) => new TzdataUpgrade(k)),
];

/** How each callee behaves when a run starts, and the bookings the cloud already sent. */
export const initialState = fc.record({
  behaviors: fc.array(behaviors, { minLength: CALLEES.length + 1, maxLength: CALLEES.length + 1 }),
  bookings: fc.uniqueArray(fc.tuple(id, specGen), {
    minLength: 1,
    maxLength: IDS.length,
    selector: ([i]) => i,
  }),
});

export async function seed(
  m: LifecycleModel,
  r: ModelUnit,
  s: { behaviors: SimBehaviorInput[]; bookings: [string, SpecGen][] },
): Promise<void> {
  [...CALLEES, TEST_CALLEE].forEach((c, i) => r.setRule(c, s.behaviors[i]!));
  for (const [i, g] of s.bookings) await new Upsert(i, g).run(m, r);
}

/** The end of every run: faults gone, time runs on until nothing is owed any more. */
export async function drain(m: LifecycleModel, r: ModelUnit): Promise<void> {
  for (let i = 0; i < 4; i++) {
    m.step++;
    await r.proc.clock.advance(30 * 60_000);
    await r.restartIfExited();
    r.collectDials(m.step);
    checkInvariants(m, r);
  }
}
