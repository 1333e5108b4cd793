/**
 * Database files in temporary data dirs for tests on real SQLite, removed after each test.
 * Call at a test file's top level: it registers the cleanup with vitest's afterEach.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach } from 'vitest';
import { Store } from '../../agent/store/store.js';

/** A new `companion.db` path in its own `companion-<name>-*` dir for every call. */
export function tempDbPaths(name: string): () => string {
  const dirs: string[] = [];
  afterEach(() => {
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });
  return () => {
    const dir = mkdtempSync(join(tmpdir(), `companion-${name}-`));
    dirs.push(dir);
    return join(dir, 'companion.db');
  };
}

/** A new store (migrated to the newest schema) in its own temporary data dir for every call. */
export function tempStores(name: string): () => Store {
  const path = tempDbPaths(name);
  return () => Store.open(path());
}
