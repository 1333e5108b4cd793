/**
 * Structured logs with pino. One root logger built in main; every component gets a child with its
 * own `component` (and run/attempt ids bound where they apply). Phone numbers are personal data
 * (rule 10): every string field and message is passed through the masker before it is written.
 * Secrets from config are redacted by path.
 */
import { createRequire } from 'node:module';
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
  /** Also keep the most recent lines (already redacted and masked) in memory, for diagnostics. */
  ring?: LogRing;
  /**
   * `pretty`: human-readable lines (pino-pretty); `json`: one JSON object a line; `auto` (default):
   * pretty when stdout is a terminal, JSON otherwise (journald, pipes, files). Only used for the
   * default destination (stdout).
   */
  format?: LogFormat;
}

export type LogFormat = 'auto' | 'json' | 'pretty';

/**
 * pino-pretty as a stream in this thread, loaded only when asked for: a unit's stdout is journald,
 * so production never loads it (and a production install, without devDependencies, may not have it:
 * then the lines stay JSON).
 */
function prettyStdout(): DestinationStream | null {
  try {
    const load = createRequire(import.meta.url);
    const pretty = load('pino-pretty') as (o: Record<string, unknown>) => DestinationStream;
    return pretty({
      colorize: true,
      sync: true,
      translateTime: 'SYS:HH:MM:ss.l',
      ignore: 'pid,hostname',
    });
  } catch {
    return null;
  }
}

export function stdoutDestination(
  format: LogFormat = 'auto',
  isTTY = process.stdout.isTTY,
): DestinationStream {
  const wantPretty = format === 'pretty' || (format === 'auto' && isTTY === true);
  return (wantPretty ? prettyStdout() : null) ?? pino.destination({ dest: 1, sync: false });
}

/** A line as kept by the ring: pino's JSON object, parsed once. */
export type LogLine = Record<string, unknown> & { level: number; time: number; msg?: string };

/**
 * The last N log lines in memory (GET /v1/logs). It receives lines after pino has applied the
 * redaction paths and the phone masker, so it never holds anything the log file would not.
 */
export class LogRing {
  private readonly buf: (LogLine | undefined)[];
  private next = 0;
  private count = 0;

  constructor(readonly capacity = 500) {
    this.buf = new Array<LogLine | undefined>(capacity);
  }

  write(line: string): void {
    for (const l of line.split('\n')) {
      if (!l) continue;
      try {
        this.buf[this.next] = JSON.parse(l) as LogLine;
      } catch {
        continue;
      }
      this.next = (this.next + 1) % this.capacity;
      this.count = Math.min(this.count + 1, this.capacity);
    }
  }

  /** Oldest first, at most `limit` of the newest lines, at or above `minLevel`. */
  lines(limit = this.capacity, minLevel = 0): LogLine[] {
    const out: LogLine[] = [];
    // Walk back from the newest line, then return them oldest first.
    for (let i = 1; i <= this.count && out.length < limit; i++) {
      const l = this.buf[(this.next - i + this.capacity) % this.capacity];
      if (l && l.level >= minLevel) out.push(l);
    }
    return out.reverse();
  }
}

/** Write every line to the destination and to the ring; flush still reaches the destination. */
function tee(dest: DestinationStream, ring: LogRing): DestinationStream {
  const d = dest as DestinationStream & { flush?: (cb?: (err?: Error) => void) => void };
  return {
    write(line: string) {
      ring.write(line);
      return d.write(line);
    },
    ...(typeof d.flush === 'function'
      ? { flush: (cb?: (err?: Error) => void) => d.flush!(cb) }
      : {}),
  } as DestinationStream;
}

export function createLogger(opts: LogOptions = {}): Logger {
  const dest = opts.destination ?? stdoutDestination(opts.format);
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
    opts.ring ? tee(dest, opts.ring) : dest,
  );
}

/** A logger that writes nowhere (for CLI one-shots and tests that do not inspect logs). */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
