/**
 * Typed errors and the one place they become HTTP status codes. Actions throw DiagnosticsError with
 * a domain code (they know nothing of HTTP); the server turns any thrown value into a JSON answer
 * here. Unknown errors become 500 without leaking their message.
 */
import { OperationError } from '../lifecycle/lifecycle.js';

export type ErrorCode =
  | 'bad_request'
  | 'unauthorized'
  | 'forbidden'
  | 'not_found'
  | 'method_not_allowed'
  | 'conflict'
  | 'payload_too_large'
  | 'unsupported_media_type'
  | 'misdirected'
  | 'refused_by_policy'
  | 'rate_limited'
  | 'unavailable'
  | 'not_supported'
  | 'timeout'
  | 'internal';

const STATUS: Record<ErrorCode, number> = {
  bad_request: 400,
  unauthorized: 401,
  forbidden: 403,
  not_found: 404,
  method_not_allowed: 405,
  conflict: 409,
  payload_too_large: 413,
  unsupported_media_type: 415,
  misdirected: 421,
  refused_by_policy: 422,
  rate_limited: 429,
  internal: 500,
  not_supported: 501,
  unavailable: 503,
  timeout: 503,
};

export class DiagnosticsError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly details?: Record<string, unknown>,
  ) {
    super(message);
    this.name = 'DiagnosticsError';
  }
}

export interface ErrorBody {
  error: ErrorCode;
  message: string;
  details?: Record<string, unknown>;
}

export interface HttpFailure {
  status: number;
  body: ErrorBody;
  /** Only for unexpected errors: the caller logs it. */
  unexpected?: unknown;
}

function operationCode(code: string): ErrorCode {
  if (code === 'not_found' || code === 'conflict') return code;
  if (code.startsWith('dial_policy:')) return 'refused_by_policy';
  return 'bad_request';
}

export function toHttpFailure(err: unknown): HttpFailure {
  if (err instanceof DiagnosticsError) {
    return {
      status: STATUS[err.code],
      body: {
        error: err.code,
        message: err.message,
        ...(err.details ? { details: err.details } : {}),
      },
    };
  }
  if (err instanceof OperationError) {
    const code = operationCode(err.code);
    return { status: STATUS[code], body: { error: code, message: err.message } };
  }
  return {
    status: 500,
    body: { error: 'internal', message: 'internal error; see the agent log' },
    unexpected: err,
  };
}
