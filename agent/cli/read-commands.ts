/** Read-only CLI commands: status, bookings, runs, dead-letter list. */
import { type CliContext, configOf, openStore, printJson, table } from './context.js';
import { bookingView, nextCalls, runView, unitStatus } from '../status.js';
import { VERSION } from '../version.js';
import { ClockTrust } from '../clock-trust.js';
import { SystemClock } from '../clock.js';

export function statusCommand(ctx: CliContext): number {
  const config = configOf(ctx);
  const store = openStore(config);
  try {
    const clock = new SystemClock(config.clock.offsetMs);
    const trust = new ClockTrust(store.meta, clock, {
      floorMs: Date.parse(config.clock.floor),
      backwardToleranceMs: config.clock.backwardToleranceSec * 1000,
    }).evaluate();
    const now = clock.now();
    // The same read model as GET /v1/status; modem and link belong to the running agent's process.
    const s = unitStatus(store, {
      unitId: config.unitId,
      version: VERSION,
      now,
      clock: trust,
      uptimeMs: null,
      modem: null,
      mqtt: { enabled: config.mqtt.enabled, note: 'live link state: GET /v1/status on the agent' },
    });
    const upcoming = store.runs.upcoming(5).map((r) => runView(store, r));
    const next = nextCalls(store, now, 24 * 3_600_000, 10);
    if (ctx.flags.json) {
      printJson(ctx, { ...s, upcoming, nextCalls: next });
      return 0;
    }
    ctx.out(`unit            ${config.unitId} (agent ${s.version})`);
    ctx.out(`boot epoch      ${s.bootEpoch ?? '-'}`);
    ctx.out(`clock           ${trust.trusted ? 'trusted' : `UNTRUSTED: ${trust.message}`}`);
    ctx.out(
      `bookings        ${Object.entries(s.bookings)
        .map(([k, v]) => `${k} ${v}`)
        .join(', ')}`,
    );
    ctx.out(`next call       ${s.nextCallAt ?? 'none booked'}`);
    ctx.out(`dead letters    ${s.deadLetters}`);
    ctx.out(
      `outbox          ${s.outbox.backlog} unsent` +
        (s.outbox.oldestUnsentAt ? ` (oldest ${s.outbox.oldestUnsentAt})` : ''),
    );
    ctx.out(`last cmd seq    ${s.lastCommandSeq ?? '-'}`);
    ctx.out(`store size      ${(s.storeBytes / 1024).toFixed(0)} KiB`);
    ctx.out(`mqtt            ${config.mqtt.enabled ? 'enabled' : 'disabled'}`);
    ctx.out('next calls (24 h):');
    ctx.out(
      next.length === 0
        ? '  none'
        : next
            .map((c) => `  ${c.at}  ${c.bookingId ?? c.kind}  ${c.callee}  ${c.status}`)
            .join('\n'),
    );
    return 0;
  } finally {
    store.close();
  }
}

export function bookingsCommand(ctx: CliContext): number {
  const config = configOf(ctx);
  const store = openStore(config);
  try {
    const rows = store.bookings.list(Number(ctx.flags.limit ?? 1000)).map(bookingView);
    if (ctx.flags.json) printJson(ctx, rows);
    else
      ctx.out(
        table(
          rows.map((r) => ({ ...r, schedule: describeSchedule(r.schedule) })),
          ['bookingId', 'version', 'status', 'callee', 'schedule', 'nextSlotAt', 'remaining'],
        ),
      );
    return 0;
  } finally {
    store.close();
  }
}

export function runsCommand(ctx: CliContext): number {
  const config = configOf(ctx);
  const store = openStore(config);
  try {
    const limit = Number(ctx.flags.limit ?? 20);
    // With their attempts: a call in progress (or a retry waiting after a busy line) shows what
    // it has done so far, not only once it is over.
    const upcoming = store.runs.upcoming(limit).map((r) => runView(store, r, true));
    const recent = store.runs.recent(limit).map((r) => runView(store, r, true));
    if (ctx.flags.json) {
      printJson(ctx, { upcoming, recent });
      return 0;
    }
    const cols = ['runId', 'bookingId', 'slotAt', 'status', 'reason', 'callee', 'dials'];
    ctx.out('Upcoming and in progress:');
    ctx.out(table(upcoming as unknown as Record<string, unknown>[], cols));
    ctx.out('\nRecent outcomes:');
    ctx.out(
      table(
        recent.map((r) => ({
          ...r,
          outcomes: (r.attempts ?? []).map((a) => a.outcome ?? a.status).join(','),
        })),
        [...cols, 'outcomes'],
      ),
    );
    return 0;
  } finally {
    store.close();
  }
}

export function deadLetterList(ctx: CliContext): number {
  const config = configOf(ctx);
  const store = openStore(config);
  try {
    const rows = store.runs.withStatus('dead', 200).map((r) => runView(store, r, true));
    if (ctx.flags.json) printJson(ctx, rows);
    else {
      ctx.out(
        table(rows as unknown as Record<string, unknown>[], [
          'runId',
          'bookingId',
          'slotAt',
          'reason',
          'callee',
          'dials',
          'replays',
        ]),
      );
      if (rows.length > 0) ctx.out('\nReplay one with: companion-agent dead-letter replay <runId>');
    }
    return 0;
  } finally {
    store.close();
  }
}

function describeSchedule(s: unknown): string {
  const x = s as {
    kind?: string;
    at?: string;
    time?: string;
    days?: string[];
    expr?: string;
    zone?: string;
  } | null;
  if (!x?.kind) return '-';
  switch (x.kind) {
    case 'once':
      return `once ${x.at}`;
    case 'daily':
      return `daily ${x.time} ${x.zone}`;
    case 'weekly':
      return `weekly ${x.days?.join(',')} ${x.time} ${x.zone}`;
    default:
      return `cron "${x.expr}" ${x.zone}`;
  }
}
