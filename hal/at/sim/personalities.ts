/**
 * Ways a simulated modem can differ from the Quectel/SIMCom firmware the driver was written
 * against. Each trait is something a real modem family does; a personality combines them, so the
 * one modem contract suite runs against modems unlike ours, not only against our own assumptions.
 */
export type SimDialect = 'quectel' | 'simcom' | 'generic';

/** Which unsolicited call-state reports the modem offers (each after its enabling command). */
export type CallUrcStyle = 'dsci' | 'clcc' | 'ecav' | 'none';

export interface SimTraits {
  /** What ATI says, and the vendor commands the modem accepts. */
  dialect: SimDialect;
  /** Call-state URCs: ^DSCI after AT^DSCI=1, +CLCC after AT+CLCC=1, *ECAV after AT*ECAV=1. */
  callUrcs: CallUrcStyle;
  /** A bare AT is answered with ERROR (every other command works). */
  atAnswersError: boolean;
  /** AT+CEER answers this free text for every call end, whatever the cause. */
  ceerText: string | null;
  /** ATD's OK is held until the callee answers (V.250 "OK on connect"); any byte aborts the dial. */
  heldDialOk: boolean;
  /** AT+CLCC answers ERROR: the call state is known from URCs and final codes only. */
  noClcc: boolean;
  /** ATE0 is answered OK, but the modem keeps echoing every command. */
  echoLocked: boolean;
  /** Every line the modem prints is delayed by this many ms. */
  responseDelayMs: number;
  /** +COPS? reports the numeric MCC+MNC until the host asks for names with AT+COPS=3,0. */
  numericCopsByDefault: boolean;
  /** A line of binary garbage before every response (the pty host writes it). */
  garbage: boolean;
  /** Broken firmware: every command is answered ERROR (alive, but useless). */
  answersOnlyError: boolean;
}

const BASE: Omit<SimTraits, 'dialect' | 'callUrcs'> = {
  atAnswersError: false,
  ceerText: null,
  heldDialOk: false,
  noClcc: false,
  echoLocked: false,
  responseDelayMs: 0,
  numericCopsByDefault: false,
  garbage: false,
  answersOnlyError: false,
};

/** The named personalities the contract suite runs against (docs/hal.md describes each). */
export const PERSONALITIES = {
  quectel: { ...BASE, dialect: 'quectel', callUrcs: 'dsci' },
  simcom: { ...BASE, dialect: 'simcom', callUrcs: 'clcc' },
  generic: { ...BASE, dialect: 'generic', callUrcs: 'none' },
  /** Answers bare AT with ERROR, numeric +COPS until asked, free-text +CEER. */
  'at-error': {
    ...BASE,
    dialect: 'generic',
    callUrcs: 'none',
    atAnswersError: true,
    numericCopsByDefault: true,
  },
  /** Every call end explained as "+CEER: EXTENDED ERROR STRING"; state only by polling. */
  'ceer-free-text': {
    ...BASE,
    dialect: 'generic',
    callUrcs: 'none',
    ceerText: 'EXTENDED ERROR STRING',
  },
  /** ATD's OK held until the callee answers; call state from ^DSCI while the dial is outstanding. */
  'held-dial-ok': { ...BASE, dialect: 'generic', callUrcs: 'dsci', heldDialOk: true },
  /** *ECAV reports only; AT+CLCC answers ERROR. */
  'urc-only': { ...BASE, dialect: 'generic', callUrcs: 'ecav', noClcc: true },
  /** Echo stays on, every line 60 ms late, binary garbage between lines. */
  noisy: {
    ...BASE,
    dialect: 'quectel',
    callUrcs: 'dsci',
    echoLocked: true,
    responseDelayMs: 60,
    garbage: true,
  },
} satisfies Record<string, SimTraits>;

export type PersonalityName = keyof typeof PERSONALITIES;

export const PERSONALITY_NAMES = Object.keys(PERSONALITIES) as PersonalityName[];

export function traitsOf(p: PersonalityName | SimDialect | Partial<SimTraits>): SimTraits {
  if (typeof p === 'string') return { ...PERSONALITIES[p] };
  const dialect = p.dialect ?? 'generic';
  const urcs: CallUrcStyle =
    dialect === 'quectel' ? 'dsci' : dialect === 'simcom' ? 'clcc' : 'none';
  return { ...BASE, dialect, callUrcs: urcs, ...p };
}

/** Call status as the modem reports it: the +CLCC stat numbers, plus released. */
export type SimCallStat = 0 | 2 | 3 | 'released';

/**
 * The call-state URC lines for one change, in the modem's style. `cause` is the 24.008 release
 * cause of a released call (null: none given), `busy` a release because the callee was busy.
 */
export function callStateUrcs(
  style: CallUrcStyle,
  dialect: SimDialect,
  number: string,
  stat: SimCallStat,
  cause: number | null = null,
  busy = false,
): string[] {
  switch (style) {
    case 'dsci':
      if (stat !== 'released') return [`^DSCI: 1,0,${stat},0,${number},145`];
      return [`^DSCI: 1,0,6,0,${number},145${cause === null ? '' : `,${cause}`}`];
    case 'clcc': {
      const s = stat === 'released' ? 6 : stat;
      const lines = [`+CLCC: 1,0,${s},0,0,"${number}",145`];
      if (dialect === 'simcom' && stat === 0) lines.push('VOICE CALL: BEGIN');
      if (dialect === 'simcom' && stat === 'released') lines.push('VOICE CALL: END: 000000');
      return lines;
    }
    case 'ecav': {
      // *ECAV ccstatus: 1 calling, 2 connecting (the far end rings), 3 active, 0 idle, 7 busy.
      if (stat === 'released') {
        return [busy ? '*ECAV: 1,7,1' : `*ECAV: 1,0,1${cause === null ? '' : `,,${cause}`}`];
      }
      return [`*ECAV: 1,${stat === 2 ? 1 : stat === 3 ? 2 : 3},1`];
    }
    case 'none':
      return [];
  }
}
