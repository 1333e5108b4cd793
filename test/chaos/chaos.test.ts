/**
 * The CI chaos run (CHAOS_PROFILE=ci, ~3 minutes): real agent child, real mosquitto, the chaos proxy
 * and the cloud client, at least 100 injected faults of every kind, and zero invariant violations.
 * `runChaos` stops every child, broker and proxy in its own finally; afterAll kills any straggler.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { killAll } from '../support/agent-process.js';
import { stopAllBrokers } from '../support/mosquitto.js';
import { printReport, profileFromEnv, runChaos, writeReport } from './run.js';

afterAll(async () => {
  await killAll();
  await stopAllBrokers();
});

describe('chaos (CI profile)', () => {
  it('survives >= 100 faults of every kind with no invariant violated', async () => {
    const profile = profileFromEnv({
      ...process.env,
      CHAOS_PROFILE: process.env.CHAOS_PROFILE ?? 'ci',
    });
    const report = await runChaos(profile, () => undefined);
    const lines: string[] = [];
    printReport(report, (l) => lines.push(l));
    console.log(lines.join('\n'));
    writeReport(report);
    expect(report.check.violations, lines.join('\n')).toEqual([]);
    expect(report.totalFaults).toBeGreaterThanOrEqual(100);
    // Every kind was really injected, and the workload really ran.
    for (const kind of [
      'sigkill',
      'proxy_cut',
      'proxy_blackhole',
      'broker_restart_persist',
      'broker_restart_lost',
      'disk_full',
      'clock_forward',
      'clock_backward',
      'corrupt_db',
      'modem_busy',
    ]) {
      expect(report.faults[kind] ?? 0, kind).toBeGreaterThan(0);
    }
    // The degraded modes were visible to the cloud: held firing reported, corrupt files reported.
    expect(report.degraded.clockUntrusted).toBeGreaterThan(0);
    expect(report.degraded.recoveredFromCorruption).toBe(report.faults.corrupt_db ?? 0);
    expect(report.callsFired).toBeGreaterThan(20);
    expect(report.bookingsAccepted).toBeGreaterThan(20);
  }, 420_000);
});
