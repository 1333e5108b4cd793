/**
 * The composed config schema and its loader: a JSON file plus environment overrides, every error
 * reported at once with its path, secrets never printed.
 *
 * Environment overrides: COMPANION_<PATH> where nested keys are joined by "__" and written in
 * upper snake case, e.g. COMPANION_DATA_DIR=/var/lib/companion-agent,
 * COMPANION_HAL__MODEM__DRIVER=at, COMPANION_MQTT__ENABLED=true. Values that parse as JSON
 * (numbers, booleans, arrays) are taken as such; anything else is a string.
 */
import { readFileSync, existsSync } from 'node:fs';
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
import { migrateConfig } from './migrate.js';

export const configSchema = z
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
    backups: backupsConfigSchema.prefault({}),
    storage: storageSchema.prefault({}),
    log: logSchema.prefault({}),
    clock: clockSchema.prefault({}),
    scheduler: schedulerSchema.prefault({}),
    runner: runnerSchema.prefault({}),
    hal: z
      .object({ modem: modemConfigSchema.prefault({}), audio: audioConfigSchema.prefault({}) })
      .strict()
      .prefault({}),
    dialPolicy: dialPolicyConfigSchema.prefault({}),
    mqtt: mqttConfigSchema.prefault({}),
    diagnostics: diagnosticsConfigSchema.prefault({}),
    /** How long finished work is kept (agent/store/retention.ts, agent/housekeeping.ts). */
    retention: retentionSchema.prefault({}),
  })
  .strict();

export type Config = z.infer<typeof configSchema>;
export type ConfigInput = z.input<typeof configSchema>;

export interface ConfigIssue {
  path: string;
  message: string;
}

export class ConfigError extends Error {
  constructor(
    readonly source: string,
    readonly issues: ConfigIssue[],
  ) {
    super(
      `invalid configuration (${source}):\n` +
        issues.map((i) => `  - ${i.path || '(root)'}: ${i.message}`).join('\n'),
    );
    this.name = 'ConfigError';
  }
}

export const ENV_PREFIX = 'COMPANION_';

/** COMPANION_* variables that are not config overrides (the config path, the cloud CLI's key, the launcher). */
const NOT_CONFIG = new Set(['COMPANION_CONFIG', 'COMPANION_CLOUD_KEY', 'COMPANION_AS_ROOT']);

/** Turn COMPANION_A__B_C=1 into { a: { bC: 1 } }. */
export function envOverrides(env: NodeJS.ProcessEnv): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(env)) {
    if (!key.startsWith(ENV_PREFIX) || value === undefined || NOT_CONFIG.has(key)) continue;
    const path = key
      .slice(ENV_PREFIX.length)
      .split('__')
      .map((seg) => seg.toLowerCase().replace(/_([a-z0-9])/g, (_m, c: string) => c.toUpperCase()));
    let node = out;
    for (const seg of path.slice(0, -1)) {
      if (typeof node[seg] !== 'object' || node[seg] === null) node[seg] = {};
      node = node[seg] as Record<string, unknown>;
    }
    node[path.at(-1)!] = parseEnvValue(value);
  }
  return out;
}

function parseEnvValue(v: string): unknown {
  try {
    return JSON.parse(v);
  } catch {
    return v;
  }
}

function deepMerge(base: unknown, over: unknown): unknown {
  if (typeof base !== 'object' || base === null || Array.isArray(base)) return over;
  if (typeof over !== 'object' || over === null || Array.isArray(over)) return over;
  const out: Record<string, unknown> = { ...(base as Record<string, unknown>) };
  for (const [k, v] of Object.entries(over)) out[k] = deepMerge(out[k], v);
  return out;
}

export interface LoadOptions {
  /** Path to a JSON config file; missing file is an error only when given explicitly. */
  path?: string | null;
  env?: NodeJS.ProcessEnv;
}

/** Load, migrate, merge env, validate. Throws ConfigError listing every problem at once. */
export function loadConfig(opts: LoadOptions = {}): Config {
  const env = opts.env ?? process.env;
  const path = opts.path ?? env.COMPANION_CONFIG ?? null;
  let fileValue: unknown = {};
  const source = path ?? 'defaults';
  if (path) {
    if (!existsSync(path)) {
      throw new ConfigError(source, [
        {
          path: '',
          message: `config file not found: ${path} (create it, or omit --config to use defaults)`,
        },
      ]);
    }
    try {
      fileValue = JSON.parse(readFileSync(path, 'utf8'));
    } catch (err) {
      throw new ConfigError(source, [
        { path: '', message: `not valid JSON: ${(err as Error).message}` },
      ]);
    }
  }
  const migrated = migrateConfig(fileValue);
  if (!migrated.ok) throw new ConfigError(source, migrated.issues);
  return parseConfig(deepMerge(migrated.value, envOverrides(env)), source);
}

export function parseConfig(value: unknown, source = 'inline'): Config {
  const parsed = configSchema.safeParse(value);
  if (!parsed.success) {
    throw new ConfigError(
      source,
      parsed.error.issues.map((i) => ({ path: i.path.map(String).join('.'), message: i.message })),
    );
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
