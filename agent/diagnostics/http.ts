/** Small node:http helpers: bounded JSON bodies, JSON/text answers, the bearer token. */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { DiagnosticsError } from './errors.js';

const SECURITY_HEADERS = {
  'cache-control': 'no-store',
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
};

export function send(
  res: ServerResponse,
  status: number,
  body: string,
  contentType: string,
  extra: Record<string, string> = {},
): void {
  if (res.headersSent || res.writableEnded) return;
  res.writeHead(status, {
    ...SECURITY_HEADERS,
    'content-type': contentType,
    'content-length': Buffer.byteLength(body),
    ...extra,
  });
  res.end(body);
}

export function sendJson(
  res: ServerResponse,
  status: number,
  value: unknown,
  extra: Record<string, string> = {},
): void {
  send(
    res,
    status,
    `${JSON.stringify(value, null, 2)}\n`,
    'application/json; charset=utf-8',
    extra,
  );
}

export function bearerToken(req: IncomingMessage): string | null {
  const h = req.headers.authorization;
  if (!h) return null;
  const m = /^Bearer\s+(\S+)\s*$/i.exec(h);
  return m ? m[1]! : null;
}

/**
 * Read a JSON object body of at most `limit` bytes. An empty body is `{}`. Oversized bodies are
 * refused from Content-Length before reading, or as soon as the stream passes the limit.
 */
export async function readJsonBody(
  req: IncomingMessage,
  limit: number,
): Promise<Record<string, unknown>> {
  const declared = Number(req.headers['content-length'] ?? NaN);
  if (Number.isFinite(declared) && declared > limit) {
    throw new DiagnosticsError('payload_too_large', `request body over ${limit} bytes`, { limit });
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) {
      throw new DiagnosticsError('payload_too_large', `request body over ${limit} bytes`, {
        limit,
      });
    }
    chunks.push(chunk);
  }
  if (size === 0) return {};
  const type = String(req.headers['content-type'] ?? '');
  if (!/^application\/json\b/i.test(type)) {
    throw new DiagnosticsError(
      'unsupported_media_type',
      'send the body as JSON with "Content-Type: application/json"',
    );
  }
  let value: unknown;
  try {
    value = JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch (err) {
    throw new DiagnosticsError('bad_request', `malformed JSON: ${(err as Error).message}`);
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new DiagnosticsError('bad_request', 'the body must be a JSON object');
  }
  return value as Record<string, unknown>;
}
