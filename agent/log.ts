/**
 * Structured logs with pino. One root logger built in main; every component gets a child with its
 * own `component` (and run/attempt ids bound where they apply). Phone numbers are personal data
 * (rule 10): every string field and message is passed through the masker before it is written.
 * Secrets from config are redacted by path.
 */
import { pino, type Logger, type DestinationStream } from 'pino';
import { maskPhonesInText } from './policy/phone.js';

export type { Logger };

const REDACT = [
  'password',
  'token',
  'secret',
  'privateKey',
  '*.password',
  '*.token',
  '*.secret',
  '*.privateKey',
  'config.mqtt.password',
  'config.diagnostics.token',
];

function maskDeep(v: unknown, depth = 0): unknown {
  if (typeof v === 'string') return maskPhonesInText(v);
  if (depth > 6 || v === null || typeof v !== 'object') return v;
  if (v instanceof Error)
    return { type: v.name, message: maskPhonesInText(v.message), stack: v.stack };
  if (Array.isArray(v)) return v.map((x) => maskDeep(x, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v)) out[k] = maskDeep(x, depth + 1);
  return out;
}

export interface LogOptions {
  level?: string;
  /** Where lines go; tests pass a stream that collects them. Default: stdout. */
  destination?: DestinationStream;
}

export function createLogger(opts: LogOptions = {}): Logger {
  return pino(
    {
      level: opts.level ?? 'info',
      base: undefined,
      redact: { paths: REDACT, censor: '[redacted]' },
      formatters: {
        log: (obj) => maskDeep(obj) as Record<string, unknown>,
      },
      hooks: {
        logMethod(args, method) {
          // Mask phone numbers in the message string(s) too, not only in the merged object.
          const masked = args.map((a) => (typeof a === 'string' ? maskPhonesInText(a) : a));
          return method.apply(this, masked as Parameters<typeof method>);
        },
      },
      serializers: { err: pino.stdSerializers.err },
    },
    opts.destination ?? pino.destination({ dest: 1, sync: false }),
  );
}

/** A logger that writes nowhere (for CLI one-shots and tests that do not inspect logs). */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
