/**
 * Host readings (agent/diagnostics/system-info.ts): the full refresh reads the static facts through
 * systeminformation once and then lets it go (issue 14: its code and sources are ~1.5 MB of heap
 * the agent would otherwise keep), and reads memory from /proc/meminfo itself.
 */
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { FakeClock, SystemClock } from '../../agent/clock.js';
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

  it('start takes the quick readings; systeminformation waits one refresh period (issue 14)', async () => {
    const clock = new FakeClock();
    const cache = new SystemInfoCache({
      clock,
      logger: silentLogger(),
      refreshMs: 30_000,
      callTimeoutMs: 10_000,
      paths: ['/'],
    });
    cache.start();
    try {
      expect(cache.snapshot()).toMatchObject({ source: 'quick', host: { os: 'Linux' } });
      await clock.advance(29_999);
      expect(cache.snapshot().source).toBe('quick');
      expect(siFiles()).toEqual([]);
      await clock.advance(1);
      // The refresh runs now; its readings take real time (child processes for the static facts).
      const deadline = Date.now() + 20_000;
      while (cache.snapshot().source !== 'full' && Date.now() < deadline)
        await new Promise((r) => setTimeout(r, 20));
      expect(cache.snapshot().source).toBe('full');
      expect(siFiles()).toEqual([]);
      expect(clock.pendingTimers()).toBe(1); // the next refresh, one period on
    } finally {
      cache.stop();
    }
    expect(clock.pendingTimers()).toBe(0);
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
