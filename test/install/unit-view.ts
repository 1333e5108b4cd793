/** What the install test reads off the booted unit: systemd's view of the service, runs, the store. */
import type { BootedContainer } from './container.js';
import { sleep } from './container.js';

export interface RunView {
  runId: string;
  bookingId: string | null;
  slotAt: string;
  status: string;
  attempts?: {
    status: string;
    outcome: string | null;
    dialAt: string | null;
    answeredAt: string | null;
    endedAt: string | null;
    latenessMs: number | null;
  }[];
}

const PROPS = [
  'ActiveState',
  'SubState',
  'Type',
  'MainPID',
  'NRestarts',
  'WatchdogUSec',
  'WatchdogTimestampMonotonic',
  'ActiveEnterTimestamp',
  'ActiveEnterTimestampMonotonic',
  'ActiveExitTimestampMonotonic',
  'InactiveEnterTimestampMonotonic',
];

export class UnitView {
  constructor(private readonly c: BootedContainer) {}

  state(): Record<string, string | undefined> {
    return this.c.show('companion-agent.service', PROPS);
  }

  /** A timestamp property of the service as wall time in ms (systemd's µs, in UTC). */
  wallTime(prop: string): number {
    const v = this.c
      .exec(`systemctl show --timestamp=us+utc -p ${prop} --value companion-agent.service`)
      .out.trim();
    const m = /(\d{4}-\d{2}-\d{2}) (\d{2}:\d{2}:\d{2})\.(\d{6}) UTC$/.exec(v);
    if (!m) throw new Error(`${prop}: not a timestamp: ${JSON.stringify(v)}`);
    return Date.parse(`${m[1]}T${m[2]}Z`) + Number(m[3]) / 1000;
  }

  async waitFor(pred: () => boolean, timeoutMs: number, what: string): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!pred()) {
      if (Date.now() > deadline)
        throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
      await sleep(500);
    }
  }

  /** `companion-agent runs --json` until the booking's run satisfies `pred`. */
  async waitForRun(
    bookingId: string,
    pred: (r: RunView) => boolean,
    timeoutMs: number,
  ): Promise<RunView> {
    let last: RunView | undefined;
    let raw = '';
    try {
      await this.waitFor(
        () => {
          const r = this.c.exec('companion-agent runs --json --limit 50');
          raw = r.out + r.err;
          if (r.code !== 0) return false;
          const v = JSON.parse(r.out) as { upcoming: RunView[]; recent: RunView[] };
          last = [...v.recent, ...v.upcoming].find((x) => x.bookingId === bookingId);
          return last !== undefined && pred(last);
        },
        timeoutMs,
        `run of ${bookingId}`,
      );
    } catch (err) {
      throw new Error(`${(err as Error).message}; last seen: ${JSON.stringify(last) ?? raw}`);
    }
    return last!;
  }

  /** A read-only query on the unit's store (or a backup), through the packaged node and SQLite, as the service user. */
  sql(query: string, db = '/var/lib/companion-agent/companion.db'): unknown[] {
    const js = `const D = require('/usr/lib/companion-agent/node_modules/better-sqlite3');
const db = new D(process.argv[1], { readonly: true, fileMustExist: true });
process.stdout.write(JSON.stringify(db.prepare(process.argv[2]).all()));`;
    const r = this.c.exec(
      `cd / && runuser -u companion -- /usr/lib/companion-agent/node/bin/node -e "$(echo ${Buffer.from(js).toString('base64')} | base64 -d)" ${shq(db)} ${shq(query)}`,
    );
    if (r.code !== 0) throw new Error(`sql failed: ${r.err}`);
    return JSON.parse(r.out) as unknown[];
  }
}

const shq = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
