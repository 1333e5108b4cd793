/**
 * Config layers: which files make up a unit's config, in which order, and where each value came
 * from. A packaged unit has (lowest first):
 *
 *   1. the schema's built-in defaults
 *   2. the package's defaults, outside /etc ($COMPANION_DEFAULTS_FILE, set by /usr/bin/companion-agent
 *      to /usr/lib/companion-agent/defaults.json): replaced by every upgrade, never edited
 *   3. the operator's <configDir>/config.json ($COMPANION_CONFIG_DIR = /etc/companion-agent), optional
 *   4. the operator's <configDir>/config.d/*.json drop-ins, in byte order of their names
 *   5. the environment, COMPANION_<KEY>[__<KEY>...] (e.g. a systemd drop-in's Environment=)
 *
 * `--config FILE` (or $COMPANION_CONFIG) names one file that takes the place of 3 and 4. Objects
 * merge key by key; anything else (a value, an array, null) replaces what a lower layer said.
 * Each file is read and version-migrated on its own, so every file's problem is reported with its
 * name; the merged value is then validated once by the one schema (config.ts).
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { migrateConfig } from './migrate.js';

/** One problem with the config: where in the config, what, and which file (or layer) said so. */
export interface ConfigIssue {
  path: string;
  message: string;
  source?: string;
}

export interface Layer {
  /** A file path, or "environment (COMPANION_X)". */
  source: string;
  value: Record<string, unknown>;
}

/** Where the layers come from; every field is optional (a developer's checkout has none of them). */
export interface LayerSources {
  /** One operator file instead of configDir's files; a missing file is an error. */
  path?: string | null;
  /** The package's defaults file; a missing file is an error (the package is broken). */
  defaultsFile?: string | null;
  /** The operator's directory: config.json and config.d/*.json, each optional. */
  configDir?: string | null;
}

export const BUILT_IN = 'built-in defaults';
export const ENV_PREFIX = 'COMPANION_';

/** COMPANION_* variables that are not config overrides (where the config is, the cloud CLI's key, the launcher). */
const NOT_CONFIG = new Set([
  'COMPANION_CONFIG',
  'COMPANION_CONFIG_DIR',
  'COMPANION_DEFAULTS_FILE',
  'COMPANION_CLOUD_KEY',
  'COMPANION_AS_ROOT',
]);

/** The files to read, lowest layer first, each with whether it must exist. */
export function layerFiles(src: LayerSources): { file: string; required: boolean }[] {
  const files: { file: string; required: boolean }[] = [];
  if (src.defaultsFile) files.push({ file: src.defaultsFile, required: true });
  if (src.path) {
    files.push({ file: src.path, required: true });
  } else if (src.configDir) {
    files.push({ file: join(src.configDir, 'config.json'), required: false });
    files.push(
      ...dropIns(join(src.configDir, 'config.d')).map((file) => ({ file, required: false })),
    );
  }
  return files;
}

/** config.d/*.json in byte order of the name; dotfiles and anything not ending in .json are ignored. */
function dropIns(dir: string): string[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  return names
    .filter((n) => n.endsWith('.json') && !n.startsWith('.'))
    .sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)))
    .map((n) => join(dir, n))
    .filter((p) => statSync(p, { throwIfNoEntry: false })?.isFile() ?? false);
}

/** Read one file as a layer, or say exactly why it cannot be one. */
export function readLayer(
  file: string,
  required: boolean,
): { layer: Layer | null; issues: ConfigIssue[] } {
  const issue = (message: string, path = '') => ({
    layer: null,
    issues: [{ path, message, source: file }],
  });
  if (!existsSync(file)) {
    return required ? issue(`config file not found: ${file}`) : { layer: null, issues: [] };
  }
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    return issue(`cannot read ${file}: ${(err as Error).message}`);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    return issue(`not valid JSON: ${(err as Error).message}`);
  }
  const migrated = migrateConfig(value);
  if (!migrated.ok) {
    return { layer: null, issues: migrated.issues.map((i) => ({ ...i, source: file })) };
  }
  return { layer: { source: file, value: migrated.value as Record<string, unknown> }, issues: [] };
}

/** One layer per COMPANION_* variable: COMPANION_A__B_C=1 is { a: { bC: 1 } }. */
export function envLayers(env: NodeJS.ProcessEnv): Layer[] {
  const layers: Layer[] = [];
  for (const key of Object.keys(env).sort()) {
    const value = env[key];
    if (!key.startsWith(ENV_PREFIX) || value === undefined || NOT_CONFIG.has(key)) continue;
    const path = key
      .slice(ENV_PREFIX.length)
      .split('__')
      .map((seg) => seg.toLowerCase().replace(/_([a-z0-9])/g, (_m, c: string) => c.toUpperCase()));
    const root: Record<string, unknown> = {};
    let node = root;
    for (const seg of path.slice(0, -1)) {
      const next: Record<string, unknown> = {};
      node[seg] = next;
      node = next;
    }
    node[path.at(-1)!] = parseEnvValue(value);
    layers.push({ source: `environment (${key})`, value: root });
  }
  return layers;
}

function parseEnvValue(v: string): unknown {
  try {
    return JSON.parse(v);
  } catch {
    return v;
  }
}

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/** Merge layers in order; `sources` maps every leaf path ("a.b") to the layer that set it. */
export function mergeLayers(layers: Layer[]): {
  value: Record<string, unknown>;
  sources: Record<string, string>;
} {
  const sources: Record<string, string> = {};
  const merge = (base: unknown, over: unknown, prefix: string, source: string): unknown => {
    if (!isObject(over) || !isObject(base)) {
      // A value replaces everything below it, including what lower layers said there.
      for (const k of Object.keys(sources)) if (k.startsWith(`${prefix}.`)) delete sources[k];
      if (isObject(over)) return merge({}, over, prefix, source);
      sources[prefix] = source;
      return over;
    }
    const out: Record<string, unknown> = { ...base };
    for (const [k, v] of Object.entries(over)) {
      const path = prefix ? `${prefix}.${k}` : k;
      if (isObject(v) && Object.keys(v).length === 0 && isObject(out[k])) continue;
      delete sources[path];
      out[k] = merge(out[k], v, path, source);
    }
    return out;
  };
  let value: Record<string, unknown> = {};
  for (const l of layers) value = merge(value, l.value, '', l.source) as Record<string, unknown>;
  return { value, sources };
}

/** The layer(s) responsible for a value at `path` (or below it), for error messages. */
export function sourceOf(sources: Record<string, string>, path: string): string {
  const exact = sources[path];
  if (exact) return exact;
  const below = new Set(
    Object.entries(sources)
      .filter(([k]) => path === '' || k.startsWith(`${path}.`))
      .map(([, s]) => s),
  );
  if (below.size > 0) return [...below].join(', ');
  for (let p = path; p.includes('.');) {
    p = p.slice(0, p.lastIndexOf('.'));
    const above = sources[p];
    if (above) return above;
  }
  return BUILT_IN;
}
