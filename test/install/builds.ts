/**
 * The two packages the install test needs: A, the package as it ships (built here, or the one
 * `scripts/check-deb.sh` just built, via INSTALL_TEST_DEB), and B, the "next release": the same
 * tree with a version above A's, one new migration and changed package defaults, built through
 * the same scripts/build-deb.sh (its DEB_VERSION and DEB_OVERLAY knobs).
 */
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { run, tail } from './container.js';

export interface Deb {
  path: string;
  version: string;
  /** Newest database schema version the package's agent knows. */
  schema: number;
}

/** Fields of a .deb's control file. */
function control(path: string, field: string): string {
  const r = run('dpkg-deb', ['-f', path, field]);
  if (r.code !== 0) throw new Error(`dpkg-deb -f ${path}: ${r.err}`);
  return r.out.trim();
}

function schemaOf(path: string): number {
  const r = run('sh', [
    '-c',
    'dpkg-deb --fsys-tarfile "$1" | tar -xOf - ./usr/lib/companion-agent/schema-version',
    'sh',
    path,
  ]);
  const n = Number(r.out.trim());
  if (r.code !== 0 || !Number.isInteger(n) || n < 1) {
    throw new Error(`${path}: no schema-version in the package (${r.err})`);
  }
  return n;
}

export function describeDeb(path: string): Deb {
  return { path, version: control(path, 'Version'), schema: schemaOf(path) };
}

function buildDeb(env: NodeJS.ProcessEnv, log: (s: string) => void): string {
  const r = run('sh', ['scripts/build-deb.sh'], {
    env: { ...process.env, ...env },
    timeoutMs: 15 * 60_000,
  });
  if (r.code !== 0) throw new Error(`build-deb failed:\n${tail(r.out + r.err, 30)}`);
  const line = r.out.split('\n').find((l) => l.startsWith('build-deb: /')) ?? '';
  log(line);
  const m = /^build-deb: (\S+\.deb)/.exec(line);
  if (!m) throw new Error(`build-deb did not name its package:\n${tail(r.out, 10)}`);
  return m[1]!;
}

/** Package A: the one given (CI passes check-deb's), else built now exactly as a release is. */
export function packageA(given: string | undefined, log: (s: string) => void): Deb {
  if (given) {
    log(`package A: ${given} (given)`);
    return describeDeb(given);
  }
  return describeDeb(buildDeb({}, log));
}

/** What package B changes in the package defaults, and what the test expects of it. */
export const B_DEFAULTS = {
  /** A default B changes that no operator file sets: the new value must take effect. */
  changed: { path: 'backups.keep', value: 4 },
  /** A default B changes that the operator's config.json overrides: the operator's value stays. */
  overridden: { path: 'runner.hangGraceSec', value: 40 },
};

/** The column the new migration adds, with the value every row already there gets. */
export const B_MIGRATION = { column: 'install_test_note', value: 'kept across the upgrade' };

/** Package B: A's tree plus a new migration and changed defaults, under a higher version. */
export function packageB(a: Deb, work: string, log: (s: string) => void): Deb {
  const overlay = join(work, 'overlay');
  const lib = join(overlay, 'usr', 'lib', 'companion-agent');
  const migrations = join(lib, 'dist', 'agent', 'store', 'migrations');
  mkdirSync(migrations, { recursive: true });
  const n = a.schema + 1;
  writeFileSync(
    join(migrations, `${String(n).padStart(4, '0')}_install_test_upgrade.sql`),
    `-- Install test only: the "next release" adds a column and a table.\n` +
      `ALTER TABLE bookings ADD COLUMN ${B_MIGRATION.column} TEXT NOT NULL DEFAULT '${B_MIGRATION.value}';\n` +
      `CREATE TABLE install_test_marker (id INTEGER PRIMARY KEY) STRICT;\n`,
  );
  const defaults = JSON.parse(readFileSync('packaging/debian/defaults.json', 'utf8')) as Record<
    string,
    Record<string, unknown>
  >;
  defaults.backups = { ...defaults.backups, keep: B_DEFAULTS.changed.value };
  defaults.runner = { ...defaults.runner, hangGraceSec: B_DEFAULTS.overridden.value };
  writeFileSync(join(lib, 'defaults.json'), JSON.stringify(defaults, null, 2) + '\n');
  const version = `${a.version}+installtest1`;
  const path = buildDeb(
    // B is a throwaway: left uncompressed, it packs in seconds where xz takes a minute or more.
    { SKIP_BUILD: '1', DEB_VERSION: version, DEB_OVERLAY: overlay, DEB_COMPRESS: 'none' },
    log,
  );
  const b = describeDeb(path);
  if (b.schema !== n) throw new Error(`package B has schema ${b.schema}, expected ${n}`);
  return b;
}

/** Both packages into one directory for the container to see read-only. */
export function stageDebs(debs: Deb[], dir: string): Record<string, string> {
  mkdirSync(dir, { recursive: true });
  const inside: Record<string, string> = {};
  for (const d of debs) {
    copyFileSync(d.path, join(dir, basename(d.path)));
    inside[d.version] = `/mnt/debs/${basename(d.path)}`;
  }
  return inside;
}
