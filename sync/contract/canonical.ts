/**
 * Canonical JSON: the exact bytes a signature covers, RFC 8785 (JSON Canonicalization Scheme) —
 * object members sorted by their UTF-16 code units, no whitespace, strings and numbers as
 * ECMAScript's JSON.stringify writes them (so `0.0` is `0`, `1e21` is `1e+21`, "Müller" stays UTF-8,
 * not `\u00fc`). Any language with a JCS implementation produces the same bytes (test vectors in
 * docs/protocol.md). Both sides canonicalise the parsed value, so re-serialisation by a broker or a
 * proxy, or the sender's key order, cannot break a signature.
 *
 * The serialiser is `canonicalize` (the RFC's reference implementation for JavaScript, iterative:
 * no stack to overflow). What cannot be canonicalised — a number JSON.parse turned into Infinity
 * (`1e999`), a lone surrogate, nesting deeper than MAX_JSON_DEPTH — throws CanonicalJsonError; the
 * inbound path turns that into a rejection with a reason, never a wedged link.
 */
import canonicalize from 'canonicalize';

export class CanonicalJsonError extends Error {
  override name = 'CanonicalJsonError';
}

/** Deeper than any message of the contract; deeper input is refused before it is walked. */
export const MAX_JSON_DEPTH = 32;

export function canonicalJson(value: unknown): string {
  const depth = jsonDepth(value, MAX_JSON_DEPTH);
  if (depth > MAX_JSON_DEPTH) {
    throw new CanonicalJsonError(`nested deeper than ${MAX_JSON_DEPTH} levels`);
  }
  let out: string | undefined;
  try {
    out = canonicalize(value);
  } catch (err) {
    throw new CanonicalJsonError((err as Error).message);
  }
  if (out === undefined) throw new CanonicalJsonError(`cannot canonicalise a ${typeof value}`);
  return out;
}

/**
 * How deeply a parsed JSON value nests (a scalar is 0), walking at most `limit + 1` levels down and
 * without recursion, so a hostile 20,000-level document costs nothing.
 */
export function jsonDepth(value: unknown, limit = Number.POSITIVE_INFINITY): number {
  let max = 0;
  const stack: { v: unknown; d: number }[] = [{ v: value, d: 0 }];
  while (stack.length > 0) {
    const { v, d } = stack.pop()!;
    if (v === null || typeof v !== 'object') continue;
    const level = d + 1;
    if (level > max) max = level;
    if (level > limit) return level;
    for (const child of Array.isArray(v) ? v : Object.values(v as Record<string, unknown>))
      stack.push({ v: child, d: level });
  }
  return max;
}
