/** Turning inbound bytes into something safe to keep in the audit log. */

const AUDIT_LIMIT = 8192;
const decoder = new TextDecoder('utf-8', { fatal: true });

/** UTF-8 text when it is text, else `base64:`; truncated so garbage cannot bloat the audit log. */
export function auditText(payload: Buffer, limit = AUDIT_LIMIT): string {
  const head = payload.subarray(0, limit);
  let text: string;
  try {
    text = decoder.decode(head);
  } catch {
    text = `base64:${head.toString('base64')}`;
  }
  return payload.length > limit ? `${text}…[${payload.length} bytes]` : text;
}

export function decodeUtf8(payload: Buffer): string | null {
  try {
    return decoder.decode(payload);
  } catch {
    return null;
  }
}
