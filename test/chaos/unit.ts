/**
 * The unit under test: a real agent child process (dist build), its config file, data dir and the
 * simulator's fsynced dial log. Restarts take per-incarnation overrides (clock offset, a disk-full
 * cap), which is how clock jumps and full disks are injected without touching the agent's code.
 */
import {
  writeFileSync,
  existsSync,
  readFileSync,
  openSync,
  writeSync,
  closeSync,
  statSync,
} from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { sigkill, startAgentProcess, type AgentProcess } from '../support/agent-process.js';

export const UNIT_ID = 'chaos-unit';

/** Numbers whose prefix rule injects a modem fault (the simulator's rules are static per child). */
export const FAULT_NUMBERS = {
  busy: '+4915111',
  silent: '+4915122',
  drop_port: '+4915133',
  hang: '+4915144',
  no_answer: '+4915155',
} as const;
export type ModemFault = keyof typeof FAULT_NUMBERS;

export interface Incarnation {
  offsetMs: number;
  maxPageCount: number;
}

export class ChaosUnit {
  readonly dbPath: string;
  readonly dialLog: string;
  private readonly configPath: string;
  private proc: AgentProcess | null = null;
  offsetMs = 0;
  starts = 0;

  constructor(
    readonly dir: string,
    private readonly mqttUrl: string,
  ) {
    this.dbPath = join(dir, 'companion.db');
    this.dialLog = join(dir, 'dials.jsonl');
    this.configPath = join(dir, 'config.json');
  }

  get running(): boolean {
    return (
      this.proc !== null && this.proc.child.exitCode === null && this.proc.child.signalCode === null
    );
  }

  output(): string {
    return this.proc?.output() ?? '';
  }

  /** The disk-full cap of the incarnation running now (0: none). */
  maxPageCount = 0;

  async start(over: Partial<Incarnation> = {}): Promise<void> {
    if (over.offsetMs !== undefined) this.offsetMs = over.offsetMs;
    this.maxPageCount = over.maxPageCount ?? 0;
    this.writeConfig({ offsetMs: this.offsetMs, maxPageCount: this.maxPageCount });
    const p = startAgentProcess(this.configPath);
    this.proc = p;
    this.starts++;
    await p.ready;
  }

  async kill(): Promise<void> {
    if (this.proc) await sigkill(this.proc);
    this.proc = null;
  }

  async terminate(): Promise<void> {
    const p = this.proc;
    if (!p) return;
    this.proc = null;
    if (p.child.exitCode === null && p.child.signalCode === null) {
      p.child.kill('SIGTERM');
      const t = setTimeout(() => p.child.kill('SIGKILL'), 10_000);
      await p.exited;
      clearTimeout(t);
    }
  }

  /** A read-only look at the unit's database while it runs (WAL lets readers in). */
  read<T>(fn: (db: Database.Database) => T): T | null {
    if (!existsSync(this.dbPath)) return null;
    let db: Database.Database | null = null;
    try {
      db = new Database(this.dbPath, { readonly: true, fileMustExist: true });
      db.pragma('busy_timeout = 2000');
      return fn(db);
    } catch {
      return null;
    } finally {
      db?.close();
    }
  }

  pageCount(): number {
    return this.read((db) => db.pragma('page_count', { simple: true }) as number) ?? 0;
  }

  /** Nothing owed to the cloud and no call in progress: a moment where history is all delivered. */
  quiet(): boolean {
    return (
      this.read((db) => {
        // The cloud holds everything: nothing unsent, no critical event it has not receipted.
        const unsent = db
          .prepare(
            `SELECT count(*) AS n FROM outbox WHERE receipted_at IS NULL AND (sent_at IS NULL OR class = 'critical')`,
          )
          .get() as { n: number };
        // A run waiting for its retry is fine: the cloud knows it is owed, and its snapshot says so.
        const busy = db
          .prepare(`SELECT count(*) AS n FROM runs WHERE status = 'running'`)
          .get() as { n: number };
        return unsent.n === 0 && busy.n === 0;
      }) ?? false
    );
  }

  /** What keeps the unit from being quiet, for the error message when it never goes quiet. */
  owedSummary(): string {
    return (
      this.read((db) => {
        const rows = db
          .prepare(
            `SELECT seq, type, class, sent_at FROM outbox WHERE receipted_at IS NULL AND (sent_at IS NULL OR class = 'critical') ORDER BY seq LIMIT 5`,
          )
          .all();
        const running = db
          .prepare(`SELECT id, booking_id, status FROM runs WHERE status = 'running' LIMIT 5`)
          .all();
        return JSON.stringify({ outbox: rows, running });
      }) ?? 'database unreadable'
    );
  }

  /** Garbage over the database (the agent is down): header kept or not, chosen by the caller. */
  corrupt(keepHeader: boolean, random: () => number): void {
    // Everything into the main file first: garbage over a file whose pages all live in the WAL
    // would only act out a lost WAL, not a corrupt database.
    const db = new Database(this.dbPath);
    db.pragma('wal_checkpoint(TRUNCATE)');
    db.close();
    const size = Math.max(statSync(this.dbPath).size, 8192);
    const junk = Buffer.alloc(Math.min(size, 256 * 1024));
    for (let i = 0; i < junk.length; i++) junk[i] = Math.floor(random() * 256);
    const fd = openSync(this.dbPath, 'r+');
    try {
      writeSync(fd, junk, 0, junk.length - (keepHeader ? 4096 : 0), keepHeader ? 4096 : 0);
    } finally {
      closeSync(fd);
    }
    // The WAL would otherwise carry intact pages over the garbage.
    for (const s of ['-wal', '-shm'])
      if (existsSync(this.dbPath + s)) writeFileSync(this.dbPath + s, '');
  }

  dials(): { callId: string; number: string; at: number }[] {
    if (!existsSync(this.dialLog)) return [];
    return readFileSync(this.dialLog, 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as { callId: string; number: string; at: number });
  }

  private writeConfig(i: Incarnation): void {
    const fault = (prefix: string, rule: Record<string, unknown>) => ({
      number: `${prefix}*`,
      ...rule,
    });
    writeFileSync(
      this.configPath,
      JSON.stringify({
        unitId: UNIT_ID,
        dataDir: this.dir,
        log: { level: 'info' },
        diagnostics: { enabled: false },
        clock: { offsetMs: i.offsetMs, backwardToleranceSec: 5 },
        storage: { maxPageCount: i.maxPageCount },
        scheduler: { externalPollSec: 1, maxSleepSec: 5 },
        runner: { hangGraceSec: 2 },
        dialPolicy: { maxCallsPerHour: 100000, maxCallsPerDay: 100000, quietHours: null },
        hal: {
          modem: {
            driver: 'simulator',
            simulator: {
              dialLogPath: this.dialLog,
              silenceDetectMs: 1000,
              recoveryMs: 500,
              defaultRule: {
                outcome: 'answer',
                alertAfterMs: 20,
                answerAfterMs: 60,
                hangupAfterMs: 150,
              },
              rules: [
                fault(FAULT_NUMBERS.busy, { outcome: 'busy', afterMs: 80 }),
                fault(FAULT_NUMBERS.silent, { outcome: 'silent', afterMs: 50 }),
                fault(FAULT_NUMBERS.drop_port, { outcome: 'drop_port', afterMs: 50, downMs: 500 }),
                fault(FAULT_NUMBERS.hang, { outcome: 'hang' }),
                fault(FAULT_NUMBERS.no_answer, { outcome: 'no_answer', alertAfterMs: 20 }),
              ],
            },
          },
        },
        mqtt: {
          enabled: true,
          url: this.mqttUrl,
          // Short keepalive: a blackholed (half-open) link is noticed in ~1.5 keepalives.
          keepaliveSec: 5,
          connectTimeoutMs: 2000,
          reconnect: { minMs: 200, maxMs: 2000 },
          sessionExpirySec: 3600,
          willDelaySec: 60,
          signature: { required: false },
        },
      }),
    );
  }
}
