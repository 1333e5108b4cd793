import { compileSchedule } from './compile.js';
import type { Schedule } from './types.js';

/**
 * Every reason a schedule cannot be used, human-readable (sent back to the cloud on rejection);
 * empty when valid. Accepts anything at runtime: the input may not really be a Schedule yet.
 */
export function validateSchedule(schedule: Schedule): string[] {
  if (typeof schedule !== 'object' || schedule === null) return ['schedule must be an object'];
  const r = compileSchedule(schedule);
  return r.ok ? [] : [...r.errors];
}
