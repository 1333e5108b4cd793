/** Checks of the unit's filesystem: the data dir is writable and has room. */
import {
  accessSync,
  constants,
  existsSync,
  rmSync,
  statfsSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { dirname, join } from 'node:path';
import type { Config } from '../config/config.js';
import { fail, ok, warn, type CheckResult, type DoctorEnv } from './types.js';

export function checkDataDir(config: Config): CheckResult {
  const dir = config.dataDir;
  const name = 'data dir';
  const fix = `install -d -o companion -g companion -m 0700 ${dir} (the package's postinst does this)`;
  if (!existsSync(dir)) return fail(name, `${dir} does not exist`, fix);
  if (!statSync(dir).isDirectory()) return fail(name, `${dir} is not a directory`, fix);
  // A real write, not just access(): a read-only mount or a full disk also fails here.
  const probe = join(dir, `.doctor-${process.pid}`);
  try {
    writeFileSync(probe, 'ok');
    rmSync(probe);
  } catch (err) {
    return fail(
      name,
      `${dir} is not writable: ${(err as Error).message}`,
      `chown companion:companion ${dir}`,
    );
  }
  return ok(name, `${dir} is writable`);
}

function nearestExisting(path: string): string {
  let p = path;
  while (!existsSync(p) && dirname(p) !== p) p = dirname(p);
  return p;
}

const mib = (n: number) => `${Math.floor(n / 1024 / 1024)} MiB`;

export function checkDisk(config: Config, env: DoctorEnv): CheckResult {
  const name = 'disk space';
  const where = nearestExisting(config.dataDir);
  const s = statfsSync(where);
  const free = s.bavail * s.bsize;
  const detail = `${mib(free)} free on the filesystem holding ${where}`;
  const fix = `free space on that filesystem (journal: journalctl --vacuum-size=50M; old backups in ${join(config.dataDir, 'backups')})`;
  if (free < env.diskFailBytes) return fail(name, detail, fix);
  if (free < env.diskWarnBytes) return warn(name, detail, fix);
  return ok(name, detail);
}

/** R+W access for the current user (the service user when run as `companion`). */
export function accessible(path: string): boolean {
  try {
    accessSync(path, constants.R_OK | constants.W_OK);
    return true;
  } catch {
    return false;
  }
}
