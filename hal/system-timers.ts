import type { HalTimers } from './types.js';

/** Real time, for the standalone pty modem simulator (the agent passes its own Clock instead). */
export const systemTimers: HalTimers = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, Math.max(0, ms)),
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
};
