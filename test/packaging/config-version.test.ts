/**
 * Config files carry a version: a file from a newer agent, or one that is not a config at all, is
 * explained (with the path of the problem), never guessed at.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../agent/config/config.js';
import { migrateConfig } from '../../agent/config/migrate.js';
import { CONFIG_VERSION } from '../../agent/config/schema.js';
import { tempDir } from './support.js';

let lastPath = '';
function load(content: string): ConfigError | null {
  const path = join(tempDir('config'), 'config.json');
  lastPath = path;
  writeFileSync(path, content);
  try {
    loadConfig({ path, env: {} });
    return null;
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw err;
  }
}

describe('config versions', () => {
  it('a file without a version is version 1; the current version loads', () => {
    expect(load('{}')).toBeNull();
    expect(load(JSON.stringify({ version: CONFIG_VERSION }))).toBeNull();
    expect(migrateConfig({})).toEqual({ ok: true, value: { version: CONFIG_VERSION } });
  });

  it('a config from a newer agent says so and what to do', () => {
    const err = load(JSON.stringify({ version: CONFIG_VERSION + 1, unitId: 'u1' }));
    expect(err?.issues).toEqual([
      {
        path: 'version',
        message: `config version ${CONFIG_VERSION + 1} is newer than this agent understands (${CONFIG_VERSION}); upgrade the agent`,
        source: lastPath,
      },
    ]);
    expect(err?.message).toContain('version:');
  });

  it.each([
    ['a string version', '{"version":"2"}', 'version', 'must be a positive integer'],
    ['version zero', '{"version":0}', 'version', 'must be a positive integer'],
    ['a fractional version', '{"version":1.5}', 'version', 'must be a positive integer'],
    ['an array', '[1,2]', '', 'config must be a JSON object'],
    ['null', 'null', '', 'config must be a JSON object'],
    ['not JSON at all', 'unitId = "x"', '', 'not valid JSON'],
  ])('garbage is explained: %s', (_what, content, path, message) => {
    const err = load(content);
    expect(err).not.toBeNull();
    expect(err!.issues[0]!.path).toBe(path);
    expect(err!.issues[0]!.message).toContain(message);
  });

  it('every problem in a valid-version file is listed with its path', () => {
    const err = load(
      JSON.stringify({
        version: 1,
        unitId: 'no spaces allowed',
        backups: { keep: 0 },
        bogus: true,
      }),
    );
    const paths = err!.issues.map((i) => i.path).sort();
    expect(paths).toEqual(['backups.keep', 'bogus', 'unitId']);
    expect(err!.issues.find((i) => i.path === 'bogus')?.message).toBe('unknown key');
  });

  it('a mistyped key anywhere in the hardware section is refused with its path', () => {
    // hal/ composed its sections without .strict(): "hal.modem.at.pth" was accepted and the AT
    // driver opened the default /dev/ttyUSB2; "hal.audio.call.volum" left the call volume at 80.
    const typos = [
      'hal.bogus',
      'hal.modem.bogus',
      'hal.modem.simulator.bogus',
      'hal.modem.at.pth',
      'hal.modem.at.reopenBackoff.initalMs',
      'hal.modem.modemmanager.bogus',
      'hal.audio.bogus',
      'hal.audio.call.volum',
      'hal.audio.simulator.bogus',
      'hal.audio.alsa.crad',
      'hal.audio.alsa.routes.cal',
    ];
    const config: Record<string, unknown> = {};
    for (const path of typos) {
      const keys = path.split('.');
      let at = config;
      for (const k of keys.slice(0, -1)) at = (at[k] ??= {}) as Record<string, unknown>;
      at[keys.at(-1)!] = 1;
    }
    const err = load(JSON.stringify(config));
    expect(err!.issues.map((i) => [i.path, i.message]).sort()).toEqual(
      typos.map((p) => [p, 'unknown key']).sort(),
    );
    // A mixer control name in a route is the operator's to choose, not a typo.
    const routes = { call: { Headphone: 'on' }, speaker: { Speaker: 'on', 'Line Out': '80%' } };
    expect(load(JSON.stringify({ hal: { audio: { alsa: { routes } } } }))).toBeNull();
  });

  it('the packaged defaults and the example operator file are valid', () => {
    // The .deb must never ship defaults (or document an example) the agent rejects.
    for (const f of ['defaults.json', 'config.example.json']) {
      const err = load(readFileSync(join(process.cwd(), 'packaging', 'debian', f), 'utf8'));
      expect(err, f).toBeNull();
    }
  });
});
