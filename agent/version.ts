/** The agent's version, read once from package.json (shipped beside dist/ in the package). */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

function readVersion(): string {
  // agent/version.ts and dist/agent/version.js sit one and two levels below the package root; in
  // the bundled command line (scripts/bundle.mjs) this code runs from dist/agent/cli/main.js.
  const here = dirname(fileURLToPath(import.meta.url));
  for (const up of ['..', '../..', '../../..']) {
    try {
      const pkg = JSON.parse(readFileSync(join(here, up, 'package.json'), 'utf8')) as {
        name?: string;
        version?: string;
      };
      if (pkg.name === 'companion-agent' && pkg.version) return pkg.version;
    } catch {
      // try the next level
    }
  }
  return '0.0.0-unknown';
}

export const VERSION = readVersion();
