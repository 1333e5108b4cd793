// Copies non-TypeScript assets (SQL migrations, static pages) next to the compiled JS in dist/.
import { cpSync, existsSync, readdirSync, statSync, mkdirSync } from 'node:fs';
import { join, dirname } from 'node:path';

const roots = ['agent', 'hal', 'sync'];
const exts = ['.sql', '.html', '.css', '.json'];

function walk(dir) {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) walk(p);
    else if (exts.some((e) => p.endsWith(e))) {
      const out = join('dist', p);
      mkdirSync(dirname(out), { recursive: true });
      cpSync(p, out);
    }
  }
}
for (const r of roots) if (existsSync(r)) walk(r);
