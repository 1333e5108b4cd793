/**
 * Corrupted database at start: the file is moved aside under <dataDir>/corrupt (kept for analysis),
 * a fresh store is created, a snapshot is marked as needed and the event waits in the outbox. A
 * failed migration is not corruption: it still refuses to start and leaves the file where it was.
 */
import {
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
  openSync,
  writeSync,
  closeSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Store } from '../../agent/store/store.js';
import { MigrationError } from '../../agent/store/db.js';
import { SNAPSHOT_NEEDED_KEY } from '../../agent/store/corrupt-recovery.js';
import { META } from '../../agent/store/meta.js';
import { floorsFileOf } from '../../agent/store/recovery-floors.js';
import { CONNECT_COUNT_KEY } from '../../sync/link/link.js';
import { Agent } from '../../agent/app.js';
import { FakeClock } from '../../agent/clock.js';
import { parseConfig } from '../../agent/config/config.js';
import { createLogger } from '../../agent/log.js';
import { SimulatorModem, SimulatorAudio } from '../../hal/simulator/index.js';
import {
  startEngine,
  booking,
  permissivePolicy,
  upsert,
  type Engine,
  T0,
} from '../support/engine.js';

const dirs: string[] = [];
let e: Engine | null = null;
afterEach(async () => {
  await e?.stop();
  e = null;
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'companion-corrupt-'));
  dirs.push(d);
  return d;
}

/** A real store with one booking, closed cleanly. */
async function storeWithBooking(dir: string): Promise<string> {
  const eng = await startEngine({ dir });
  eng.apply([upsert(booking({ id: 'lost' }))]);
  await eng.stop();
  return join(dir, 'companion.db');
}

const open = (path: string) => Store.open(path, { recoverCorruption: true, now: () => T0 });

describe('degraded mode: corrupted database at start', () => {
  it('garbage over the whole file (SQLITE_NOTADB): moved aside, fresh store, snapshot needed', async () => {
    const dir = tempDir();
    const path = await storeWithBooking(dir);
    const garbage = Buffer.alloc(64 * 1024, 0x5a);
    writeFileSync(path, garbage);
    rmSync(`${path}-wal`, { force: true });

    const store = open(path);
    try {
      expect(store.bookings.get('lost')).toBeNull();
      expect(store.meta.get(SNAPSHOT_NEEDED_KEY)).toBe('recovered_from_corruption');
      const events = store.outbox
        .pending(10)
        .filter((x) => x.type === 'store.recovered_from_corruption');
      expect(events).toHaveLength(1);
      const kept = readdirSync(join(dir, 'corrupt'));
      expect(kept).toHaveLength(1);
      expect(kept[0]).toMatch(/^companion\.db\.2026-12-01T08-00-00-000Z$/);
      expect(readFileSync(join(dir, 'corrupt', kept[0]!)).equals(garbage)).toBe(true);
      expect(store.recoveredFromCorruption?.movedTo).toBe(join(dir, 'corrupt', kept[0]!));
    } finally {
      store.close();
    }
  });

  it('garbage inside the file behind a valid header (found by quick_check): recovered too', async () => {
    const dir = tempDir();
    const path = await storeWithBooking(dir);
    const fd = openSync(path, 'r+');
    writeSync(fd, Buffer.alloc(8 * 4096, 0xa5), 0, 8 * 4096, 4096); // pages 2..9, header intact
    closeSync(fd);
    const store = open(path);
    try {
      expect(store.recoveredFromCorruption).not.toBeNull();
      expect(store.bookings.get('lost')).toBeNull();
    } finally {
      store.close();
    }
  });

  it('the agent starts on a corrupt file and the link asks for a snapshot until one is applied', async () => {
    const dir = tempDir();
    const path = await storeWithBooking(dir);
    writeFileSync(path, Buffer.alloc(8192, 1));
    // The agent's start, with the option the production wiring (agent/main.ts) passes.
    const clock = new FakeClock(T0);
    const agent = new Agent({
      config: parseConfig({ dataDir: dir }),
      clock,
      logger: createLogger({ level: 'silent' }),
      modem: new SimulatorModem({ timers: clock }),
      audio: new SimulatorAudio({ timers: clock }),
      dialGuard: permissivePolicy(),
      openOptions: { recoverCorruption: true, now: () => clock.now() },
    });
    await agent.start();
    const store = agent.store;
    // The need is recorded for the link: it asks for a snapshot until one heals it.
    expect(agent.sync.snapshotNeeded()).toMatchObject({ reason: 'recovered_from_corruption' });
    store.tx(() => agent.sync.position.noteSnapshot(0, clock.now()));
    expect(agent.sync.snapshotNeeded()).toBeNull();
    expect(store.meta.get(SNAPSHOT_NEEDED_KEY)).toBeNull();
    expect(store.outbox.pending(10).map((x) => x.type)).toContain(
      'store.recovered_from_corruption',
    );
    await agent.stop();
  });

  // Found by test/sync/outbox-delivery.model.test.ts: the fresh store began its outbox at seq 1
  // again, so a receipt still queued for the damaged store's row 1 marked the recovery event as
  // stored by a cloud that never saw it. The sequence continues; it is never reused.
  it("the fresh store continues the damaged store's outbox sequence and connect count when its file can be read", async () => {
    const dir = tempDir();
    const path = await storeWithBooking(dir);
    const before = Store.open(path);
    const used = (
      before.db.prepare("SELECT seq FROM sqlite_sequence WHERE name = 'outbox'").get() as {
        seq: number;
      }
    ).seq;
    const page = (
      before.db
        .prepare("SELECT rootpage AS p FROM sqlite_master WHERE name = 'bookings'")
        .get() as {
        p: number;
      }
    ).p;
    const seqPage = (
      before.db
        .prepare("SELECT rootpage AS p FROM sqlite_master WHERE name = 'sqlite_sequence'")
        .get() as { p: number }
    ).p;
    before.tx(() => before.meta.set(META.connectCount, 57));
    before.db.pragma('wal_checkpoint(TRUNCATE)');
    before.close();
    expect(used).toBeGreaterThan(0);
    expect(page).not.toBe(seqPage);
    // One table's page damaged (found by quick_check); sqlite_sequence still readable.
    const fd = openSync(path, 'r+');
    writeSync(fd, Buffer.alloc(4096, 0xa5), 0, 4096, (page - 1) * 4096);
    closeSync(fd);
    const store = open(path);
    try {
      const carried = {
        previous: { outboxSeq: used, connectCount: 57 },
        floors: { outboxSeq: used, connectCount: 57 },
      };
      expect(store.recoveredFromCorruption).toMatchObject(carried);
      const [ev] = store.outbox.pending(10);
      expect(ev).toMatchObject({ type: 'store.recovered_from_corruption', seq: used + 1 });
      expect(ev!.payload).toMatchObject(carried);
      // The next connect is the 58th: its `online` ranks above the damaged store's last `lost`.
      expect(CONNECT_COUNT_KEY).toBe(META.connectCount);
      expect(store.meta.getNumber(CONNECT_COUNT_KEY)).toBe(57);
    } finally {
      store.close();
    }
  });

  it('an unreadable damaged file: sequence and connect count jump past the clock, and past an earlier guess at the same clock', async () => {
    const dir = tempDir();
    const path = await storeWithBooking(dir);
    writeFileSync(path, Buffer.alloc(64 * 1024, 0x5a));
    rmSync(`${path}-wal`, { force: true });
    const first = open(path);
    const [ev1] = first.outbox.pending(1);
    expect(first.recoveredFromCorruption?.previous).toEqual({
      outboxSeq: null,
      connectCount: null,
    });
    expect(ev1?.seq).toBe(T0 + 1);
    expect(first.meta.getNumber(META.connectCount)).toBe(Math.floor(T0 / 1000));
    first.close();
    // Damaged again, unreadable again, and the clock reads what it read last time (a unit
    // without a real-time clock boots at the same time after every power cut).
    writeFileSync(path, Buffer.alloc(64 * 1024, 0x5b));
    rmSync(`${path}-wal`, { force: true });
    const second = open(path);
    try {
      const [ev2] = second.outbox.pending(1);
      expect(ev2?.seq).toBe(T0 + 2 ** 40 + 1);
      expect(second.meta.getNumber(META.connectCount)).toBe(Math.floor(T0 / 1000) + 2 ** 30);
      expect(JSON.parse(readFileSync(floorsFileOf(path), 'utf8'))).toEqual({
        outboxSeq: T0 + 2 ** 40,
        connectCount: Math.floor(T0 / 1000) + 2 ** 30,
      });
    } finally {
      second.close();
    }
  });

  it('a failed migration is not corruption: still refused, the file stays where it was', () => {
    const dir = tempDir();
    const path = join(dir, 'companion.db');
    const s = Store.open(path);
    s.db.pragma('user_version = 999');
    s.close();
    expect(() => open(path)).toThrow(MigrationError);
    expect(readdirSync(dir)).not.toContain('corrupt');
  });
});
