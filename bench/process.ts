/**
 * Figures of the agent as a process, started the way production starts it (the launcher's node
 * flags): cold start, idle memory / CPU / disk writes with 10,000 bookings (none due while measured:
 * idle means nothing to do), with and without the MQTT link, the memory peak of draining a 20,000-event
 * backlog on connect, and memory under traffic (a burst of commands, the events they cause,
 * diagnostics reads).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { applierFor } from '../agent/lifecycle/index.js';
import { DialPolicy } from '../agent/policy/dial-policy.js';
import { SystemClock } from '../agent/clock.js';
import { parseConfig } from '../agent/config/config.js';
import { Store } from '../agent/store/store.js';
import { TZDATA_VERSION_KEY, tzdataVersion } from '../agent/bookings/zone-rules-change.js';
import { CloudClient } from '../sync/cloud/client.js';
import { generateSigningKeyPair } from '../sync/contract/signing.js';
import { startBroker, type MosquittoBroker } from '../test/support/mosquitto.js';
import { writeBytes } from './floors.js';
import { median, round, sleep } from './stats.js';
import { futureBooking } from './sync-unit.js';
import { recurringBookings, upserts } from './workload.js';

const CLI = join(process.cwd(), 'dist', 'agent', 'cli', 'main.js');
const TOKEN = 'bench-diagnostics-token-0123456789';
/** Idle is measured after the start-up tail: first system readings, and V8's memory reducer, whose
 * post-start GCs run until ~45 s after ready (measured: 150 ms of CPU at 30–45 s, then none). */
const SETTLE_MS = Number(process.env.BENCH_IDLE_SETTLE_MS ?? 45_000);
const IDLE_WINDOW_MS = Number(process.env.BENCH_IDLE_WINDOW_MS ?? 60_000);

const shebangWords = (): string[] => {
  const first = readFileSync(CLI, 'utf8').split('\n', 1)[0] ?? '';
  return first.startsWith('#!') ? first.split(/\s+/) : [];
};

/** The node flags the production launchers use (the CLI's shebang line is their one source). */
export function launcherFlags(): string[] {
  return shebangWords().filter((a) => a.startsWith('--'));
}

/** The environment the launchers set (`NAME=value` words on the shebang line, e.g. malloc's). */
export function launcherEnv(): Record<string, string> {
  return Object.fromEntries(
    shebangWords()
      .filter((a) => /^[A-Z_][A-Z0-9_]*=/.test(a))
      .map((a) => [a.slice(0, a.indexOf('=')), a.slice(a.indexOf('=') + 1)]),
  );
}

interface Child {
  child: ChildProcess;
  ready: Promise<number>;
  /** The diagnostics URL, once it was logged. */
  diagnosticsUrl: () => string | null;
}

function startChild(configPath: string): Child {
  const t0 = performance.now();
  const child = spawn(process.execPath, [...launcherFlags(), CLI, 'run', '--config', configPath], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let url: string | null = null;
  const ready = new Promise<number>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (b: Buffer) => {
      out += b.toString();
      url ??= /"url":"(http:\/\/[^"]+)"/.exec(out)?.[1] ?? null;
      if (out.includes('"msg":"ready"')) resolve(performance.now() - t0);
      if (out.length > 1_000_000) out = out.slice(-10_000);
    });
    child.once('exit', (c) => reject(new Error(`agent exited ${c}`)));
  });
  return { child, ready, diagnosticsUrl: () => url };
}

async function stopChild(child: ChildProcess): Promise<void> {
  const done = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  await done;
}

/** RSS in MB, or 0 once the process is gone (a sampler must not throw into the event loop). */
function rssMbOf(pid: number): number {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? NaN) / 1024;
  } catch {
    return 0;
  }
}

function procStat(pid: number) {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const rssKb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? NaN);
  // The anonymous part: what the process allocated (heaps), not the pages of the node binary and
  // libraries it mapped (clean, file-backed, reclaimable under memory pressure).
  const anonKb = Number(/RssAnon:\s+(\d+)/.exec(status)?.[1] ?? NaN);
  return {
    rssMb: rssKb / 1024,
    anonMb: anonKb / 1024,
    cpuMs: cpuMsOf(pid),
    writeBytes: writeBytes(pid),
  };
}

/**
 * CPU time the process has used, ms: the scheduler's exact on-CPU time of every thread
 * (`/proc/<pid>/task/<tid>/schedstat`, ns), else utime + stime. The tick-sampled utime + stime
 * charges a whole 10 ms tick to whoever runs when it fires: an agent that wakes a few times a
 * minute for microseconds read 20–210 ms/min in one-minute windows here, against 11.5 ms/min of
 * on-CPU time measured in the same kind of window.
 */
function cpuMsOf(pid: number): number {
  try {
    let ns = 0;
    for (const tid of readdirSync(`/proc/${pid}/task`))
      ns += Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]);
    if (Number.isFinite(ns)) return ns / 1e6;
  } catch {
    // a kernel without schedstat: ticks below
  }
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  const hz = 100; // USER_HZ on Linux
  return ((Number(stat[11]) + Number(stat[12])) / hz) * 1000; // utime + stime
}

interface Idle {
  /** The highest RSS from start to the end of the settling time (sampled every 50 ms). */
  peakMb: number;
  rssMb: number;
  anonMb: number;
  cpuMsPerMin: number;
  writeKbPerH: number;
  coldMs: number;
  /** RSS ~30 s after the first periodic re-send of the unreceipted events (linked run only). */
  afterResendMb?: number;
}

/** Quiet time after the re-send before RSS is read: the agent's memory reducer looks every 10 s. */
const AFTER_RESEND_QUIET_MS = 30_000;

async function statusOf(c: Child): Promise<{ mqtt?: { eventsResent?: number } }> {
  const url = c.diagnosticsUrl();
  if (!url) throw new Error('bench: diagnostics URL not logged');
  const r = await fetch(`${url}/v1/status`, { headers: { authorization: `Bearer ${TOKEN}` } });
  return (await r.json()) as { mqtt?: { eventsResent?: number } };
}

/**
 * The idle figures are read ~105 s after ready; the unreceipted events are sent again at the first
 * re-send sweep, 120 s after start (sync/link/drainer.ts). Wait for it, then let the agent go quiet
 * and read RSS: what a unit whose cloud does not receipt holds for the rest of its life.
 */
async function rssAfterResend(c: Child, resentAtLeast: number): Promise<number> {
  const deadline = performance.now() + 240_000;
  while (((await statusOf(c)).mqtt?.eventsResent ?? 0) < resentAtLeast) {
    if (performance.now() > deadline) throw new Error('bench: the periodic re-send never came');
    await sleep(1000);
  }
  await sleep(AFTER_RESEND_QUIET_MS);
  return rssMbOf(c.child.pid!);
}

async function idleFigures(configPath: string, resentAtLeast = 0): Promise<Idle> {
  const c = startChild(configPath);
  let peakMb = 0;
  const sampler = setInterval(() => {
    peakMb = Math.max(peakMb, rssMbOf(c.child.pid!));
  }, 50);
  let coldMs: number;
  try {
    coldMs = await c.ready;
    await sleep(SETTLE_MS);
  } finally {
    clearInterval(sampler);
  }
  const a = procStat(c.child.pid!);
  await sleep(IDLE_WINDOW_MS);
  const b = procStat(c.child.pid!);
  const afterResendMb = resentAtLeast > 0 ? await rssAfterResend(c, resentAtLeast) : undefined;
  await stopChild(c.child);
  const perMin = 60_000 / IDLE_WINDOW_MS;
  return {
    peakMb,
    rssMb: b.rssMb,
    anonMb: b.anonMb,
    cpuMsPerMin: (b.cpuMs - a.cpuMs) * perMin,
    writeKbPerH: ((b.writeBytes - a.writeBytes) / 1024) * perMin * 60,
    coldMs,
    afterResendMb,
  };
}

/**
 * A data dir with n recurring bookings whose first slot is an hour away (nothing due meanwhile);
 * returns the number of events left sent but unreceipted.
 */
function provision(dir: string, n: number): number {
  const store = Store.open(join(dir, 'companion.db'));
  const startsAt = new Date(Date.now() + 3_600_000).toISOString();
  const bookings = recurringBookings(n).map((b) => ({ ...b, startsAt }));
  const policy = new DialPolicy({ maxCallsPerHour: 1e6, maxCallsPerDay: 1e6, quietHours: null });
  applierFor(store, new SystemClock(), policy).applier.apply(upserts(bookings), {
    source: 'bench',
  });
  // Steady state after syncing: the provisioning results were sent, and — the harder case — not
  // receipted (a cloud that is away): the idle figures with the link on include what 20,000
  // unreceipted rows cost the drain sweeps. The drain itself is the sync bench's
  // outbox_drain_events_per_s.
  const { changes } = store.db
    .prepare('UPDATE outbox SET sent_at = ? WHERE sent_at IS NULL')
    .run(Date.now());
  // A unit that has run before has seen this tzdata: the cold start measured is a restart's. (The
  // first start after a tzdata upgrade computes every next slot again, once: ~0.1 s per 10,000
  // bookings, agent/bookings/zone-rules-change.ts.)
  const tz = tzdataVersion();
  if (tz !== null) store.meta.set(TZDATA_VERSION_KEY, tz);
  store.close();
  return changes;
}

function writeConfig(path: string, value: Record<string, unknown>): string {
  parseConfig(value); // fail here, not in the child, on a bad bench config
  writeFileSync(path, JSON.stringify(value));
  return path;
}

export async function processFigures(
  bookings = 10_000,
  clockPersistEverySec = 3600,
): Promise<Record<string, number>> {
  const dir = mkdtempSync(join(tmpdir(), 'companion-bench-proc-'));
  const base = {
    dataDir: dir,
    log: { level: 'info' },
    diagnostics: { port: 0, token: TOKEN, rateLimit: { perSecond: 10_000, burst: 10_000 } },
  };
  const configPath = writeConfig(join(dir, 'config.json'), base);
  const starts: number[] = [];
  for (let i = 0; i < 5; i++) {
    const c = startChild(configPath);
    starts.push(await c.ready);
    await stopChild(c.child);
  }
  const unreceipted = provision(dir, bookings);
  const plain = await idleFigures(configPath);
  const keys = generateSigningKeyPair();
  const broker = await startBroker();
  let linked: Idle;
  let traffic: Record<string, number>;
  try {
    const mqttConfig = writeConfig(join(dir, 'config-mqtt.json'), {
      ...base,
      unitId: 'bench-unit',
      mqtt: { enabled: true, url: broker.url, signature: { publicKeys: [keys.publicKeyBase64] } },
    });
    // Resent twice: once on connect (no session), once at the first periodic sweep.
    linked = await idleFigures(mqttConfig, 2 * unreceipted);
    traffic = await trafficFigures(mqttConfig, broker, keys.privateKeyPem);
  } finally {
    await broker.dispose();
  }
  rmSync(dir, { recursive: true, force: true });
  // The highest time seen is written once per clock.persistEverySec (one FULL commit): count it in,
  // since an idle window shorter than that interval would not see it.
  return {
    cold_start_ms: round(median(starts)),
    cold_start_10k_bookings_ms: round(plain.coldMs),
    rss_idle_10k_bookings_mb: round(plain.rssMb, 1),
    rss_idle_10k_bookings_mqtt_mb: round(linked.rssMb, 1),
    rss_anon_idle_10k_bookings_mqtt_mb: round(linked.anonMb, 1),
    // The linked start meets a broker without a session for it: the 20,000 unreceipted events are
    // sent again at once (docs/protocol.md "Receipts") — a unit coming back after a long outage.
    rss_peak_backlog_drain_mb: round(linked.peakMb, 1),
    rss_idle_after_resend_mb: round(linked.afterResendMb ?? NaN, 1),
    idle_cpu_ms_per_min: round(plain.cpuMsPerMin),
    idle_cpu_ms_per_min_mqtt: round(linked.cpuMsPerMin),
    idle_disk_write_window_kb_per_h: round(plain.writeKbPerH, 1),
    idle_disk_write_window_kb_per_h_mqtt: round(linked.writeKbPerH, 1),
    idle_persist_commits_per_h: 3600 / clockPersistEverySec,
    ...traffic,
  };
}

/**
 * RSS while the unit works: 2,000 booking changes in 20 signed messages plus 100 single bookings
 * waiting for their results, the events they cause drained to the broker, and 600 diagnostics
 * reads (status, system, calls, logs, metrics) at the same time. Peak RSS sampled every 50 ms.
 */
async function trafficFigures(
  configPath: string,
  broker: MosquittoBroker,
  signingKey: string,
): Promise<Record<string, number>> {
  const c = startChild(configPath);
  await c.ready;
  const pid = c.child.pid!;
  const cloud = new CloudClient({ url: broker.url, signingKey });
  let peak = 0;
  const sampler = setInterval(() => (peak = Math.max(peak, rssMbOf(pid))), 50);
  try {
    await cloud.start();
    await sleep(3000); // connected, snapshot request answered
    const before = procStat(pid).rssMb;
    const url = c.diagnosticsUrl();
    if (!url) throw new Error('bench: diagnostics URL not logged');
    const paths = ['/v1/status', '/v1/system', '/v1/calls', '/v1/logs', '/metrics', '/v1/modem'];
    const reads = (async () => {
      for (let i = 0; i < 100; i++) {
        await Promise.all(
          paths.map((p) =>
            fetch(`${url}${p}`, { headers: { authorization: `Bearer ${TOKEN}` } }).then((r) =>
              r.arrayBuffer(),
            ),
          ),
        );
      }
    })();
    const t0 = performance.now();
    const batches = Array.from({ length: 20 }, (_, k) =>
      cloud.batch(
        'bench-unit',
        Array.from({ length: 100 }, (_, j) => ({
          type: 'booking.upsert' as const,
          commandId: randomUUID(),
          booking: futureBooking(`traffic-${k}-${j}`),
        })),
        60_000,
      ),
    );
    const singles = Array.from({ length: 100 }, (_, i) =>
      cloud.book('bench-unit', futureBooking(`traffic-single-${i}`), 60_000),
    );
    await Promise.all([...batches, ...singles, reads]);
    const trafficSecs = (performance.now() - t0) / 1000;
    await sleep(2000);
    const after = procStat(pid).rssMb;
    return {
      rss_before_traffic_mb: round(before, 1),
      rss_under_traffic_mb: round(peak, 1),
      rss_after_traffic_mb: round(after, 1),
      traffic_s: round(trafficSecs, 2),
    };
  } finally {
    clearInterval(sampler);
    await cloud.stop().catch(() => undefined);
    await stopChild(c.child);
  }
}
