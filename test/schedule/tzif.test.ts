/**
 * The TZif reader (agent/schedule/tzif.ts) on its own: the footer's POSIX TZ strings, files written
 * here byte by byte (RFC 8536), and the lookups a hostile or odd name can make. The conversions
 * against ICU's data are in zone.test.ts.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parsePosixTz, readZoneFile, TzifError, TzifZone } from '../../agent/schedule/tzif.js';
import { ZoneRules } from '../../agent/schedule/zone.js';

const H = 3_600_000;

/** A TZif file: version 1 block, then (unless v1) a version 2 block and the footer. */
function tzif(opts: {
  version?: '\0' | '2' | '3';
  times: number[]; // seconds
  idx: number[];
  types: { utoff: number; isdst: number }[];
  footer?: string;
  leap?: number;
}): Buffer {
  const chars = Buffer.from('ABC\0');
  const block = (timeSize: 4 | 8) => {
    const leap = opts.leap ?? 0;
    const head = Buffer.alloc(44);
    head.write('TZif', 0, 'latin1');
    head.write(opts.version ?? '2', 4, 'latin1');
    [0, 0, leap, opts.times.length, opts.types.length, chars.length].forEach((c, i) =>
      head.writeUInt32BE(c, 20 + 4 * i),
    );
    const times = Buffer.alloc(opts.times.length * timeSize);
    opts.times.forEach((t, i) =>
      timeSize === 8 ? times.writeBigInt64BE(BigInt(t), i * 8) : times.writeInt32BE(t, i * 4),
    );
    const types = Buffer.alloc(opts.types.length * 6);
    opts.types.forEach((t, i) => {
      types.writeInt32BE(t.utoff, i * 6);
      types[i * 6 + 4] = t.isdst;
      types[i * 6 + 5] = 0;
    });
    const leaps = Buffer.alloc(leap * (timeSize + 4));
    return Buffer.concat([head, times, Buffer.from(opts.idx), types, chars, leaps]);
  };
  if (opts.version === '\0') return block(4);
  return Buffer.concat([block(4), block(8), Buffer.from(`\n${opts.footer ?? ''}\n`, 'latin1')]);
}

describe('POSIX TZ strings (the footer)', () => {
  it('reads offsets west of Greenwich, default DST offset and times, and RFC 8536 extensions', () => {
    expect(parsePosixTz('CET-1CEST,M3.5.0,M10.5.0/3')).toEqual({
      stdOffsetMs: H,
      dst: {
        offsetMs: 2 * H,
        start: { kind: 'month', month: 3, week: 5, weekday: 0 },
        startTime: 7200,
        end: { kind: 'month', month: 10, week: 5, weekday: 0 },
        endTime: 10800,
      },
    });
    expect(parsePosixTz('<+0330>-3:30')).toEqual({ stdOffsetMs: 3.5 * H });
    expect(parsePosixTz('<-03>3<-02>,M3.5.0/-2,M10.5.0/-1').dst).toMatchObject({
      offsetMs: -2 * H,
      startTime: -7200,
      endTime: -3600,
    });
    // Negative DST (Europe/Dublin: winter is the "daylight" time, GMT in winter).
    expect(parsePosixTz('IST-1GMT0,M10.5.0,M3.5.0/1')).toMatchObject({
      stdOffsetMs: H,
      dst: { offsetMs: 0, start: { month: 10 }, end: { month: 3 } },
    });
    expect(parsePosixTz('EST5EDT,0/0,J365/25').dst).toMatchObject({
      start: { kind: 'julian0', day: 0 },
      endTime: 25 * 3600,
      end: { kind: 'julian1', day: 365 },
    });
  });

  it.each([
    ['', 'no abbreviation'],
    ['CET', 'no offset'],
    ['CET-1CEST', 'DST without rules'],
    ['CET-1CEST,M3.5.0', 'one rule'],
    ['CET-1CEST,M13.5.0,M10.5.0', 'month 13'],
    ['CET-1CEST,M3.6.0,M10.5.0', 'week 6'],
    ['CET-1CEST,J0,J365', 'Julian day 0'],
    ['CET-1CEST,M3.5.0/168,M10.5.0', 'hour 168'],
    ['<+03-3', 'unclosed name'],
    ['CET-1CEST,M3.5.0,M10.5.0 ', 'trailing text'],
  ])('refuses %j (%s)', (s) => {
    expect(() => parsePosixTz(s)).toThrow(TzifError);
  });
});

describe('TZif files', () => {
  const types = [
    { utoff: 3600, isdst: 0 },
    { utoff: 7200, isdst: 1 },
    { utoff: 3600, isdst: 1 }, // same offset, other flag: not a transition
  ];

  it('merges changes of name only and uses type 0 before the first transition', () => {
    const z = TzifZone.parse(
      tzif({ times: [1000, 2000, 3000], idx: [1, 0, 2], types, footer: 'CET-1' }),
    );
    expect(z.periodAt(0)).toEqual({ start: -Infinity, end: 1_000_000, offsetMs: H });
    expect(z.periodAt(1_500_000)).toEqual({ start: 1_000_000, end: 2_000_000, offsetMs: 2 * H });
    expect(z.periodAt(2_500_000)).toEqual({ start: 2_000_000, end: Infinity, offsetMs: H });
    // A transition instant belongs to the period it starts.
    expect(z.periodAt(999_999).end).toBe(1_000_000);
    expect(z.periodAt(1_000_000).start).toBe(1_000_000);
    expect(z.periodAt(2_000_000).start).toBe(2_000_000);
  });

  it('reads a version 1 file (32-bit times, no footer): the last offset for ever', () => {
    const z = TzifZone.parse(tzif({ version: '\0', times: [-5000, 7000], idx: [1, 0], types }));
    expect(z.periodAt(-6_000_000).offsetMs).toBe(H);
    expect(z.periodAt(0)).toEqual({ start: -5_000_000, end: 7_000_000, offsetMs: 2 * H });
    expect(z.periodAt(1e13)).toEqual({ start: 7_000_000, end: Infinity, offsetMs: H });
  });

  it('follows the footer after the last transition, across the year boundary', () => {
    // Southern hemisphere: DST from the first Sunday of October to the first Sunday of April.
    const z = TzifZone.parse(
      tzif({ times: [0], idx: [0], types, footer: 'XST-1XDT,M10.1.0,M4.1.0/3' }),
    );
    const jan2100 = Date.UTC(2100, 0, 15);
    const p = z.periodAt(jan2100);
    expect(p.offsetMs).toBe(2 * H);
    // 2099-10-04 02:00 standard (+1) and 2100-04-04 03:00 daylight (+2) are both 01:00 UTC.
    expect(p.start).toBe(Date.UTC(2099, 9, 4, 1));
    expect(p.end).toBe(Date.UTC(2100, 3, 4, 1));
    expect(z.periodAt(p.end).offsetMs).toBe(H);
  });

  it('refuses leap-second files, truncated files and what is not TZif', () => {
    expect(() =>
      TzifZone.parse(tzif({ times: [0], idx: [0], types, footer: 'CET-1', leap: 1 })),
    ).toThrow(/leap seconds/);
    const good = tzif({ times: [0, 1], idx: [0, 1], types, footer: 'CET-1' });
    expect(() => TzifZone.parse(good.subarray(0, 60))).toThrow(TzifError);
    expect(() => TzifZone.parse(Buffer.from('# tzdata.zi\n'))).toThrow(/not a TZif/);
    expect(() => TzifZone.parse(tzif({ times: [0], idx: [7], types, footer: 'CET-1' }))).toThrow(
      /missing local time type/,
    );
  });
});

describe('zone names → files', () => {
  const dir = mkdtempSync(join(tmpdir(), 'companion-tzdir-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const file = tzif({
    times: [0],
    idx: [1],
    types: [
      { utoff: 0, isdst: 0 },
      { utoff: 3600, isdst: 0 },
    ],
    footer: '<+01>-1',
  });
  mkdirSync(join(dir, 'Area'), { recursive: true });
  mkdirSync(join(dir, 'right', 'Area'), { recursive: true });
  mkdirSync(join(dir, 'posix', 'Area'), { recursive: true });
  writeFileSync(join(dir, 'Area', 'Place'), file);
  writeFileSync(join(dir, 'right', 'Area', 'Place'), file);
  writeFileSync(join(dir, 'posix', 'Area', 'Place'), file);
  writeFileSync(join(dir, 'Area', 'NotAZone'), '# a text file\n');

  it('finds a zone exactly or case-insensitively, as ICU does', () => {
    expect(readZoneFile('Area/Place', dir)).toEqual(file);
    expect(readZoneFile('area/PLACE', dir)).toEqual(file);
    expect(ZoneRules.tryCreate('AREA/place', dir)?.offsetAt(Date.UTC(2030, 0, 1))).toBe(H);
  });

  it('has no zone for directories, the posix/ and right/ trees, empty parts or other files', () => {
    expect(readZoneFile('Area', dir)).toBeNull();
    expect(readZoneFile('right/Area/Place', dir)).toBeNull();
    expect(readZoneFile('Posix/Area/Place', dir)).toBeNull();
    expect(readZoneFile('Area//Place', dir)).toBeNull();
    expect(readZoneFile('Area/Nowhere', dir)).toBeNull();
    expect(ZoneRules.tryCreate('Area', dir)).toBeNull();
    expect(ZoneRules.tryCreate('Area/NotAZone', dir)).toBeNull();
    expect(ZoneRules.tryCreate('../etc/passwd', dir)).toBeNull();
  });

  it('without a time zone database every zone is unknown (a clear refusal, not UTC)', () => {
    expect(ZoneRules.tryCreate('Europe/Berlin', join(dir, 'missing'))).toBeNull();
  });
});
