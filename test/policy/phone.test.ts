import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { maskPhone, maskPhonesInText } from '../../agent/policy/phone.js';

describe('maskPhone', () => {
  it('shows country code, 3 leading national digits and the last 2', () => {
    expect(maskPhone('+4915123456789')).toBe('+49 151 ••• ••89');
    expect(maskPhone('+12125550123')).toBe('+1 212 ••• ••23');
    expect(maskPhone('+61412345678')).toBe('+61 412 ••• ••78');
    expect(maskPhone('+353861234567')).toBe('+353 861 ••• ••67');
  });

  it('ignores formatting in the input', () => {
    expect(maskPhone('+49 151-2345 6789')).toBe('+49 151 ••• ••89');
  });

  it('hides the length: bullets are fixed', () => {
    expect(maskPhone('+49301234567').split('•').length).toBe(
      maskPhone('+4915123456789').split('•').length,
    );
  });

  it('masks short and odd input without echoing it', () => {
    expect(maskPhone('+49110')).toBe('+49 ••• ••');
    expect(maskPhone('+491234567')).toBe('+49 1 ••• ••67');
    expect(maskPhone('12345')).toBe('••• ••');
    expect(maskPhone('')).toBe('••• ••');
    expect(maskPhone('+')).toBe('+••• ••');
    expect(maskPhone('015123456789')).toBe('015 ••• ••89');
    expect(maskPhone(undefined as unknown as string)).toBe('••• ••');
  });

  it('never reveals more than the country code + 3 + 2 digits', () => {
    fc.assert(
      fc.property(fc.string(), (s) => {
        const out = maskPhone(s);
        const shown = out.replace(/\D/g, '');
        const cc = out.startsWith('+') ? (out.slice(1).split(' ')[0] ?? '').replace(/\D/g, '') : '';
        expect(shown.length).toBeLessThanOrEqual(cc.length + 5);
        expect(out).toContain('•');
      }),
    );
    fc.assert(
      fc.property(fc.stringMatching(/^\+\d{1,20}$/), (s) => {
        const out = maskPhone(s);
        const [first = '', ...rest] = out.split(' ');
        const cc = /^\+\d+$/.test(first) ? first.slice(1) : '';
        const national = s.slice(1 + cc.length);
        const shownNational = rest.join('').replace(/\D/g, '').length;
        // At least 4 national digits always stay hidden, and at most 5 are ever shown.
        expect(shownNational).toBeLessThanOrEqual(Math.min(5, Math.max(0, national.length - 4)));
      }),
    );
  });
});

describe('maskPhonesInText', () => {
  it('masks every number in a line', () => {
    expect(maskPhonesInText('dial +4915123456789 then +1 212-555-0123.')).toBe(
      'dial +49 151 ••• ••89 then +1 212 ••• ••23.',
    );
  });

  it('leaves short + runs and plain text alone', () => {
    expect(maskPhonesInText('retry +5 s, code 12345, +1 day')).toBe(
      'retry +5 s, code 12345, +1 day',
    );
  });

  it('masks runs longer than 15 digits entirely', () => {
    const out = maskPhonesInText('x +12345678901234567890 y');
    expect(out).not.toMatch(/\d{5}/);
  });

  it('is idempotent', () => {
    const once = maskPhonesInText('a +353861234567 b +4915123456789');
    expect(maskPhonesInText(once)).toBe(once);
  });

  it('never leaves a 6+ digit run after a plus', () => {
    fc.assert(
      fc.property(fc.string(), fc.stringMatching(/^\+\d{6,15}$/), fc.string(), (a, p, b) => {
        const out = maskPhonesInText(`${a} ${p} ${b}`);
        expect(out).not.toContain(p);
      }),
    );
  });
});
