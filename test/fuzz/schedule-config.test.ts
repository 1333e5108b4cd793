/**
 * Fuzzing the booking schedule grammar and the config files. Valid schedules already have their own
 * properties (test/schedule/properties.test.ts); here the input is bent: whatever the cloud or an
 * operator writes, parsing never throws anything but a clear, located error, and a schedule that
 * passes validation always yields a next slot (or none) without throwing.
 */
import fc from 'fast-check';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { scheduleSchema, validateSchedule, nextSlot } from '../../agent/schedule/index.js';
import { bookingSchema } from '../../agent/bookings/schema.js';
import { ConfigError, loadConfig, parseConfig } from '../../agent/config/config.js';
import { booking, schedule } from './arbitraries.js';

const dir = mkdtempSync(join(tmpdir(), 'companion-fuzz-config-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const after = fc.integer({ min: Date.UTC(2026, 0, 1), max: Date.UTC(2030, 0, 1) });

describe('fuzz: booking schedule grammar', () => {
  it('schedules: a located error or a computable next slot, never a throw', () => {
    fc.assert(
      fc.property(schedule, after, fc.constantFrom('shift', 'skip'), (s, t, dstGap) => {
        const parsed = scheduleSchema.safeParse(s);
        if (!parsed.success) {
          expect(parsed.error.issues.length).toBeGreaterThan(0);
          return;
        }
        const errors = validateSchedule(parsed.data);
        if (errors.length > 0) {
          for (const e of errors) expect(e.length).toBeGreaterThan(0);
          return;
        }
        const next = nextSlot(parsed.data, t, { dstGap: dstGap as 'shift' | 'skip' });
        if (next !== null) expect(next).toBeGreaterThan(t);
      }),
      { numRuns: 1500, seed: 11 },
    );
  });

  it('whole bookings: accepted with defaults filled, or rejected with paths', () => {
    fc.assert(
      fc.property(booking, (b) => {
        const r = bookingSchema.safeParse(b);
        if (r.success) {
          expect(r.data.catchUpWindowSec).toBeGreaterThanOrEqual(0);
          expect(validateSchedule(r.data.schedule)).toEqual([]);
        } else {
          expect(r.error.issues.every((i) => Array.isArray(i.path))).toBe(true);
        }
      }),
      { numRuns: 1500, seed: 12 },
    );
  });
});

/** Config values: the defaults with a few members replaced by arbitrary JSON at arbitrary paths. */
const SECTIONS = [
  'unitId',
  'dataDir',
  'log',
  'clock',
  'scheduler',
  'runner',
  'hal',
  'dialPolicy',
  'mqtt',
  'diagnostics',
  'storage',
  'backups',
  'version',
  'nope',
];
const configValue = fc.dictionary(
  fc.constantFrom(...SECTIONS),
  fc.oneof(
    fc.jsonValue(),
    fc.dictionary(
      fc.constantFrom(
        'level',
        'offsetMs',
        'maxSleepSec',
        'leaseSec',
        'port',
        'enabled',
        'url',
        'keepaliveSec',
        'maxPageCount',
        'modem',
        'x',
      ),
      fc.jsonValue(),
      { maxKeys: 3 },
    ),
  ),
  { maxKeys: 4 },
);

function expectClear(fn: () => unknown): void {
  try {
    fn();
  } catch (err) {
    // The one error type, naming each problem with its path.
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).issues.length).toBeGreaterThan(0);
    for (const i of (err as ConfigError).issues) expect(i.message.length).toBeGreaterThan(0);
  }
}

describe('fuzz: config files', () => {
  it('parseConfig: a config or a ConfigError listing every problem', () => {
    fc.assert(
      fc.property(configValue, (v) => expectClear(() => parseConfig({ dataDir: dir, ...v }))),
      { numRuns: 800, seed: 13 },
    );
  });

  it('loadConfig from a file of arbitrary bytes or JSON, with env overrides: no other error', () => {
    const file = join(dir, 'config.json');
    fc.assert(
      fc.property(
        fc.oneof(
          configValue.map((v) => JSON.stringify(v)),
          fc.string({ maxLength: 200 }),
          fc.uint8Array({ maxLength: 200 }).map((b) => Buffer.from(b).toString('latin1')),
        ),
        fc.dictionary(
          fc.constantFrom(
            'COMPANION_LOG__LEVEL',
            'COMPANION_MQTT__ENABLED',
            'COMPANION_CLOCK__OFFSETMS',
            'COMPANION_X',
          ),
          fc.string({ maxLength: 10 }),
          { maxKeys: 2 },
        ),
        (text, env) => {
          writeFileSync(file, text);
          expectClear(() => loadConfig({ path: file, env }));
        },
      ),
      { numRuns: 400, seed: 14 },
    );
  });
});
