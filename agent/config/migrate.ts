/**
 * Config file versions. Each step turns version N into N+1; a file from the future is explained,
 * not guessed at. Version 1 is the first; files without `version` are treated as version 1.
 */
import { CONFIG_VERSION } from './schema.js';

type Step = (c: Record<string, unknown>) => Record<string, unknown>;

/** steps[n] migrates a version-n file to n+1. */
const steps: Record<number, Step> = {};

export function migrateConfig(
  value: unknown,
): { ok: true; value: unknown } | { ok: false; issues: { path: string; message: string }[] } {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return { ok: false, issues: [{ path: '', message: 'config must be a JSON object' }] };
  }
  let c = { ...(value as Record<string, unknown>) };
  let v = c.version === undefined ? CONFIG_VERSION : c.version;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) {
    return { ok: false, issues: [{ path: 'version', message: 'must be a positive integer' }] };
  }
  if (v > CONFIG_VERSION) {
    return {
      ok: false,
      issues: [
        {
          path: 'version',
          message: `config version ${v} is newer than this agent understands (${CONFIG_VERSION}); upgrade the agent`,
        },
      ],
    };
  }
  while (v < CONFIG_VERSION) {
    const step = steps[v];
    if (!step)
      return {
        ok: false,
        issues: [{ path: 'version', message: `no migration from version ${v}` }],
      };
    c = step(c);
    v += 1;
  }
  c.version = v;
  return { ok: true, value: c };
}
