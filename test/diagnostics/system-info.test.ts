/**
 * Host readings (agent/diagnostics/system-info.ts): the full refresh reads the static facts through
 * systeminformation once and then lets it go (issue 14: its code and sources are ~1.5 MB of heap
 * the agent would otherwise keep), and reads memory from /proc/meminfo itself.
 */
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { SystemClock } from '../../agent/clock.js';
import {
  memInfo,
  SystemInfoCache,
  withSystemInformation,
} from '../../agent/diagnostics/system-info.js';
import { silentLogger } from '../../agent/log.js';

const require = createRequire(import.meta.url);
const siFiles = () => Object.keys(require.cache).filter((k) => k.includes('/systeminformation/'));

describe('system readings', () => {
  it('systeminformation is dropped from the module cache once the static facts are read', async () => {
    const cache = new SystemInfoCache({
      clock: new SystemClock(),
      logger: silentLogger(),
      refreshMs: 60_000,
      callTimeoutMs: 10_000,
      paths: ['/'],
    });
    await cache.refresh();
    const snap = cache.snapshot();
    expect(snap.source).toBe('full');
    expect(snap.errors).toEqual({});
    expect(snap.host.os).toEqual(expect.any(String));
    expect(snap.host.cpuModel).toEqual(expect.any(String));
    expect(snap.memory!.totalBytes).toBeGreaterThan(0);
    expect(siFiles()).toEqual([]);
  });

  it('the package is unloaded even when a reading throws', async () => {
    await expect(
      withSystemInformation(async (si) => {
        expect(siFiles().length).toBeGreaterThan(0);
        expect(typeof si.osInfo).toBe('function');
        throw new Error('reading failed');
      }),
    ).rejects.toThrow('reading failed');
    expect(siFiles()).toEqual([]);
  });

  it('memory comes from /proc/meminfo (MemAvailable, not MemFree)', async () => {
    const m = await memInfo();
    expect(m!.total).toBeGreaterThan(m!.available);
    expect(m!.available).toBeGreaterThan(0);
  });
});
