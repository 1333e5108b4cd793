/** Checks of the store: it opens, is intact, its schema is what this build expects; the clock. */
import { existsSync } from 'node:fs';
import type { Config } from '../config/config.js';
import { dbPathOf } from '../app.js';
import { loadMigrations, openDb, schemaVersion, type Db } from '../store/db.js';
import { MetaStore } from '../store/meta.js';
import { ClockTrust } from '../clock-trust.js';
import { FakeClock } from '../clock.js';
import { fail, ok, warn, type CheckResult, type DoctorEnv } from './types.js';

/** Opens read-only: the doctor never migrates or writes the unit's database. */
export function checkStore(config: Config, env: DoctorEnv): CheckResult[] {
  const path = dbPathOf(config);
  const name = 'database';
  if (!existsSync(path)) {
    return [
      warn(
        name,
        `no database at ${path} yet`,
        'start the agent once: systemctl start companion-agent',
      ),
      clockResult(config, env, null),
    ];
  }
  let db: Db;
  try {
    db = openDb(path, { readonly: true });
  } catch (err) {
    return [
      fail(
        name,
        `cannot open ${path}: ${(err as Error).message}`,
        'check ownership (companion) and restore a backup from backups/ if it is corrupt',
      ),
      clockResult(config, env, null),
    ];
  }
  try {
    return [schemaResult(db, path), clockResult(config, env, db)];
  } finally {
    db.close();
  }
}

function schemaResult(db: Db, path: string): CheckResult {
  const name = 'database';
  const integrity = db.pragma('quick_check', { simple: true }) as string;
  if (integrity !== 'ok') {
    return fail(
      name,
      `${path} failed quick_check: ${integrity}`,
      'stop the agent and restore the newest file from backups/',
    );
  }
  const have = schemaVersion(db);
  const want = loadMigrations().at(-1)?.version ?? 0;
  if (have > want) {
    return fail(
      name,
      `schema v${have} is newer than this agent (v${want})`,
      'install the newer agent package again',
    );
  }
  if (have < want) {
    return warn(
      name,
      `schema v${have}, this agent migrates it to v${want} at next start (after a backup)`,
      'restart the agent: systemctl restart companion-agent',
    );
  }
  return ok(name, `${path} opens, intact, schema v${have} current`);
}

function clockResult(config: Config, env: DoctorEnv, db: Db | null): CheckResult {
  const name = 'clock';
  const floorMs = Date.parse(config.clock.floor);
  const now = env.now() + config.clock.offsetMs;
  const fix =
    "sync the time (timedatectl; check NTP / the modem's network time); calls are held until then";
  if (db === null) {
    if (now < floorMs)
      return fail(name, `clock reads ${new Date(now).toISOString()}, before this build`, fix);
    return ok(name, `clock reads ${new Date(now).toISOString()} (no database to compare with)`);
  }
  // Frozen at the instant measured above; evaluate() only reads the store.
  const trust = new ClockTrust(new MetaStore(db), new FakeClock(now), {
    floorMs,
    backwardToleranceMs: config.clock.backwardToleranceSec * 1000,
  }).evaluate();
  if (!trust.trusted) return fail(name, trust.message, fix);
  return ok(name, `clock trusted (${new Date(now).toISOString()})`);
}
