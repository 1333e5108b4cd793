import type { Vendor } from './responses.js';

/** What differs between modem families. Everything else is plain 3GPP 27.007. */
export interface AtDialect {
  name: Vendor;
  /** Sent after the common init; failures are logged and ignored (firmware differs). */
  init: string[];
  /** Voice over USB audio: enable before a call, disable after. */
  usbAudioOn: string | null;
  usbAudioOff: string | null;
}

export const DIALECTS: Record<Vendor, AtDialect> = {
  // Call-state URCs other families offer (ST-Ericsson/MediaTek *ECAV, Huawei-style ^DSCI): asked
  // for, and used when the modem agrees; a modem that answers ERROR is polled with AT+CLCC.
  generic: {
    name: 'generic',
    init: ['AT*ECAV=1', 'AT^DSCI=1'],
    usbAudioOn: null,
    usbAudioOff: null,
  },
  // ^DSCI call status URCs give state changes and the release cause without polling.
  quectel: {
    name: 'quectel',
    init: ['AT^DSCI=1', 'AT+QURCCFG="urcport","usbat"'],
    usbAudioOn: 'AT+QPCMV=1,0',
    usbAudioOff: 'AT+QPCMV=0',
  },
  // AT+CLCC=1 makes SIMCom print +CLCC on every call state change (stat 6 = released).
  simcom: {
    name: 'simcom',
    init: ['AT+CLCC=1'],
    usbAudioOn: 'AT+CPCMREG=1',
    usbAudioOff: 'AT+CPCMREG=0',
  },
};
