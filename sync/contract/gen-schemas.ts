/**
 * Writes docs/schemas/*.schema.json from the zod schemas the code validates with (`npm run schemas`),
 * so the contract the cloud team reads cannot drift from what the unit enforces.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { publishedSchemas } from './json-schemas.js';

const out = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'docs', 'schemas');
mkdirSync(out, { recursive: true });

for (const [channel, doc] of publishedSchemas()) {
  writeFileSync(join(out, `${channel}.schema.json`), `${JSON.stringify(doc, null, 2)}\n`);
  process.stdout.write(`docs/schemas/${channel}.schema.json\n`);
}
