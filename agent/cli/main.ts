#!/usr/bin/env -S MALLOC_TRIM_THRESHOLD_=131072 node --max-semi-space-size=2 --no-concurrent-recompilation
/**
 * companion-agent: the unit's command line. `run` starts the agent; the other commands read or
 * change the same store a running agent uses (SQLite WAL makes that safe).
 */
import { parseArgs } from 'node:util';
import { CliError, type CliContext } from './context.js';
import { ConfigError, loadConfig } from '../config/config.js';
import { configCheckCommand } from './config-command.js';
import { endQuietlyOnEpipe } from './epipe.js';
import { VERSION } from '../version.js';
import { StartRefusedError } from '../store/upgrade-guard.js';
import { DataDirLockedError, EXIT_DATA_DIR_LOCKED } from '../store/dir-lock.js';

// Each command loads only what it needs: `run` (the long-lived agent) never carries the one-shot
// commands' modules, and a one-shot command never loads the agent's runtime (start time, memory).
const agentMain = () => import('../main.js');
const reads = () => import('./read-commands.js');
const writes = () => import('./write-commands.js');

const USAGE = `companion-agent ${VERSION}: places a Companion unit's booked calls on time, online or offline.

Usage: companion-agent <command> [options]

Commands:
  run                         start the agent (until SIGTERM/SIGINT)
  status                      unit health: clock, bookings, next call, dead letters, outbox
  bookings                    list bookings (numbers masked)
  runs                        upcoming calls and recent outcomes with their attempts
  dead-letter [list]          runs that failed after every retry
  dead-letter replay RUN_ID   queue a dead-lettered run again
  apply FILE                  apply booking commands from a JSON file (offline provisioning; - = stdin)
  config check                validate the configuration and print it (secrets redacted)
  doctor                      check this unit's installation (OK/WARN/FAIL with fixes)
  version                     print the version

Options:
  --config PATH   one JSON config file instead of $COMPANION_CONFIG_DIR's config.json + config.d/*.json
  --json          machine-readable output
  --limit N       how many rows to list
  -h, --help      this help

Config layers, later wins: built-in defaults, $COMPANION_DEFAULTS_FILE (the package's defaults),
$COMPANION_CONFIG_DIR/config.json, $COMPANION_CONFIG_DIR/config.d/*.json (by name), --config PATH
(or $COMPANION_CONFIG) instead of those two, then COMPANION_<KEY>[__<KEY>...] variables, e.g.
COMPANION_DATA_DIR=/tmp/unit. \`config check\` shows which layer set each value.`;

export async function main(argv: string[], io: CliIo = defaultIo()): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        config: { type: 'string' },
        json: { type: 'boolean', default: false },
        limit: { type: 'string' },
        help: { type: 'boolean', short: 'h', default: false },
        version: { type: 'boolean', default: false },
      },
    });
  } catch (err) {
    io.err(`${(err as Error).message}\n\n${USAGE}`);
    return 2;
  }
  const [command, ...rest] = parsed.positionals;
  // Output into a pipe whose reader has gone (`| head`) ends quietly; see epipe.ts.
  if (command !== 'run') io.onCommand?.();
  if (parsed.values.version || command === 'version') {
    io.out(VERSION);
    return 0;
  }
  if (parsed.values.help || !command) {
    io.out(USAGE);
    return command || parsed.values.help ? 0 : 2;
  }
  const ctx: CliContext = {
    args: rest,
    flags: {
      config: parsed.values.config ?? null,
      json: parsed.values.json ?? false,
      limit: parsed.values.limit ?? null,
    },
    out: io.out,
    err: io.err,
    env: io.env,
  };
  try {
    switch (command) {
      case 'run': {
        const config = loadConfig({ path: ctx.flags.config, env: ctx.env });
        return await (await agentMain()).runUntilSignal(config);
      }
      case 'status':
        return (await reads()).statusCommand(ctx);
      case 'bookings':
        return (await reads()).bookingsCommand(ctx);
      case 'runs':
        return (await reads()).runsCommand(ctx);
      case 'dead-letter': {
        const sub = rest[0] ?? 'list';
        if (sub === 'list') return (await reads()).deadLetterList(ctx);
        if (sub === 'replay')
          return (await writes()).deadLetterReplay({ ...ctx, args: rest.slice(1) });
        throw new CliError(`unknown dead-letter command "${sub}" (list, replay RUN_ID)`, 2);
      }
      case 'apply':
        return (await writes()).applyCommand(ctx);
      case 'config': {
        if (rest[0] !== 'check') throw new CliError('usage: companion-agent config check', 2);
        return configCheckCommand(ctx);
      }
      case 'doctor':
        return await (await import('../doctor/command.js')).doctorCommand(ctx);
      default:
        throw new CliError(`unknown command "${command}"\n\n${USAGE}`, 2);
    }
  } catch (err) {
    if (err instanceof ConfigError) {
      io.err(err.message);
      return 2;
    }
    if (err instanceof DataDirLockedError) {
      io.err(`error: ${err.message}`);
      return EXIT_DATA_DIR_LOCKED;
    }
    if (err instanceof StartRefusedError) {
      io.err(`error: ${err.message}`);
      return err.exitCode;
    }
    if (err instanceof CliError) {
      io.err(`error: ${err.message}`);
      return err.exitCode;
    }
    io.err(`error: ${(err as Error).stack ?? String(err)}`);
    return 1;
  }
}

export interface CliIo {
  out: (s: string) => void;
  err: (s: string) => void;
  env: NodeJS.ProcessEnv;
  /** Called once the command is known and is not `run`. */
  onCommand?: () => void;
}

function defaultIo(): CliIo {
  return {
    out: (s: string) => process.stdout.write(s + '\n'),
    err: (s: string) => process.stderr.write(s + '\n'),
    env: process.env,
    onCommand: () => endQuietlyOnEpipe(process.stdout),
  };
}

// Run when executed directly (not when imported by tests).
if (import.meta.url === `file://${process.argv[1]}` || process.argv[1]?.endsWith('/cli/main.js')) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (err: unknown) => {
      process.stderr.write(`fatal: ${String(err)}\n`);
      process.exitCode = 1;
    },
  );
}
