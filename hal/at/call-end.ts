import type { CallEnd } from '../call-session.js';
import { classifyCause, type EndClass, parseCeer } from './responses.js';
import type { Send } from './status-reader.js';

/** What the modem said when the call went: a final code, a 24.008 cause, or an ATD error. */
export interface EndHint {
  code?: string;
  cause?: number | null;
  /** A held ATD answered ERROR: the network refused the call set-up. */
  error?: string;
}

/**
 * Why the network ended a call: from the hint when it says enough, else from AT+CEER. A CEER the
 * driver cannot read (free text such as "EXTENDED ERROR STRING") leaves the class `unknown`.
 */
export async function readEndReason(
  hint: EndHint,
  send: Send,
): Promise<{ cls: EndClass; detail: string | undefined }> {
  let cls: EndClass | null = null;
  let detail: string | undefined = hint.error ?? hint.code;
  if (hint.code === 'BUSY') cls = 'busy';
  else if (hint.code === 'NO ANSWER') cls = 'no_answer';
  else if (hint.code === 'NO DIALTONE' || hint.error !== undefined) cls = 'failed';
  else if (hint.cause !== undefined && hint.cause !== null) cls = classifyCause(hint.cause);
  if (cls === null || cls === 'unknown') {
    try {
      const r = await send('AT+CEER', { expect: '+CEER:' });
      const ceer = r.lines.map(parseCeer).find((c) => c !== null);
      if (ceer) {
        if (cls === null || ceer.cls !== 'unknown') cls = ceer.cls;
        detail = ceer.text;
      }
    } catch {
      // No reason available; the call still ended.
    }
  }
  return { cls: cls ?? 'unknown', detail };
}

/**
 * The outcome of a call the network ended. An answered call that ends on the network's word was
 * hung up by the far end, whatever the modem's cause text says: a dropped radio link and the
 * callee putting the phone down cannot be told apart on most modems, and the resident *was*
 * reached. The cause text stays in `detail`.
 */
export function mapEnd(cls: EndClass, answered: boolean, detail: string | undefined): CallEnd {
  const withDetail = detail ? { detail } : {};
  if (answered) return { result: 'completed', endedBy: 'remote', ...withDetail };
  switch (cls) {
    case 'busy':
      return { result: 'busy', endedBy: 'network', ...withDetail };
    case 'rejected':
      return { result: 'rejected', endedBy: 'remote', ...withDetail };
    case 'no_answer':
      return { result: 'no_answer', endedBy: 'network', ...withDetail };
    case 'failed':
      return { result: 'failed', endedBy: 'network', ...withDetail };
    default:
      return { result: 'no_carrier', endedBy: 'network', ...withDetail };
  }
}
