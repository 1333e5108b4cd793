/**
 * Host readings for GET /v1/system, refreshed on a timer and served from a cache, so a request
 * never waits on systeminformation and a slow or hung call cannot stall the event loop's callers.
 *
 * Measured on the dev box (docs/diagnostics.md has the table): si.networkInterfaces() runs six
 * execSync children (ip, nmcli...) and blocks the event loop ~120 ms per call; si.fsSize(),
 * si.cpuTemperature(), si.time() and si.system() each run execSync children (10-45 ms blocked);
 * si.versions() spawns 33 processes and blocks up to 400 ms. A blocked loop is a late call, so the
 * schedule reads /proc itself (what si.currentLoad() and si.mem() read) and uses plain Node for the
 * rest: os.networkInterfaces(), fs.statfs() and the sysfs thermal zones. si.osInfo()
 * and si.cpu() (async children, no execSync in steady state) run once, for the static facts.
 *
 * Idle cost (issue 14): si.currentLoad() runs `cat /proc/stat | grep cpu` through execSync on every
 * call — three children and ~20 ms of blocked loop per refresh, on a unit nobody is looking at — so
 * the load is read from /proc/stat here (the delta between two refreshes), and memory from
 * /proc/meminfo. systeminformation is loaded only for the once-only static facts (distribution
 * name, CPU brand) and then dropped from require's cache, so its code and sources (~1.5 MB of heap,
 * issue 14) are garbage once read; a later refresh loads it again only if those readings failed.
 */
import { statfsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { readdir, readFile, statfs } from 'node:fs/promises';
import {
  cpus,
  freemem,
  hostname,
  loadavg,
  networkInterfaces,
  release,
  totalmem,
  type as osType,
  uptime as osUptime,
} from 'node:os';
import type { Clock } from '../clock.js';
import type { Logger } from '../log.js';

export interface SystemSnapshot {
  refreshedAt: string | null;
  /** quick: the plain-Node readings taken at start (so the page never shows an empty panel); full: a refresh. */
  source: 'none' | 'quick' | 'full';
  /** Readings that failed or timed out on the last refresh (the previous value is kept). */
  errors: Record<string, string>;
  host: {
    hostname: string | null;
    os: string | null;
    kernel: string | null;
    arch: string | null;
    cpuModel: string | null;
    cores: number | null;
    uptimeSec: number;
  };
  cpu: { loadPercent: number | null; load: [number, number, number] };
  memory: { totalBytes: number; availableBytes: number; usedPercent: number } | null;
  disks: { path: string; totalBytes: number; freeBytes: number; usedPercent: number }[];
  temperatureC: number | null;
  network: { name: string; addresses: string[]; mac: string; state: string | null }[];
}

export interface SystemInfoOptions {
  clock: Clock;
  logger: Logger;
  refreshMs: number;
  callTimeoutMs: number;
  /** Filesystems to report (the data dir first). */
  paths: string[];
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let t: NodeJS.Timeout;
  const timeout = new Promise<never>((_, reject) => {
    t = setTimeout(() => reject(new Error(`${what} timed out after ${ms} ms`)), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(t));
}

async function thermalC(): Promise<number | null> {
  const base = '/sys/class/thermal';
  const zones = (await readdir(base).catch(() => [])).filter((z) => z.startsWith('thermal_zone'));
  let max: number | null = null;
  for (const z of zones) {
    const raw = await readFile(`${base}/${z}/temp`, 'utf8').catch(() => null);
    const v = raw === null ? NaN : Number(raw.trim()) / 1000;
    if (Number.isFinite(v) && v > -40 && v < 150) max = max === null ? v : Math.max(max, v);
  }
  return max;
}

async function interfaces(): Promise<SystemSnapshot['network']> {
  const out: SystemSnapshot['network'] = [];
  for (const [name, addrs] of Object.entries(networkInterfaces())) {
    if (!addrs || name === 'lo') continue;
    const state = await readFile(`/sys/class/net/${name}/operstate`, 'utf8').catch(() => null);
    out.push({
      name,
      addresses: addrs.map((a) => a.cidr ?? a.address),
      mac: addrs[0]?.mac ?? '',
      state: state?.trim() ?? null,
    });
  }
  return out;
}

/** MemTotal and MemAvailable (bytes) from /proc/meminfo, what si.mem() reads. */
export async function memInfo(): Promise<{ total: number; available: number } | null> {
  const text = await readFile('/proc/meminfo', 'utf8').catch(() => null);
  const kb = (key: string) =>
    Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(text ?? '')?.[1]);
  const total = kb('MemTotal') * 1024;
  const available = kb('MemAvailable') * 1024;
  return Number.isFinite(total) && total > 0 && Number.isFinite(available)
    ? { total, available }
    : null;
}

type SystemInformation = typeof import('systeminformation');

/**
 * Run `fn` with systeminformation loaded, then drop it (and every file of the package) from
 * require's cache. It is CommonJS with no dependencies of its own, so nothing else holds it.
 */
export async function withSystemInformation<T>(
  fn: (si: SystemInformation) => Promise<T>,
): Promise<T> {
  const require = createRequire(import.meta.url);
  const path = require.resolve('systeminformation');
  const root = path.slice(
    0,
    path.lastIndexOf('/node_modules/systeminformation/') +
      '/node_modules/systeminformation/'.length,
  );
  try {
    return await fn(require('systeminformation') as SystemInformation);
  } finally {
    for (const key of Object.keys(require.cache))
      if (key.startsWith(root)) delete require.cache[key];
  }
}

/** Busy and total jiffies over all CPUs, from the first line of /proc/stat. */
export async function cpuTimes(): Promise<{ busy: number; total: number } | null> {
  const text = await readFile('/proc/stat', 'utf8').catch(() => null);
  const f = text?.split('\n', 1)[0]?.trim().split(/\s+/).slice(1).map(Number);
  if (!f || f.length < 4 || f.some((x) => !Number.isFinite(x))) return null;
  const total = f.reduce((a, b) => a + b, 0);
  const idle = f[3]! + (f[4] ?? 0); // idle + iowait
  return { busy: total - idle, total };
}

/** Percent of CPU time busy between two /proc/stat readings (null without a usable interval). */
export function loadPercentBetween(
  a: { busy: number; total: number } | null,
  b: { busy: number; total: number } | null,
): number | null {
  if (!a || !b || b.total <= a.total) return null;
  return Math.round(((b.busy - a.busy) / (b.total - a.total)) * 1000) / 10;
}

export class SystemInfoCache {
  private snap: SystemSnapshot;
  private timer: unknown = null;
  private refreshing: Promise<void> | null = null;
  private staticDone = false;
  private lastCpu: { busy: number; total: number } | null = null;
  private readonly log: Logger;

  constructor(private readonly o: SystemInfoOptions) {
    this.log = o.logger.child({ component: 'system-info' });
    this.snap = {
      refreshedAt: null,
      source: 'none',
      errors: {},
      host: {
        hostname: null,
        os: null,
        kernel: null,
        arch: process.arch,
        cpuModel: null,
        cores: null,
        uptimeSec: Math.round(osUptime()),
      },
      cpu: { loadPercent: null, load: loadavg() as [number, number, number] },
      memory: null,
      disks: [],
      temperatureC: null,
      network: [],
    };
  }

  /**
   * Take the quick readings now (plain Node calls that return in microseconds: hostname, kernel,
   * CPUs, memory, load, addresses, the data dir's filesystem) — so the first page load already
   * shows the system panel — and refresh fully one period later. Not sooner (issue 14): the first
   * full refresh loads systeminformation for the static facts, ~1.5 MB of heap that is garbage
   * after, and right after start it piled onto the start-up garbage (RSS 3 s after start 73 MB with
   * it at 1 s, 71 MB without).
   */
  start(): void {
    // The first load reading is the delta from here to the first refresh.
    void cpuTimes().then((t) => (this.lastCpu ??= t));
    this.quick();
    this.schedule(this.o.refreshMs);
  }

  private quick(): void {
    const s = this.snap;
    const cpu = cpus()[0];
    const total = totalmem();
    const free = freemem();
    const disks: SystemSnapshot['disks'] = [];
    for (const path of this.o.paths) {
      try {
        const f = statfsSync(path);
        const t = f.blocks * f.bsize;
        const fr = f.bavail * f.bsize;
        disks.push({
          path,
          totalBytes: t,
          freeBytes: fr,
          usedPercent: t ? Math.round(((t - fr) / t) * 1000) / 10 : 0,
        });
      } catch {
        // The full refresh reports it.
      }
    }
    this.snap = {
      ...s,
      refreshedAt: new Date(this.o.clock.now()).toISOString(),
      source: 'quick',
      host: {
        ...s.host,
        hostname: hostname(),
        os: osType(),
        kernel: release(),
        cpuModel: cpu?.model ?? null,
        cores: cpus().length || null,
      },
      memory: total
        ? {
            totalBytes: total,
            availableBytes: free,
            usedPercent: Math.round(((total - free) / total) * 1000) / 10,
          }
        : null,
      disks,
      network: Object.entries(networkInterfaces())
        .filter(([name, a]) => a && name !== 'lo')
        .map(([name, a]) => ({
          name,
          addresses: a!.map((x) => x.cidr ?? x.address),
          mac: a![0]?.mac ?? '',
          state: null,
        })),
    };
  }

  stop(): void {
    if (this.timer !== null) this.o.clock.clearTimeout(this.timer);
    this.timer = null;
  }

  snapshot(): SystemSnapshot {
    return this.snap;
  }

  /** One refresh (concurrent callers share it). Never throws. */
  refresh(): Promise<void> {
    this.refreshing ??= this.doRefresh().finally(() => {
      this.refreshing = null;
    });
    return this.refreshing;
  }

  private schedule(ms: number): void {
    const timer = this.o.clock.setTimeout(() => {
      void this.refresh().finally(() => {
        if (this.timer !== null) this.schedule(this.o.refreshMs);
      });
    }, ms);
    // A diagnostics reading must never keep the process alive (a real timer is unref'd).
    (timer as { unref?: () => void }).unref?.();
    this.timer = timer;
  }

  private async read<T>(what: string, errors: Record<string, string>, fn: () => Promise<T>) {
    try {
      return await withTimeout(fn(), this.o.callTimeoutMs, what);
    } catch (err) {
      errors[what] = (err as Error).message;
      return undefined;
    }
  }

  private async doRefresh(): Promise<void> {
    const errors: Record<string, string> = {};
    const s = this.snap;
    if (!this.staticDone) {
      const [os, cpu] = await withSystemInformation(async (si) => [
        await this.read('osInfo', errors, () => si.osInfo()),
        await this.read('cpu', errors, () => si.cpu()),
      ]);
      if (os) Object.assign(s.host, { hostname: os.hostname, os: os.distro, kernel: os.kernel });
      if (cpu) Object.assign(s.host, { cpuModel: cpu.brand, cores: cpu.cores });
      this.staticDone = os !== undefined && cpu !== undefined;
    }
    const cpu = await this.read('currentLoad', errors, cpuTimes);
    const loadPercent = loadPercentBetween(this.lastCpu, cpu ?? null);
    if (cpu) this.lastCpu = cpu;
    const mem = await this.read('mem', errors, memInfo);
    const disks = await this.read('statfs', errors, () =>
      Promise.all(
        this.o.paths.map(async (path) => {
          const f = await statfs(path);
          const total = f.blocks * f.bsize;
          const free = f.bavail * f.bsize;
          const usedPercent = total ? Math.round(((total - free) / total) * 1000) / 10 : 0;
          return { path, totalBytes: total, freeBytes: free, usedPercent };
        }),
      ),
    );
    const temp = await this.read('temperature', errors, thermalC);
    const net = await this.read('network', errors, interfaces);
    this.snap = {
      refreshedAt: new Date(this.o.clock.now()).toISOString(),
      source: 'full',
      errors,
      host: { ...s.host, uptimeSec: Math.round(osUptime()) },
      cpu: {
        loadPercent: loadPercent ?? s.cpu.loadPercent,
        load: loadavg().map((x) => Math.round(x * 100) / 100) as [number, number, number],
      },
      memory: mem
        ? {
            totalBytes: mem.total,
            availableBytes: mem.available,
            usedPercent: Math.round(((mem.total - mem.available) / mem.total) * 1000) / 10,
          }
        : s.memory,
      disks: disks ?? s.disks,
      temperatureC: temp === undefined ? s.temperatureC : temp,
      network: net ?? s.network,
    };
    if (Object.keys(errors).length > 0) this.log.warn({ errors }, 'some system readings failed');
  }
}
