/**
 * Debian's ModemManager in its test mode, driving the project's pty modem simulator:
 *
 *   dbus-daemon (private bus, temp config)  ←  ModemManager --test-session --test-enable --test-no-udev
 *                                                 │  Test.SetProfile(id, plugin, [socket])
 *   PtyModemSimulator ── serveUnixSocket(<socket>) ←──┘  (MM opens test-profile ports as unix
 *                                                        sockets, not ttys: same engine, same rules)
 *
 * ModemManager probes the simulator with its own AT dialect and exports the modem on the private
 * bus, exactly as it would a USB modem on the system bus. Every process started here is stopped
 * by `stop()`, by stopAllModemManagers() and, as a last resort, on process exit.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PtyModemSimulator } from '../../hal/at/sim/pty-modem-simulator.js';
import type { PersonalityName } from '../../hal/at/sim/personalities.js';
import { DbusClient } from '../../hal/modemmanager/dbus-client.js';

export const MODEMMANAGER_BIN = process.env.MODEMMANAGER_BIN ?? '/usr/sbin/ModemManager';

const live = new Set<ModemManagerRig>();

const BUS_CONFIG = (socket: string) => `<!DOCTYPE busconfig PUBLIC
 "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:path=${socket}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
`;

export interface ModemManagerRigOptions {
  personality?: PersonalityName;
  /** ModemManager plugin for the test profile ("generic" probes plain 27.007). */
  plugin?: string;
  /** Wait for the modem and enable it (default), so drivers start on a registered modem. */
  enable?: boolean;
}

export class ModemManagerRig {
  readonly dir = mkdtempSync(join(tmpdir(), 'companion-mm-'));
  readonly sim: PtyModemSimulator;
  private procs: ChildProcess[] = [];
  private mm: ChildProcess | null = null;

  constructor(private readonly o: ModemManagerRigOptions = {}) {
    this.sim = new PtyModemSimulator({
      link: join(this.dir, 'modem'),
      personality: o.personality ?? 'generic',
      silentForMs: 1_500,
    });
  }

  /** The private bus's address, for hal.modem.modemmanager.busAddress. */
  get busAddress(): string {
    return `unix:path=${join(this.dir, 'bus')}`;
  }

  /** ModemManager's debug logs of this rig (one per start), concatenated. */
  get mmLog(): string {
    if (!existsSync(this.dir)) return '';
    return readdirSync(this.dir)
      .filter((f) => /^mm-\d+\.log$/.test(f))
      .map((f) => readFileSync(join(this.dir, f), 'utf8'))
      .join('\n');
  }

  async start(): Promise<void> {
    live.add(this);
    await this.sim.start();
    const sock = join(this.dir, 'mm.sock');
    await this.sim.serveUnixSocket(sock);
    const busSock = join(this.dir, 'bus');
    writeFileSync(join(this.dir, 'bus.conf'), BUS_CONFIG(busSock));
    this.spawn('dbus-daemon', ['--config-file', join(this.dir, 'bus.conf'), '--nofork']);
    await until(() => existsSync(busSock) && existsSync(sock), 10_000, 'dbus-daemon');
    await this.startModemManager();
  }

  /** ModemManager crashed: start it again (systemd would), with the same test profile. */
  async restartModemManager(): Promise<void> {
    const old = this.mm;
    if (old) {
      this.procs = this.procs.filter((p) => p !== old);
      await killAndWait(old);
    }
    await this.startModemManager();
  }

  private async startModemManager(): Promise<void> {
    const sock = join(this.dir, 'mm.sock');
    this.mm = this.spawn(
      MODEMMANAGER_BIN,
      [
        '--test-session',
        '--test-enable',
        '--test-no-udev',
        '--test-no-suspend-resume',
        '--log-level=DEBUG',
        '--log-timestamps',
        `--log-file=${join(this.dir, `mm-${this.procs.length}.log`)}`,
      ],
      { DBUS_SESSION_BUS_ADDRESS: this.busAddress },
    );
    const bus = new DbusClient({ address: this.busAddress, callTimeoutMs: 5_000 });
    await bus.connect();
    try {
      await untilAsync(
        async () => {
          const [has] = await bus.call(
            'org.freedesktop.DBus',
            '/org/freedesktop/DBus',
            'org.freedesktop.DBus',
            'NameHasOwner',
            's',
            ['org.freedesktop.ModemManager1'],
          );
          return has === true;
        },
        20_000,
        'ModemManager on the private bus',
      );
      await bus.call(
        'org.freedesktop.ModemManager1',
        '/org/freedesktop/ModemManager1',
        'org.freedesktop.ModemManager1.Test',
        'SetProfile',
        'ssas',
        ['companion-test', this.o.plugin ?? 'generic', [sock]],
      );
      if (this.o.enable ?? true) await this.enableModem(bus);
    } finally {
      bus.close();
    }
  }

  /** Waits for ModemManager to export the modem, then Modem.Enable(true) and waits for it. */
  private async enableModem(bus: DbusClient): Promise<void> {
    let path = '';
    await untilAsync(
      async () => {
        const [objects] = await bus.call(
          'org.freedesktop.ModemManager1',
          '/org/freedesktop/ModemManager1',
          'org.freedesktop.DBus.ObjectManager',
          'GetManagedObjects',
        );
        path = (objects as [string][])[0]?.[0] ?? '';
        return path !== '';
      },
      30_000,
      'the modem in ModemManager',
    );
    const slow = new DbusClient({ address: this.busAddress, callTimeoutMs: 60_000 });
    await slow.connect();
    try {
      await slow.call(
        'org.freedesktop.ModemManager1',
        path,
        'org.freedesktop.ModemManager1.Modem',
        'Enable',
        'b',
        [true],
      );
      await untilAsync(
        async () => {
          const [v] = await bus.call(
            'org.freedesktop.ModemManager1',
            path,
            'org.freedesktop.DBus.Properties',
            'Get',
            'ss',
            ['org.freedesktop.ModemManager1.Modem', 'State'],
          );
          return Number((v as [unknown, [number]])[1][0]) >= 8; // registered
        },
        30_000,
        'the modem registered',
      );
    } finally {
      slow.close();
    }
  }

  /** ModemManager crashes (or is restarted by systemd): SIGKILL, and start it again if asked. */
  killModemManager(): void {
    this.mm?.kill('SIGKILL');
  }

  async stop(): Promise<void> {
    live.delete(this);
    const procs = this.procs.splice(0).reverse();
    await Promise.all(procs.map(killAndWait));
    await this.sim.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }

  /** Synchronous last resort (process exit). */
  killNow(): void {
    for (const p of this.procs) p.kill('SIGKILL');
  }

  private spawn(cmd: string, args: string[], env: Record<string, string> = {}): ChildProcess {
    const child = spawn(cmd, args, {
      env: { ...process.env, ...env },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    child.stderr!.on('data', () => {}); // drain
    child.on('error', () => {});
    this.procs.push(child);
    return child;
  }
}

async function killAndWait(p: ChildProcess): Promise<void> {
  if (p.exitCode !== null || p.signalCode !== null) return;
  const exited = new Promise<void>((r) => p.once('exit', () => r()));
  p.kill('SIGKILL');
  await exited;
}

async function until(check: () => boolean, limitMs: number, what: string): Promise<void> {
  await untilAsync(async () => check(), limitMs, what);
}

async function untilAsync(check: () => Promise<boolean>, limitMs: number, what: string) {
  const deadline = Date.now() + limitMs;
  for (;;) {
    if (await check().catch(() => false)) return;
    if (Date.now() > deadline) throw new Error(`${what}: not up within ${limitMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

export async function stopAllModemManagers(): Promise<void> {
  await Promise.all([...live].map((r) => r.stop()));
}

process.on('exit', () => {
  for (const r of live) r.killNow();
});
