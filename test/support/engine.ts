/**
 * An in-process agent for tests: real SQLite file in a temp dir, the simulator modem, a fake clock
 * the test moves, and a log sink the test can read. Nothing is mocked.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { Agent } from '../../agent/app.js';
import { FakeClock } from '../../agent/clock.js';
import { parseConfig, type ConfigInput } from '../../agent/config/config.js';
import { createLogger } from '../../agent/log.js';
import { DialPolicy } from '../../agent/policy/dial-policy.js';
import type { DialGuard } from '../../agent/lifecycle/lifecycle.js';
import type { CalleePolicy } from '../../agent/bookings/apply.js';
import { SimulatorModem, SimulatorAudio } from '../../hal/simulator/index.js';
import { AudioRoutedModem } from '../../hal/call-audio.js';
import type { BookingInput } from '../../agent/bookings/schema.js';

export const T0 = Date.UTC(2026, 11, 1, 8, 0, 0); // 2026-12-01T08:00:00Z

export interface EngineOptions {
  start?: number;
  config?: ConfigInput;
  dir?: string;
  dialGuard?: DialGuard & CalleePolicy;
  random?: () => number;
}

export class LogSink extends Writable {
  readonly lines: Record<string, unknown>[] = [];
  override _write(chunk: Buffer, _enc: string, cb: () => void): void {
    for (const l of chunk.toString().split('\n'))
      if (l) this.lines.push(JSON.parse(l) as Record<string, unknown>);
    cb();
  }
  text(): string {
    return this.lines.map((l) => JSON.stringify(l)).join('\n');
  }
}

/** A dial policy permissive enough for engine tests (the policy itself has its own tests). */
export function permissivePolicy(): DialPolicy {
  return new DialPolicy({
    allowedCountries: ['DE', 'GB', 'US', 'AU', 'AT', 'CH', 'NL'],
    allowlist: [],
    allowPremium: false,
    allowShortCodes: false,
    maxCallsPerHour: 1000,
    maxCallsPerDay: 10000,
    quietHours: null,
  });
}

export async function startEngine(opts: EngineOptions = {}) {
  const dir = opts.dir ?? mkdtempSync(join(tmpdir(), 'companion-engine-'));
  const clock = new FakeClock(opts.start ?? T0);
  const config = parseConfig({ dataDir: dir, ...(opts.config ?? {}) });
  const sink = new LogSink();
  const logger = createLogger({ level: 'debug', destination: sink });
  const modem = new SimulatorModem({ timers: clock });
  const audio = new SimulatorAudio({ timers: clock });
  // Composed as the runtime composes it (agent/main.ts): every call has its audio routed around it.
  const routed = new AudioRoutedModem({
    modem,
    audio,
    policy: config.hal.audio.call,
    timers: clock,
  });
  // An unexpected error would exit a real agent; here it is kept, and the test sees it.
  const fatal: { err: unknown; where: string }[] = [];
  const agent = new Agent({
    config,
    clock,
    logger,
    modem: routed,
    audio,
    onFatal: (err, where) => {
      fatal.push({ err, where });
    },
    dialGuard: opts.dialGuard ?? permissivePolicy(),
    ...(opts.random ? { random: opts.random } : { random: () => 0.5 }),
  });
  await agent.start();
  await clock.settle();
  let stopped = false;
  return {
    agent,
    clock,
    modem,
    config,
    dir,
    sink,
    /** Errors that would have exited the process (onFatal). */
    fatal,
    /** Apply booking commands through the one validation path. */
    apply(commands: unknown[]) {
      return agent.applier.apply(commands, { source: 'test' });
    },
    async advance(ms: number) {
      await clock.advance(ms);
    },
    async stop(removeDir = false) {
      if (!stopped) {
        stopped = true;
        await agent.stop();
      }
      if (removeDir) rmSync(dir, { recursive: true, force: true });
    },
  };
}

export type Engine = Awaited<ReturnType<typeof startEngine>>;

let seq = 0;
/** A valid booking with overridable fields. */
export function booking(over: Partial<BookingInput> & { id?: string } = {}): BookingInput {
  return {
    id: over.id ?? `b${++seq}`,
    version: 1,
    callee: '+4915123456789',
    agentId: 'companion-default',
    schedule: { kind: 'once', at: new Date(T0 + 60_000).toISOString() },
    ...over,
  };
}

export function upsert(b: BookingInput, commandId = `cmd-${++seq}`) {
  return { type: 'booking.upsert', commandId, booking: b };
}

export function cancel(bookingId: string, version: number, commandId = `cmd-${++seq}`) {
  return { type: 'booking.cancel', commandId, bookingId, version };
}
