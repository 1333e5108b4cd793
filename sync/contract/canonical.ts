/**
 * Canonical JSON: the exact bytes a signature covers. Object keys sorted by code unit, no
 * whitespace, arrays in order, `undefined` members dropped (as JSON.stringify does). Both sides
 * canonicalise the parsed value, so re-serialisation by a broker or a proxy cannot break a
 * signature, and key order chosen by the sender does not matter.
 */

export class CanonicalJsonError extends Error {
  override name = 'CanonicalJsonError';
}

export function canonicalJson(value: unknown): string {
  if (value === null) return 'null';
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return JSON.stringify(value);
    case 'number':
      if (!Number.isFinite(value)) throw new CanonicalJsonError('non-finite number');
      return JSON.stringify(value);
    case 'object': {
      if (Array.isArray(value)) {
        return `[${value.map((v) => (v === undefined ? 'null' : canonicalJson(v))).join(',')}]`;
      }
      const obj = value as Record<string, unknown>;
      const keys = Object.keys(obj)
        .filter((k) => obj[k] !== undefined)
        .sort();
      return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(obj[k])}`).join(',')}}`;
    }
    default:
      throw new CanonicalJsonError(`cannot canonicalise a ${typeof value}`);
  }
}
