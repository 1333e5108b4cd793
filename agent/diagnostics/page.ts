/**
 * The technician's page: one self-contained HTML file (inline CSS and JS, no external assets, works
 * with no internet). It holds no data and no secret; it fetches everything with the bearer token
 * the technician hands it. The Content-Security-Policy allows exactly its own inline script and
 * style (by hash) and requests to this unit.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';

export interface Page {
  html: string;
  csp: string;
}

function hashes(html: string, tag: 'script' | 'style'): string[] {
  const re = new RegExp(`<${tag}>([\\s\\S]*?)</${tag}>`, 'g');
  return [...html.matchAll(re)].map(
    (m) => `'sha256-${createHash('sha256').update(m[1]!).digest('base64')}'`,
  );
}

export function loadPage(): Page {
  // page.html sits next to this module in the source tree and in dist/ (scripts/copy-assets.mjs);
  // the bundled command line (dist/agent/cli/main.js) finds it in ../diagnostics/.
  const beside = new URL('./page.html', import.meta.url);
  const file = existsSync(beside) ? beside : new URL('../diagnostics/page.html', import.meta.url);
  const html = readFileSync(file, 'utf8');
  const csp = [
    "default-src 'none'",
    `script-src ${hashes(html, 'script').join(' ')}`,
    `style-src ${hashes(html, 'style').join(' ')}`,
    "connect-src 'self'",
    "img-src 'self' data:",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join('; ');
  return { html, csp };
}
