/** CLI commands that change the store: apply (offline provisioning) and dead-letter replay. */
import { readFileSync } from 'node:fs';
import { CliError, type CliContext, configOf, openStore, printJson, table } from './context.js';
import { CommandApplier } from '../bookings/apply.js';
import { OperationError, RunLifecycle } from '../lifecycle/lifecycle.js';
import { DialPolicy } from '../policy/dial-policy.js';
import { SystemClock } from '../clock.js';
import { runView } from '../status.js';
import type { Config } from '../config/config.js';
import type { Store } from '../store/store.js';

/**
 * CLI writes work beside a running agent, not through it (docs/lifecycle.md): they go through the
 * same apply path and run lifecycle in their own process, one SQLite transaction each, every
 * transition conditioned on the state it expects — so a CLI write and the agent's own cannot both
 * act on one run. The running agent sees the commit within scheduler.externalPollSec: it re-plans,
 * and hangs up a ringing call that a CLI cancel reached.
 */
function lifecycleOf(store: Store, config: Config): RunLifecycle {
  return new RunLifecycle(store, new DialPolicy(config.dialPolicy));
}

/**
 * `apply FILE`: booking commands from a JSON file, through the same validation path as MQTT.
 * The file holds an array of commands, or `{ "commands": [...] }`. A running agent picks the
 * change up within scheduler.externalPollSec.
 */
export function applyCommand(ctx: CliContext): number {
  const file = ctx.args[0];
  if (!file) throw new CliError('usage: companion-agent apply FILE.json', 2);
  let doc: unknown;
  try {
    doc = JSON.parse(readFileSync(file === '-' ? 0 : file, 'utf8'));
  } catch (err) {
    throw new CliError(`cannot read ${file}: ${(err as Error).message}`, 2);
  }
  const commands = Array.isArray(doc)
    ? doc
    : Array.isArray((doc as { commands?: unknown })?.commands)
      ? (doc as { commands: unknown[] }).commands
      : null;
  if (!commands) {
    throw new CliError(`${file}: expected an array of commands or {"commands": [...]}`, 2);
  }
  const config = configOf(ctx);
  const store = openStore(config, true);
  try {
    const applier = new CommandApplier(
      store,
      new SystemClock(config.clock.offsetMs),
      lifecycleOf(store, config),
      new DialPolicy(config.dialPolicy),
    );
    const results = applier.apply(commands, { source: 'cli' });
    if (ctx.flags.json) printJson(ctx, results);
    else {
      ctx.out(
        table(
          results.map((r) => ({
            ...r,
            reasons: r.reasons.map((x) => `${x.path ? x.path + ': ' : ''}${x.message}`).join('; '),
          })),
          ['commandId', 'status', 'bookingId', 'currentVersion', 'reasons'],
        ),
      );
      const n = (s: string) => results.filter((r) => r.status === s).length;
      ctx.out(
        `\n${n('accepted')} accepted, ${n('rejected')} rejected, ${n('ignored_stale')} ignored (stale), ${n('duplicate')} duplicate`,
      );
    }
    return results.some((r) => r.status === 'rejected') ? 1 : 0;
  } finally {
    store.close();
  }
}

export function deadLetterReplay(ctx: CliContext): number {
  const runId = ctx.args[0];
  if (!runId) throw new CliError('usage: companion-agent dead-letter replay RUN_ID', 2);
  const config = configOf(ctx);
  const store = openStore(config);
  try {
    const run = lifecycleOf(store, config).replay(
      runId,
      'cli',
      new SystemClock(config.clock.offsetMs).now(),
    );
    if (ctx.flags.json) printJson(ctx, runView(store, run));
    else
      ctx.out(
        `run ${runId} queued again (replay #${run.replays}); a running agent dials it within seconds`,
      );
    return 0;
  } catch (err) {
    if (err instanceof OperationError)
      throw new CliError(err.message, err.code === 'not_found' ? 3 : 4);
    throw err;
  } finally {
    store.close();
  }
}
