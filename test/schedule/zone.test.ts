import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { ZoneRules, zoneRules } from '../../agent/schedule/zone.js';
import { zoneinfoDir } from '../../agent/schedule/tzif.js';
import { PYTHON } from '../sync/python/run.js';

// Our conversion (agent/schedule/tzif.ts, zone.ts) must agree exactly with an independent
// implementation reading the same zone files: Python's zoneinfo (test/schedule/python/
// zone_oracle.py), including gaps, repeats and the POSIX footer rules centuries ahead.
// Not Temporal: its answers come from ICU's own copy of the data, whose version follows the Node
// release (Node 24.22.3: 2026e, Node 20.20.2: 2025c) while the agent reads Debian's tzdata (2025b on
// an old image, 2026f in bookworm-security today). Africa/Casablanca's rules differ between those
// copies, so a Temporal oracle failed or passed by which Node met which tzdata, not by our code
// (found moving CI to Node 24). The same file on both sides makes this test about the reader alone.
const ZONES = [
  'Europe/Berlin',
  'America/New_York',
  'Australia/Sydney',
  'Australia/Lord_Howe', // 30-minute DST shift
  'Pacific/Apia', // skipped a whole day in Dec 2011
  'America/Santiago',
  'Asia/Kolkata',
  'Europe/Dublin', // negative DST: "daylight" time in winter
  'Europe/London',
  'America/Sao_Paulo', // DST abolished in 2019
  'Asia/Tehran', // DST abolished in 2022
  'Pacific/Chatham', // +12:45 / +13:45
  'Antarctica/Troll', // a 2-hour DST shift
  'America/Nuuk', // rule times before midnight ("/-2")
  'Africa/Casablanca', // Ramadan: explicit transitions until 2087
  'Asia/Kathmandu',
  'UTC',
];

const localMs = fc.integer({
  min: Date.UTC(1950, 0, 1) / 60_000,
  max: Date.UTC(2100, 0, 1) / 60_000,
});
/** Past every explicit transition: only the files' POSIX footers decide. */
const farFutureMs = fc.integer({
  min: Date.UTC(2090, 0, 1) / 60_000,
  max: Date.UTC(2400, 0, 1) / 60_000,
});

interface Oracle {
  fromLocal: [number, boolean][];
  toLocal: number[];
  around: [string, number, number][];
}

/** One run of the Python oracle over every query (a process per sample would take minutes). */
function oracle(req: {
  fromLocal?: [string, number][];
  toLocal?: [string, number][];
  around?: { zones: string[]; fromMs: number; transitions: number; stepsMin: number[] };
}): Oracle {
  const script = fileURLToPath(new URL('./python/zone_oracle.py', import.meta.url));
  const r = spawnSync(PYTHON, ['-B', script], {
    input: JSON.stringify({ tzdir: zoneinfoDir(), ...req }),
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
  });
  if (r.error) throw new Error(`cannot run ${PYTHON}: ${r.error.message}`);
  if (r.status !== 0) throw new Error(`zone_oracle.py exited ${r.status}:\n${r.stderr}`);
  return JSON.parse(r.stdout) as Oracle;
}

/** Deterministic samples (fixed seed): the oracle answers them in one batch. */
function samples(minutes: fc.Arbitrary<number>, n: number, seed: number): [string, number][] {
  return fc
    .sample(fc.tuple(fc.constantFrom(...ZONES), minutes), { numRuns: n, seed })
    .map(([zone, min]) => [zone, min * 60_000]);
}

const iso = (ms: number) => new Date(ms).toISOString().slice(0, 16);

describe('ZoneRules', () => {
  it('rejects unknown zones and UTC offsets', () => {
    expect(zoneRules('Mars/Base')).toBeNull();
    expect(zoneRules('+01:00')).toBeNull();
    expect(zoneRules('')).toBeNull();
    expect(ZoneRules.tryCreate('Europe/Berlin')).not.toBeNull();
  });

  it('wall → instant matches Python\'s zoneinfo ("compatible": a gap moves forward, flagged)', () => {
    const q = samples(localMs, 3000, 1);
    const { fromLocal } = oracle({ fromLocal: q });
    q.forEach(([zone, lms], i) => {
      const r = zoneRules(zone)!.fromLocalMs(lms);
      const [epochMs, inGap] = fromLocal[i]!;
      expect({ epochMs: r.epochMs, inGap: r.inGap }, `${zone} wall ${iso(lms)}`).toEqual({
        epochMs,
        inGap,
      });
    });
  });

  it("wall → instant matches Python's zoneinfo right around transitions", () => {
    const steps = Array.from({ length: 13 }, (_, i) => -90 + 15 * i);
    const { around } = oracle({
      around: { zones: ZONES, fromMs: Date.UTC(2009, 0, 1), transitions: 10, stepsMin: steps },
    });
    // Not a vacuous pass: every zone whose offset changed after 2009 is reached (all but Kolkata,
    // Kathmandu and UTC), ten transitions each.
    expect(new Set(around.map(([zone]) => zone)).size).toBe(ZONES.length - 3);
    expect(around.length).toBe((ZONES.length - 3) * 10 * steps.length);
    for (const [zone, lms, epochMs] of around) {
      expect(zoneRules(zone)!.fromLocalMs(lms).epochMs, `${zone} wall ${iso(lms)}`).toBe(epochMs);
    }
  });

  it("wall → instant matches Python's zoneinfo centuries ahead (the footer rules)", () => {
    const q = samples(farFutureMs, 2000, 2);
    const { fromLocal } = oracle({ fromLocal: q });
    q.forEach(([zone, lms], i) => {
      expect(zoneRules(zone)!.fromLocalMs(lms).epochMs, `${zone} wall ${iso(lms)}`).toBe(
        fromLocal[i]![0],
      );
    });
  });

  it('names are matched case-insensitively, as ICU matches them', () => {
    expect(zoneRules('europe/berlin')!.offsetAt(Date.UTC(2026, 6, 1))).toBe(7_200_000);
    expect(zoneRules('right/Europe/Berlin')).toBeNull();
    expect(zoneRules('posix/Europe/Berlin')).toBeNull();
  });

  it("instant → wall matches Python's zoneinfo", () => {
    const q = samples(localMs, 2000, 3);
    const { toLocal } = oracle({ toLocal: q });
    q.forEach(([zone, t], i) => {
      expect(zoneRules(zone)!.toLocalMs(t), `${zone} at ${iso(t)}Z`).toBe(toLocal[i]);
    });
  });
});
