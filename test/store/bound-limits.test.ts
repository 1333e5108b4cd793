/**
 * A bound LIMIT/OFFSET must be written `LIMIT +?` (agent/store/db.ts explains: SQLite prepares a
 * statement with a bare `LIMIT ?` again on every run). Two checks: no source of the unit's program
 * has the bare form, and the written form limits exactly as the bare one does, on a real SQLite file.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import fc from 'fast-check';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';

const ROOT = join(import.meta.dirname, '..', '..');
/** SQL keywords are upper case in this code base; comments (which may show the bare form) are skipped. */
const BARE = /\b(LIMIT|OFFSET)\s+[?@:$]/;
const COMMENT = /^\s*(\*|\/\/|\/\*|--)/;

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = join(dir, e.name);
    if (e.isDirectory()) return sources(p);
    return /\.(ts|sql)$/.test(e.name) ? [p] : [];
  });
}

describe('bound LIMIT and OFFSET', () => {
  it('no statement of the agent, the sync link or the HAL binds a bare LIMIT or OFFSET', () => {
    const offenders = ['agent', 'sync', 'hal'].flatMap((d) =>
      sources(join(ROOT, d)).flatMap((file) =>
        readFileSync(file, 'utf8')
          .split('\n')
          .flatMap((line, i) =>
            BARE.test(line) && !COMMENT.test(line)
              ? [`${relative(ROOT, file)}:${i + 1}: ${line.trim()}`]
              : [],
          ),
      ),
    );
    expect(offenders).toEqual([]);
  });

  it('`LIMIT +?` and `OFFSET +?` limit exactly as the bare forms do', () => {
    const dir = mkdtempSync(join(tmpdir(), 'companion-limits-'));
    const db = new Database(join(dir, 't.db'));
    try {
      db.exec('CREATE TABLE t (seq INTEGER PRIMARY KEY, v TEXT)');
      const ins = db.prepare('INSERT INTO t (v) VALUES (?)');
      for (let i = 0; i < 50; i++) ins.run(`v${i}`);
      const bare = db
        .prepare('SELECT seq FROM t WHERE seq > ? ORDER BY seq LIMIT ? OFFSET ?')
        .pluck();
      const plus = db
        .prepare('SELECT seq FROM t WHERE seq > ? ORDER BY seq LIMIT +? OFFSET +?')
        .pluck();
      fc.assert(
        fc.property(
          fc.integer({ min: -5, max: 60 }),
          fc.integer({ min: -1, max: 60 }),
          fc.integer({ min: 0, max: 60 }),
          (after, limit, offset) => {
            expect(plus.all(after, limit, offset)).toEqual(bare.all(after, limit, offset));
          },
        ),
      );
    } finally {
      db.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
