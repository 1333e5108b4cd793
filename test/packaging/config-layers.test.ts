/**
 * Config layers as a packaged unit has them: the package's defaults, the operator's config.json and
 * config.d drop-ins, the environment. Real files in a temp dir; the CLI runs as a real child process.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfigLayers } from '../../agent/config/config.js';
import { layerFiles } from '../../agent/config/layers.js';
import { assertBuilt, CLI } from '../support/agent-process.js';
import { tempDir } from './support.js';

interface Unit {
  defaults: string;
  etc: string;
}

function unit(files: Record<string, unknown>): Unit {
  const root = tempDir('layers');
  const defaults = join(root, 'usr', 'lib', 'companion-agent', 'defaults.json');
  const etc = join(root, 'etc', 'companion-agent');
  mkdirSync(join(etc, 'config.d'), { recursive: true });
  mkdirSync(join(root, 'usr', 'lib', 'companion-agent'), { recursive: true });
  writeFileSync(
    defaults,
    JSON.stringify({
      version: 1,
      unitId: 'unprovisioned',
      dataDir: join(root, 'var'),
      backups: { keep: 3 },
      hal: { modem: { driver: 'at', at: { path: '/dev/ttyUSB2' } } },
      dialPolicy: { quietHours: { start: '21:30', end: '07:30', zone: 'Europe/Berlin' } },
    }),
  );
  for (const [name, content] of Object.entries(files)) {
    const p = join(etc, name);
    mkdirSync(join(p, '..'), { recursive: true });
    writeFileSync(p, typeof content === 'string' ? content : JSON.stringify(content));
  }
  return { defaults, etc };
}

const load = (u: Unit, env: NodeJS.ProcessEnv = {}, path?: string) =>
  loadConfigLayers({ defaultsFile: u.defaults, configDir: u.etc, path: path ?? null, env });

function errorOf(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw err;
  }
  throw new Error('expected a ConfigError');
}

describe('config layers', () => {
  it('later layers win, key by key: defaults < config.json < config.d in name order < environment', () => {
    const u = unit({
      'config.json': { unitId: 'from-config-json', backups: { keep: 5 }, log: { level: 'warn' } },
      'config.d/20-site.json': {
        unitId: 'from-20',
        hal: { modem: { at: { dialect: 'quectel' } } },
      },
      'config.d/10-unit.json': { unitId: 'from-10', log: { level: 'debug' } },
      // Byte order, not numeric: "9-" sorts after "20-".
      'config.d/9-late.json': { unitId: 'from-9' },
    });
    const { config, files, sources } = load(u, { COMPANION_BACKUPS__KEEP: '7' });
    expect(files).toEqual([
      u.defaults,
      join(u.etc, 'config.json'),
      join(u.etc, 'config.d', '10-unit.json'),
      join(u.etc, 'config.d', '20-site.json'),
      join(u.etc, 'config.d', '9-late.json'),
    ]);
    expect(config.unitId).toBe('from-9');
    expect(config.log.level).toBe('debug');
    expect(config.backups.keep).toBe(7);
    // Objects merge: the drop-in's dialect joins the defaults' driver and path.
    expect(config.hal.modem.driver).toBe('at');
    expect(config.hal.modem.at).toMatchObject({ path: '/dev/ttyUSB2', dialect: 'quectel' });
    expect(sources).toMatchObject({
      unitId: join(u.etc, 'config.d', '9-late.json'),
      'log.level': join(u.etc, 'config.d', '10-unit.json'),
      'backups.keep': 'environment (COMPANION_BACKUPS__KEEP)',
      'hal.modem.driver': u.defaults,
      'hal.modem.at.path': u.defaults,
      'hal.modem.at.dialect': join(u.etc, 'config.d', '20-site.json'),
    });
    // Values nobody set come from the schema and are not listed.
    expect(sources['runner.hangGraceSec']).toBeUndefined();
    expect(config.runner.hangGraceSec).toBe(30);
  });

  it('null and arrays replace what a lower layer said, and take its place in the sources', () => {
    const u = unit({
      'config.d/50-nights.json': { dialPolicy: { quietHours: null, allowedCountries: ['DE'] } },
    });
    const { config, sources } = load(u);
    expect(config.dialPolicy.quietHours).toBeNull();
    expect(config.dialPolicy.allowedCountries).toEqual(['DE']);
    const dropIn = join(u.etc, 'config.d', '50-nights.json');
    expect(sources['dialPolicy.quietHours']).toBe(dropIn);
    expect(sources['dialPolicy.quietHours.start']).toBeUndefined();
    expect(sources['dialPolicy.allowedCountries']).toBe(dropIn);
  });

  it('only config.d/*.json counts: editor and dpkg leftovers, dotfiles and directories are ignored', () => {
    const u = unit({
      'config.d/10-unit.json': { unitId: 'real' },
      'config.d/10-unit.json~': '{"unitId": "editor-backup"}',
      'config.d/10-unit.json.dpkg-old': '{"unitId": "dpkg-old"}',
      'config.d/.hidden.json': '{"unitId": "hidden"}',
      'config.d/notes.txt': 'not json at all',
      'config.d/dir.json/x': 'a directory named like a drop-in',
    });
    const { config, files } = load(u);
    expect(config.unitId).toBe('real');
    expect(files).toEqual([u.defaults, join(u.etc, 'config.d', '10-unit.json')]);
  });

  it('every problem of every file at once, each with the file that holds it', () => {
    const u = unit({
      'config.json': { backups: { keep: 0 } },
      'config.d/10-broken.json': '{"unitId": ',
      'config.d/20-future.json': { version: 99 },
      'config.d/30-typo.json': { unitid: 'u-1', runner: { leseSec: 30 } },
      'config.d/40-bad-value.json': { scheduler: { maxSleepSec: 600 } },
    });
    const err = errorOf(() => load(u, { COMPANION_LOG__LEVEL: 'loud' }));
    const got = err.issues.map((i) => [i.path, i.source?.replace(`${u.etc}/`, '')]);
    expect(got).toEqual(
      expect.arrayContaining([
        ['', 'config.d/10-broken.json'],
        ['version', 'config.d/20-future.json'],
        ['backups.keep', 'config.json'],
        ['unitid', 'config.d/30-typo.json'],
        ['runner.leseSec', 'config.d/30-typo.json'],
        ['scheduler.maxSleepSec', 'config.d/40-bad-value.json'],
        ['log.level', 'environment (COMPANION_LOG__LEVEL)'],
      ]),
    );
    expect(err.issues).toHaveLength(7);
    expect(err.issues.find((i) => i.path === 'unitid')?.message).toBe('unknown key');
    expect(err.message).toContain('not valid JSON');
    expect(err.message).toContain('[' + join(u.etc, 'config.d', '40-bad-value.json') + ']');
  });

  it('the package defaults must exist once named; the operator directory and its files may not', () => {
    const u = unit({});
    expect(load(u).files).toEqual([u.defaults]);
    const missing = errorOf(() =>
      loadConfigLayers({ defaultsFile: join(u.etc, 'nope.json'), configDir: u.etc, env: {} }),
    );
    expect(missing.issues[0]!.message).toMatch(/config file not found/);
    expect(
      loadConfigLayers({ configDir: join(u.etc, 'does-not-exist'), env: {} }).config.unitId,
    ).toBe('dev-unit');
  });

  it('--config FILE takes the place of the operator directory, not of the package defaults', () => {
    const u = unit({ 'config.d/10-unit.json': { unitId: 'from-dir' } });
    const other = join(u.etc, '..', 'other.json');
    writeFileSync(other, JSON.stringify({ unitId: 'from-flag' }));
    const { config, files } = load(u, {}, other);
    expect(config.unitId).toBe('from-flag');
    expect(config.hal.modem.driver).toBe('at'); // still the package's default
    expect(files).toEqual([u.defaults, other]);
    expect(layerFiles({ path: other, configDir: u.etc }).map((f) => f.file)).toEqual([other]);
  });

  it('the environment picks the layers (the wrapper sets them), and is not mistaken for config', () => {
    const u = unit({ 'config.d/10-unit.json': { unitId: 'via-env' } });
    const { config } = loadConfigLayers({
      env: { COMPANION_DEFAULTS_FILE: u.defaults, COMPANION_CONFIG_DIR: u.etc },
    });
    expect(config.unitId).toBe('via-env');
  });
});

describe('companion-agent config check', () => {
  beforeAll(() => assertBuilt());
  const cli = (args: string[], env: NodeJS.ProcessEnv) => {
    const r = spawnSync(process.execPath, [CLI, ...args], {
      env: { PATH: process.env.PATH, ...env },
      encoding: 'utf8',
    });
    return { code: r.status, out: r.stdout, err: r.stderr };
  };

  it('says where each value came from, as text and as JSON', () => {
    const u = unit({
      'config.d/10-unit.json': { unitId: 'unit-0042', mqtt: { password: 's3cr3t' } },
    });
    const env = { COMPANION_DEFAULTS_FILE: u.defaults, COMPANION_CONFIG_DIR: u.etc };
    const text = cli(['config', 'check'], { ...env, COMPANION_LOG__LEVEL: 'debug' });
    expect(text.code).toBe(0);
    expect(text.out).toMatch(
      new RegExp(
        `^  unitId +${join(u.etc, 'config.d', '10-unit.json').replace(/[.]/g, '\\.')}$`,
        'm',
      ),
    );
    expect(text.out).toMatch(/^ {2}log\.level +environment \(COMPANION_LOG__LEVEL\)$/m);
    expect(text.out).toMatch(
      new RegExp(`^  hal\\.modem\\.driver +${u.defaults.replace(/[.]/g, '\\.')}$`, 'm'),
    );
    expect(text.out).not.toContain('s3cr3t');
    const json = JSON.parse(cli(['config', 'check', '--json'], env).out) as {
      config: { unitId: string; mqtt: { password: string } };
      files: string[];
      sources: Record<string, string>;
    };
    expect(json.config.unitId).toBe('unit-0042');
    expect(json.config.mqtt.password).toBe('[redacted]');
    expect(json.files).toEqual([u.defaults, join(u.etc, 'config.d', '10-unit.json')]);
    expect(json.sources['mqtt.password']).toBe(join(u.etc, 'config.d', '10-unit.json'));
  });

  it('lists every error with its file and exits 2', () => {
    const u = unit({
      'config.d/10-a.json': { unitId: 'no spaces' },
      'config.d/20-b.json': '[1, 2]',
    });
    const r = cli(['config', 'check'], {
      COMPANION_DEFAULTS_FILE: u.defaults,
      COMPANION_CONFIG_DIR: u.etc,
    });
    expect(r.code).toBe(2);
    expect(r.err).toContain(
      `unitId: must be 1-64 letters, digits, "_" or "-" [${join(u.etc, 'config.d', '10-a.json')}]`,
    );
    expect(r.err).toContain(
      `(root): config must be a JSON object [${join(u.etc, 'config.d', '20-b.json')}]`,
    );
  });
});
