import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { LineSplitter } from '../../hal/at/line-splitter.js';
import {
  parseCclk,
  parseCeer,
  parseClcc,
  parseCops,
  parseCpin,
  parseCsq,
  parseDsci,
  parseEcav,
  parseFinal,
  parseRegistration,
  simStateFromError,
  splitFields,
  vendorFromIdentity,
} from '../../hal/at/responses.js';
import { mapEnd } from '../../hal/at/call-end.js';
import { maskNumbersIn } from '../../hal/logger.js';

describe('LineSplitter', () => {
  const line = fc
    .stringMatching(/^[A-Za-z0-9+:," ^]{1,40}$/)
    .map((s) => s.trim())
    .filter((s) => s.length > 0);

  it('yields the same lines however the stream is chunked and terminated', () => {
    fc.assert(
      fc.property(
        fc.array(line, { maxLength: 20 }),
        fc.array(fc.constantFrom('\r\n', '\r', '\n', '\r\n\r\n'), { minLength: 20, maxLength: 20 }),
        fc.array(fc.integer({ min: 1, max: 7 }), { minLength: 1, maxLength: 50 }),
        (lines, terms, cuts) => {
          const stream = lines.map((l, i) => l + terms[i]!).join('');
          const s = new LineSplitter();
          const got: string[] = [];
          let pos = 0;
          for (let i = 0; pos < stream.length; i++) {
            const n = cuts[i % cuts.length]!;
            got.push(...s.push(stream.slice(pos, pos + n)));
            pos += n;
          }
          expect(got).toEqual(lines);
        },
      ),
    );
  });

  it('never throws, never yields control bytes, and bounds line length on garbage', () => {
    fc.assert(
      fc.property(
        fc.array(fc.string({ unit: 'binary', maxLength: 300 }), { maxLength: 20 }),
        (chunks) => {
          const s = new LineSplitter(64);
          for (const c of chunks) {
            for (const l of s.push(c)) {
              expect(l.length).toBeGreaterThan(0);
              expect(l.length).toBeLessThanOrEqual(64);
              expect([...l].some((ch) => ch.charCodeAt(0) < 0x20 || ch === '\x7f')).toBe(false);
            }
          }
        },
      ),
    );
  });

  it('keeps complete lines that surround garbage intact', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 50 }), (garbage) => {
        const s = new LineSplitter();
        const got = s.push(`OK\r\n${garbage.replace(/[\r\n]/g, '')}\r\n+CSQ: 20,99\r\n`);
        expect(got[0]).toBe('OK');
        expect(got.at(-1)).toBe('+CSQ: 20,99');
      }),
    );
  });
});

describe('status parsers: real vendor formats', () => {
  it('CSQ → dBm', () => {
    expect(parseCsq('+CSQ: 21,99')).toEqual({ dbm: -71 });
    expect(parseCsq('+CSQ: 0,0')).toEqual({ dbm: -113 });
    expect(parseCsq('+CSQ: 31,0')).toEqual({ dbm: -51 });
    expect(parseCsq('+CSQ: 99,99')).toEqual({ dbm: null });
    for (const bad of ['+CSQ: 45,99', '+CSQ: ,99', '+CSQ:', '+CSQ: x,y', 'CSQ: 20,99']) {
      expect(parseCsq(bad)).toBeNull();
    }
  });

  it('CPIN and SIM errors (Quectel and SIMCom spellings)', () => {
    expect(parseCpin('+CPIN: READY')).toBe('ready');
    expect(parseCpin('+CPIN: SIM PIN')).toBe('pin_required');
    expect(parseCpin('+CPIN: SIM PUK')).toBe('puk_required');
    expect(parseCpin('+CPIN: NOT INSERTED')).toBe('absent');
    expect(parseCpin('+CPIN: banana')).toBe('error');
    expect(parseCpin('+CPIN')).toBeNull();
    expect(simStateFromError('SIM not inserted')).toBe('absent');
    expect(simStateFromError('10')).toBe('absent');
    expect(simStateFromError('SIM failure')).toBe('error');
  });

  it('CREG/CEREG in response and URC forms', () => {
    expect(parseRegistration('+CREG: 0,1')?.registration).toBe('home');
    expect(parseRegistration('+CEREG: 2,5,"1A2B","01C3D4E",7')?.registration).toBe('roaming');
    expect(parseRegistration('+CREG: 1')?.registration).toBe('home'); // URC
    expect(parseRegistration('+CREG: 5,"00C3","0A1B2C",7')?.registration).toBe('roaming'); // URC with location
    expect(parseRegistration('+CEREG: 1,2')?.registration).toBe('searching');
    expect(parseRegistration('+CREG: 0,3')?.registration).toBe('denied');
    expect(parseRegistration('+CREG: 0,0')?.registration).toBe('not_registered');
    expect(parseRegistration('+CREG: 0,9')).toBeNull();
    expect(parseRegistration('+CREG: ')).toBeNull();
  });

  it('COPS with and without operator', () => {
    expect(parseCops('+COPS: 0,0,"Vodafone.de",7')).toEqual({
      operator: 'Vodafone.de',
      numeric: false,
    });
    expect(parseCops('+COPS: 0,0,"CHN-UNICOM",7')).toEqual({
      operator: 'CHN-UNICOM',
      numeric: false,
    });
    // A modem that ignores AT+COPS=3,0 still names its network by MCC+MNC, never by nothing.
    expect(parseCops('+COPS: 0,2,"26201",7')).toEqual({ operator: '26201', numeric: true });
    expect(parseCops('+COPS: 0')).toEqual({ operator: null, numeric: false });
    expect(parseCops('+COPS: "x"')).toBeNull();
  });

  it('CCLK with quarter-hour zones, rejecting boot defaults and impossible dates', () => {
    // Quectel after AT+CTZU=1: local time + zone in quarters (+08 = UTC+2).
    expect(parseCclk('+CCLK: "24/05/06,14:22:10+08"')).toEqual({
      epochMs: Date.UTC(2024, 4, 6, 12, 22, 10),
    });
    // SIMCom, negative zone (-20 quarters = UTC-5).
    expect(parseCclk('+CCLK: "25/12/31,19:00:00-20"')).toEqual({
      epochMs: Date.UTC(2026, 0, 1, 0, 0, 0),
    });
    expect(parseCclk('+CCLK: 26/01/05,08:00:00')).toEqual({ epochMs: Date.UTC(2026, 0, 5, 8) });
    for (const bad of [
      '+CCLK: "80/01/06,00:00:12+00"',
      '+CCLK: "04/01/01,00:00:00+00"',
      '+CCLK: "24/02/31,10:00:00+00"',
      '+CCLK: "24/13/01,10:00:00+00"',
      '+CCLK: "24/05/06,25:00:00+00"',
      '+CCLK: "24/05/06,10:00:00+99"',
      '+CCLK: "garbage"',
      '+CCLK:',
    ]) {
      expect(parseCclk(bad)).toBeNull();
    }
  });

  it('CLCC and ^DSCI call lines', () => {
    expect(parseClcc('+CLCC: 1,0,3,0,0,"+4915123456789",145')).toEqual({
      id: 1,
      outgoing: true,
      stat: 'alerting',
      voice: true,
    });
    expect(parseClcc('+CLCC: 1,0,6,0,0,"+4915123456789",145')?.stat).toBe('ended');
    expect(parseClcc('+CLCC: 1,1,4,0,0,"+4915123456789",145')?.outgoing).toBe(false);
    expect(parseClcc('+CLCC: 1,0,9,0,0')).toBeNull();
    expect(parseDsci('^DSCI: 1,0,6,0,+4915123456789,145,17')).toMatchObject({
      stat: 'ended',
      cause: 17,
    });
    expect(parseDsci('^DSCI: 1,0,0,0,+4915123456789,145')).toMatchObject({
      stat: 'active',
      cause: null,
    });
    expect(parseDsci('^DSCI: x')).toBeNull();
  });

  it('CEER texts of both vendors and 24.008 causes', () => {
    expect(parseCeer('+CEER: "User busy"')?.cls).toBe('busy');
    expect(parseCeer('+CEER: Call rejected')?.cls).toBe('rejected');
    expect(parseCeer('+CEER: "No user responding"')?.cls).toBe('no_answer');
    expect(parseCeer('+CEER: Normal call clearing')?.cls).toBe('normal');
    expect(parseCeer('+CEER: "Unassigned (unallocated) number"')?.cls).toBe('failed');
    expect(parseCeer('+CEER: CC 17')?.cls).toBe('busy');
    expect(parseCeer('+CEER: No cause information available')?.cls).toBe('unknown');
    // Firmware free text says nothing about why: unknown, never a network failure.
    expect(parseCeer('+CEER: EXTENDED ERROR STRING')?.cls).toBe('unknown');
    expect(parseCeer('+CEER: "Network out of order"')?.cls).toBe('failed');
  });

  it('final results, including CME errors', () => {
    expect(parseFinal('OK')).toEqual({ kind: 'ok' });
    expect(parseFinal('+CME ERROR: SIM not inserted')).toEqual({
      kind: 'error',
      message: 'SIM not inserted',
    });
    expect(parseFinal('BUSY')).toEqual({ kind: 'call_end', code: 'BUSY' });
    expect(parseFinal('OKAY')).toBeNull();
  });

  it('ATI identifies the vendor and model', () => {
    expect(vendorFromIdentity(['Quectel', 'EC25', 'Revision: EC25EFAR06A06M4G'])).toEqual({
      vendor: 'quectel',
      model: 'EC25',
    });
    expect(
      vendorFromIdentity(['Manufacturer: SIMCOM INCORPORATED', 'Model: SIMCOM_SIM7600E-H']),
    ).toEqual({ vendor: 'simcom', model: 'SIMCOM_SIM7600E-H' });
    expect(vendorFromIdentity(['Some Modem', 'Revision: 1'])).toEqual({
      vendor: 'generic',
      model: 'Some Modem',
    });
  });

  it('no parser throws on arbitrary input', () => {
    const parsers = [
      parseCsq,
      parseCpin,
      parseRegistration,
      parseCops,
      parseCclk,
      parseClcc,
      parseDsci,
      parseEcav,
      parseCeer,
      parseFinal,
      splitFields,
      maskNumbersIn,
    ];
    const prefixed = fc
      .tuple(
        fc.constantFrom(
          '+CSQ: ',
          '+CPIN: ',
          '+CREG: ',
          '+CEREG: ',
          '+COPS: ',
          '+CCLK: ',
          '+CLCC: ',
          '^DSCI: ',
          '*ECAV: ',
          '+CEER: ',
          '',
        ),
        fc.string({ maxLength: 60 }),
      )
      .map(([p, s]) => p + s);
    fc.assert(
      fc.property(prefixed, (line) => {
        for (const p of parsers) p(line);
      }),
    );
  });

  it('CSQ is monotonic in rssi and stays within the 27.007 dBm range', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 30 }), (rssi) => {
        const a = parseCsq(`+CSQ: ${rssi},99`)!.dbm!;
        const b = parseCsq(`+CSQ: ${rssi + 1},99`)!.dbm!;
        expect(b).toBeGreaterThan(a);
        expect(a).toBeGreaterThanOrEqual(-113);
        expect(b).toBeLessThanOrEqual(-51);
      }),
    );
  });

  it('*ECAV call states, release causes and busy', () => {
    expect(parseEcav('*ECAV: 1,1,1')).toMatchObject({
      stat: 'dialing',
      outgoing: true,
      voice: true,
    });
    expect(parseEcav('*ECAV: 1,2,1')).toMatchObject({ stat: 'alerting', outgoing: true });
    expect(parseEcav('*ECAV: 1,3,1')).toMatchObject({ stat: 'active' });
    expect(parseEcav('*ECAV: 1,0,1,,16')).toMatchObject({ stat: 'ended', cause: 16, busy: false });
    expect(parseEcav('*ECAV: 1,7,1')).toMatchObject({ stat: 'ended', busy: true });
    expect(parseEcav('*ECAV: 1,6,1')).toMatchObject({ stat: 'incoming', outgoing: false });
    expect(parseEcav('*ECAV: 1,3,2')).toMatchObject({ voice: false });
    expect(parseEcav('*ECAV: 1,9,1')).toBeNull();
    expect(parseEcav('*ECAV: x')).toBeNull();
  });
});

describe('how a call the network ended is reported', () => {
  it('an answered call ended by the far end is remote, whatever the cause text says', () => {
    for (const cls of ['failed', 'unknown', 'normal', 'busy', 'rejected'] as const) {
      expect(mapEnd(cls, true, 'EXTENDED ERROR STRING')).toEqual({
        result: 'completed',
        endedBy: 'remote',
        detail: 'EXTENDED ERROR STRING',
      });
    }
  });

  it('an unanswered call with an unreadable reason is no_carrier, not failed', () => {
    expect(mapEnd('unknown', false, undefined)).toEqual({
      result: 'no_carrier',
      endedBy: 'network',
    });
    expect(mapEnd('failed', false, 'x')).toMatchObject({ result: 'failed', endedBy: 'network' });
    expect(mapEnd('rejected', false, 'x')).toMatchObject({ result: 'rejected', endedBy: 'remote' });
  });
});

describe('maskNumbersIn', () => {
  it('masks every number of three or more digits, short codes included', () => {
    expect(maskNumbersIn('^DSCI: 1,0,2,0,+4915123456789,145')).toBe(
      '^DSCI: 1,0,2,0,************89,*45',
    );
    expect(maskNumbersIn('+CLIP: "112",129')).toBe('+CLIP: "*12",*29');
    expect(maskNumbersIn('+CLIP: "4711",129')).toBe('+CLIP: "**11",*29');
    expect(maskNumbersIn('+CLCC: 1,0,2,0,0')).toBe('+CLCC: 1,0,2,0,0');
  });

  it('never leaves three consecutive digits of any number in clear', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 40 }), fc.stringMatching(/^\+?\d{3,15}$/), (pre, n) => {
        const out = maskNumbersIn(`${pre} "${n}",129`);
        expect(out).not.toMatch(/\d{3}/);
      }),
    );
  });
});
