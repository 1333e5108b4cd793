/**
 * The composed config schema and its loader: package defaults, the operator's file and drop-ins,
 * then environment overrides (the layers and their order: layers.ts), merged and validated by this
 * one schema; every error reported at once with its path and its file, secrets never printed.
 *
 * Environment overrides: COMPANION_<PATH> where nested keys are joined by "__" and written in
 * upper snake case, e.g. COMPANION_DATA_DIR=/var/lib/companion-agent,
 * COMPANION_HAL__MODEM__DRIVER=at, COMPANION_MQTT__ENABLED=true. Values that parse as JSON
 * (numbers, booleans, arrays) are taken as such; anything else is a string.
 */
import { z } from 'zod';
import { modemConfigSchema, audioConfigSchema } from '../../hal/config.js';
import { mqttConfigSchema } from '../../sync/config.js';
import { dialPolicyConfigSchema } from '../policy/dial-policy.js';
import { diagnosticsConfigSchema } from '../diagnostics/config.js';
import { backupsConfigSchema } from '../store/backup.js';
import {
  CONFIG_VERSION,
  clockSchema,
  logSchema,
  retentionSchema,
  runnerSchema,
  schedulerSchema,
  storageSchema,
} from './schema.js';
import {
  BUILT_IN,
  envLayers,
  layerFiles,
  mergeLayers,
  readLayer,
  sourceOf,
  type ConfigIssue,
  type Layer,
  type LayerSources,
} from './layers.js';

export const configSchema = () =>
  z
    .object({
      version: z.literal(CONFIG_VERSION).default(CONFIG_VERSION),
      /** This unit's id; also its MQTT client id and topic segment. */
      unitId: z
        .string()
        .regex(/^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/, 'must be 1-64 letters, digits, "_" or "-"')
        .default('dev-unit'),
      /** Where the SQLite store (and its backups) live. */
      dataDir: z.string().min(1).default('./data'),
      /** Pre-migration database backups under <dataDir>/backups. */
      backups: backupsConfigSchema().prefault({}),
      storage: storageSchema().prefault({}),
      log: logSchema().prefault({}),
      clock: clockSchema().prefault({}),
      scheduler: schedulerSchema().prefault({}),
      runner: runnerSchema().prefault({}),
      hal: z
        .object({
          modem: modemConfigSchema().prefault({}),
          audio: audioConfigSchema().prefault({}),
        })
        .strict()
        .prefault({}),
      dialPolicy: dialPolicyConfigSchema().prefault({}),
      mqtt: mqttConfigSchema().prefault({}),
      diagnostics: diagnosticsConfigSchema().prefault({}),
      /** How long finished work is kept (agent/store/retention.ts, agent/housekeeping.ts). */
      retention: retentionSchema().prefault({}),
    })
    .strict();

export type Config = z.infer<ReturnType<typeof configSchema>>;
export type ConfigInput = z.input<ReturnType<typeof configSchema>>;

export type { ConfigIssue } from './layers.js';
export { ENV_PREFIX } from './layers.js';

export class ConfigError extends Error {
  constructor(
    /** The file (or files) the config came from, for a one-line summary. */
    readonly source: string,
    /** Every problem, each with its path in the config and the file that holds the value. */
    readonly issues: ConfigIssue[],
  ) {
    super(
      `invalid configuration (${source}):\n` +
        issues
          .map(
            (i) =>
              `  - ${i.path || '(root)'}: ${i.message}` +
              (i.source && i.source !== source ? ` [${i.source}]` : ''),
          )
          .join('\n'),
    );
    this.name = 'ConfigError';
  }
}

/** Turn COMPANION_A__B_C=1 into { a: { bC: 1 } }. */
export function envOverrides(env: NodeJS.ProcessEnv): Record<string, unknown> {
  return mergeLayers(envLayers(env)).value;
}

export interface LoadOptions extends LayerSources {
  /** Defaults: --config / $COMPANION_CONFIG, $COMPANION_DEFAULTS_FILE, $COMPANION_CONFIG_DIR. */
  env?: NodeJS.ProcessEnv;
}

export interface LoadedConfig {
  config: Config;
  /** Every file read, lowest layer first (missing optional files are not listed). */
  files: string[];
  /** Leaf path ("mqtt.url") → the file or variable that set it; unlisted paths are built-in defaults. */
  sources: Record<string, string>;
}

/** Where this process's config comes from: options first, then the environment (see layers.ts). */
export function layerSourcesOf(opts: LoadOptions = {}): LayerSources {
  const env = opts.env ?? process.env;
  return {
    path: opts.path ?? env.COMPANION_CONFIG ?? null,
    defaultsFile: opts.defaultsFile ?? env.COMPANION_DEFAULTS_FILE ?? null,
    configDir: opts.configDir ?? env.COMPANION_CONFIG_DIR ?? null,
  };
}

/**
 * Read every layer, merge, validate once. Throws one ConfigError listing every problem of every
 * file at once, each with the file that holds the offending value.
 */
export function loadConfigLayers(opts: LoadOptions = {}): LoadedConfig {
  const env = opts.env ?? process.env;
  const layers: Layer[] = [];
  const issues: ConfigIssue[] = [];
  const tried: string[] = [];
  for (const { file, required } of layerFiles(layerSourcesOf(opts))) {
    const r = readLayer(file, required);
    if (r.layer) layers.push(r.layer);
    if (r.layer || r.issues.length > 0) tried.push(file);
    issues.push(...r.issues);
  }
  const files = layers.map((l) => l.source);
  layers.push(...envLayers(env));
  const { value, sources } = mergeLayers(layers);
  const summary = tried.length === 0 ? BUILT_IN : tried.join(' + ');
  const parsed = configSchema().safeParse(value);
  if (!parsed.success) issues.push(...zodIssues(parsed.error.issues, sources));
  if (issues.length > 0) throw new ConfigError(summary, issues);
  return { config: parsed.data!, files, sources };
}

/** Load, migrate, merge env, validate. Throws ConfigError listing every problem at once. */
export function loadConfig(opts: LoadOptions = {}): Config {
  return loadConfigLayers(opts).config;
}

/** zod's issues as ours: one per unknown key, each with the layer that holds the value. */
function zodIssues(list: z.core.$ZodIssue[], sources?: Record<string, string>): ConfigIssue[] {
  const out: ConfigIssue[] = [];
  for (const i of list) {
    const path = i.path.map(String).join('.');
    const keys = i.code === 'unrecognized_keys' ? i.keys : [null];
    for (const key of keys) {
      const at = key === null ? path : path ? `${path}.${key}` : key;
      out.push({
        path: key === null ? path : at,
        message: key === null ? i.message : 'unknown key',
        ...(sources ? { source: sourceOf(sources, at) } : {}),
      });
    }
  }
  return out;
}

export function parseConfig(value: unknown, source = 'inline'): Config {
  const parsed = configSchema().safeParse(value);
  if (!parsed.success) {
    throw new ConfigError(source, zodIssues(parsed.error.issues));
  }
  return parsed.data;
}

/** The config with secrets replaced, for `config check` and logs. */
export function redactConfig(c: Config): unknown {
  return JSON.parse(
    JSON.stringify(c, (k, v: unknown) =>
      /password|token|secret|privateKey/i.test(k) && typeof v === 'string' ? '[redacted]' : v,
    ),
  );
}
