/**
 * The install test (`npm run test:install`, as root; CI runs it from .ci/run): the operator's path
 * from a .deb to a running unit and through its upgrades, on a real Debian booted with
 * systemd-nspawn. Steps, each depending on the ones before:
 *
 *   image     a minimal debootstrapped root (cached), `apt-get install ./A.deb` with Debian's
 *             archive as the only source and no systemd running (an image build)
 *   boot      systemd-nspawn --boot: service active and READY, runs on the shipped node, watchdog
 *             armed, hardening score, sandbox probe (devices, D-Bus), doctor
 *   call      `companion-agent apply` a one-off booking a few seconds ahead; the simulator places it
 *   upgrade   `apt-get -y install ./B.deb` with no terminal: B has a new migration and changed
 *             defaults. Data kept, backup made, operator edits kept, service restarted and ready,
 *             downtime measured, a call falling due during the upgrade is placed
 *   downgrade `apt-get install ./A.deb` again: refused before unpacking, with its message; B keeps
 *             running untouched
 *   purge     everything of the package gone
 *
 * Environment: INSTALL_TEST_SUITE (bookworm | trixie; default bookworm), INSTALL_TEST_DEB (use this
 * package as A instead of building one), INSTALL_TEST_CACHE (default /var/cache/companion-ci),
 * INSTALL_TEST_MIRROR (debootstrap's mirror; default debootstrap's own). Every container and work
 * tree is removed at the end, also when a step fails or the run is interrupted.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { B_DEFAULTS, B_MIGRATION, packageA, packageB, stageDebs, type Deb } from './builds.js';
import { BootedContainer, cachedRoot, Cleanup, freshRoot, inImage, sleep } from './container.js';
import { runSandboxProbe } from './sandbox-probe.js';
import { UnitView } from './unit-view.js';

const SUITE = process.env.INSTALL_TEST_SUITE ?? 'bookworm';
const CACHE = process.env.INSTALL_TEST_CACHE ?? '/var/cache/companion-ci';
const t0 = Date.now();
const log = (s: string) =>
  process.stdout.write(
    `[install-test ${((Date.now() - t0) / 1000).toFixed(1).padStart(6)}s] ${s}\n`,
  );
const results: { step: string; ok: boolean; ms: number; error?: string }[] = [];
const figures: Record<string, string | number> = {};

async function step(name: string, fn: () => Promise<void> | void): Promise<void> {
  const start = Date.now();
  log(`--- ${name}`);
  try {
    await fn();
    results.push({ step: name, ok: true, ms: Date.now() - start });
  } catch (err) {
    results.push({ step: name, ok: false, ms: Date.now() - start, error: (err as Error).message });
    throw err;
  }
}

const LONG_CALLEE = '+4915199999999';
const LONG_CALL_MS = 20_000;

/** The operator's files, as a workshop writes them after installing. */
const OPERATOR = {
  '/etc/companion-agent/config.json': {
    // Overrides a default that package B changes: this value must survive the upgrade.
    runner: { hangGraceSec: 45 },
  },
  '/etc/companion-agent/config.d/10-unit.json': {
    unitId: 'ci-unit-0001',
    hal: {
      modem: {
        driver: 'simulator',
        simulator: {
          // The long call an upgrade's restart must wait for (step "an upgrade waits ...").
          rules: [
            {
              number: LONG_CALLEE,
              outcome: 'answer',
              alertAfterMs: 200,
              answerAfterMs: 500,
              hangupAfterMs: LONG_CALL_MS,
            },
          ],
          defaultRule: {
            outcome: 'answer',
            alertAfterMs: 200,
            answerAfterMs: 500,
            hangupAfterMs: 1500,
          },
        },
      },
      audio: { driver: 'simulator' },
    },
    // CI runs at any hour; the default quiet hours would refuse a night-time call.
    dialPolicy: { quietHours: null },
    scheduler: { externalPollSec: 1 },
  },
};

function bookingFile(id: string, atMs: number, extra: Record<string, unknown> = {}): string {
  return JSON.stringify({ commands: [bookingCommand(id, atMs, extra)] });
}

function bookingCommand(id: string, atMs: number, extra: Record<string, unknown> = {}) {
  const at = new Date(Math.ceil(atMs / 1000) * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');
  return {
    type: 'booking.upsert',
    commandId: `${id}-cmd`,
    booking: {
      id,
      version: 1,
      callee: '+4915123456789',
      agentId: 'companion',
      schedule: { kind: 'once', at },
      ...extra,
    },
  };
}

/** Each booking as id@version, sorted: what an upgrade must keep. */
function bookingKeys(json: string): string[] {
  return (JSON.parse(json) as { bookingId: string; version: number }[])
    .map((b) => `${b.bookingId}@${b.version}`)
    .sort();
}

async function main(): Promise<void> {
  const cleanup = new Cleanup();
  let interrupted = false;
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.once(sig, () => {
      interrupted = true;
      log(`${sig}: cleaning up`);
      void cleanup.run().then(() => process.exit(130));
    });
  }
  const work = mkdtempSync(join(tmpdir(), 'companion-install-'));
  cleanup.add(`remove ${work}`, () => rmSync(work, { recursive: true, force: true }));
  let c: BootedContainer | null = null;
  try {
    let a!: Deb, b!: Deb, inside!: Record<string, string>;
    await step('packages: A (as shipped) and B (new migration, changed defaults)', () => {
      a = packageA(process.env.INSTALL_TEST_DEB && resolve(process.env.INSTALL_TEST_DEB), log);
      b = packageB(a, work, log);
      inside = stageDebs([a, b], join(work, 'debs'));
      log(`A = ${a.version} (schema ${a.schema}), B = ${b.version} (schema ${b.schema})`);
    });
    const binds = [`${join(work, 'debs')}:/mnt/debs`];

    let root!: string;
    await step(`debian ${SUITE} root (debootstrap, cached in ${CACHE})`, () => {
      const cached = cachedRoot({
        suite: SUITE,
        cacheDir: CACHE,
        include: ['systemd', 'systemd-sysv', 'dbus'],
        mirror: process.env.INSTALL_TEST_MIRROR,
        log,
      });
      root = freshRoot(cached, work, cleanup);
    });

    await step(
      'image build: apt-get install ./A.deb, Debian archive only, no systemd running',
      () => {
        const files = Object.entries(OPERATOR)
          .map(
            ([p, v]) =>
              `cat > ${p} <<'EOF'\n${JSON.stringify(v, null, 2)}\nEOF\nchown root:companion ${p}; chmod 0640 ${p}`,
          )
          .join('\n');
        const r = inImage(
          root,
          binds,
          `echo "apt sources:"; grep -rhs '^deb' /etc/apt/sources.list /etc/apt/sources.list.d/ | sed 's/^/  /'
apt-get update -q
apt-get install -y -q ${inside[a.version]} </dev/null
${files}
echo "sources=$(grep -rhs '^deb' /etc/apt/sources.list /etc/apt/sources.list.d/ | wc -l)"
echo "node=$(command -v node || echo none) nodejs=$(dpkg-query -W -f='\${Status}' nodejs 2>/dev/null || echo absent)"
echo "enabled=$(test -L /etc/systemd/system/multi-user.target.wants/companion-agent.service && echo yes || echo no)"
echo "conffiles=[$(dpkg-query -W -f='\${Conffiles}' companion-agent)]"
stat -c 'mode %n %a %U:%G' /var/lib/companion-agent /etc/companion-agent /etc/companion-agent/config.d`,
        );
        log(
          r.out
            .split('\n')
            .filter((l) => !/^(Get|Hit|Selecting|Preparing|Unpacking|Setting up|\(Reading)/.test(l))
            .join('\n'),
        );
        assert.equal(r.code, 0, `apt-get install in the image failed:\n${r.out}\n${r.err}`);
        assert.match(
          r.out,
          /^sources=1$/m,
          "the root has exactly one apt source: Debian's archive",
        );
        assert.match(r.out, /^node=none nodejs=absent$/m, 'no system node is needed or installed');
        assert.match(r.out, /^enabled=yes$/m, 'the service is enabled for first boot');
        assert.match(r.out, /^conffiles=\[\]$/m, 'the package has no conffiles');
        assert.match(r.out, /^mode \/var\/lib\/companion-agent 700 companion:companion$/m);
        assert.match(r.out, /^mode \/etc\/companion-agent 750 root:companion$/m);
        assert.match(r.out, /^mode \/etc\/companion-agent\/config.d 750 root:companion$/m);
      },
    );

    await step('boot (systemd-nspawn --boot)', async () => {
      c = new BootedContainer(root, { name: `companion-ci-${process.pid}`, binds, work });
      const start = Date.now();
      await c.boot(cleanup);
      figures.boot_to_running_ms = Date.now() - start;
    });
    const unit = new UnitView(c!);

    let readyWatchdogUs = 0;
    await step('service active and READY on the shipped runtime, watchdog armed', () => {
      const s = unit.state();
      assert.equal(s.ActiveState, 'active', JSON.stringify(s));
      assert.equal(s.SubState, 'running');
      assert.equal(s.Type, 'notify', 'active + Type=notify: READY=1 was received');
      assert.equal(s.NRestarts, '0');
      assert.equal(s.WatchdogUSec, '30s');
      readyWatchdogUs = Number(s.WatchdogTimestampMonotonic);
      assert.ok(readyWatchdogUs > 0, 'the watchdog timestamp is set (armed at READY)');
      const exe = c!.exec(`readlink /proc/${s.MainPID}/exe`).out.trim();
      assert.equal(exe, '/usr/lib/companion-agent/node/bin/node');
      const journal = c!.exec('journalctl -b --no-pager -o cat').out;
      assert.doesNotMatch(journal, /already exists but the mode is different/);
      const score = c!.exec('systemd-analyze security --no-pager companion-agent.service');
      const m = /Overall exposure level for companion-agent\.service: (\d+\.\d+)/.exec(score.out);
      assert.ok(m, `no score from systemd-analyze security:\n${score.out}${score.err}`);
      figures.systemd_analyze_security = Number(m[1]);
      assert.ok(Number(m[1]) <= 2.0, `exposure ${m[1]} > 2.0`);
      log(`pid ${s.MainPID} on ${exe}; WatchdogUSec=${s.WatchdogUSec}; exposure ${m[1]}`);
    });

    await step(
      "sandbox probe: the unit's own sandbox opens modem/audio device nodes and the system D-Bus",
      () => {
        const p = runSandboxProbe(c!);
        log(JSON.stringify(p));
        const allowed = ['/dev/ttyUSB9', '/dev/ttyACM9', '/dev/snd/controlC9'];
        for (const d of allowed) {
          assert.ok(
            ['ENXIO', 'ENODEV'].includes(p.devices[d]!),
            `${d}: ${p.devices[d]} (blocked by the sandbox?)`,
          );
        }
        assert.equal(
          p.dbus,
          'OK',
          "the system D-Bus (ModemManager's path) accepts the service user",
        );
        const control = p.devices['/dev/probe-not-allowed'];
        figures.device_policy_enforced_here =
          control === 'EPERM' ? 'yes' : `no (control node: ${control})`;
        if (control !== 'EPERM') {
          log(
            `note: this environment does not enforce DevicePolicy (control node ${control}); the allow-list is checked by systemd-analyze only`,
          );
        }
      },
    );

    await step('doctor', () => {
      const r = c!.exec('companion-agent doctor --json');
      const report = JSON.parse(r.out) as {
        ok: boolean;
        checks: { name: string; status: string; detail: string }[];
      };
      for (const ch of report.checks)
        log(`  ${ch.status.toUpperCase().padEnd(4)} ${ch.name}: ${ch.detail}`);
      assert.equal(r.code, 0, r.err);
      assert.equal(report.ok, true);
      assert.ok(
        report.checks.some(
          (ch) =>
            ch.name === 'config' &&
            ch.detail.includes('/etc/companion-agent/config.d/10-unit.json'),
        ),
      );
    });

    await step('a booked call, placed by the simulator', async () => {
      c!.exec(
        `mkdir -p /run/ci && cat > /run/ci/call-1.json <<'EOF'\n${bookingFile('ci-call-1', Date.now() + 4000)}\nEOF`,
      );
      const r = c!.exec('companion-agent apply /run/ci/call-1.json');
      assert.equal(r.code, 0, `apply: ${r.out}${r.err}`);
      const run1 = await unit.waitForRun('ci-call-1', (x) => x.status === 'completed', 60_000);
      const att = run1.attempts?.[0];
      assert.ok(att?.answeredAt, `the call was answered: ${JSON.stringify(run1)}`);
      log(
        `ci-call-1: ${run1.status}, slot ${run1.slotAt}, dialled ${att.dialAt} (lateness ${att.latenessMs} ms)`,
      );
      // WATCHDOG=1 every 15 s: the timestamp moves on while the agent is healthy.
      await unit.waitFor(
        () => Number(unit.state().WatchdogTimestampMonotonic) > readyWatchdogUs,
        40_000,
        'a watchdog ping after READY',
      );
      const modes = c!.exec(
        'stat -c "%a %U %n" /var/lib/companion-agent /var/lib/companion-agent/companion.db*',
      ).out;
      log(modes.trim());
      assert.match(modes, /^700 companion \/var\/lib\/companion-agent$/m);
      for (const l of modes.trim().split('\n').slice(1)) assert.match(l, /^600 companion /);
    });

    let before!: { bookings: string[]; edits: string; pid: string };
    let upgradeOut = '';
    await step(
      'unattended upgrade A → B (apt-get -y, no terminal): new migration, changed defaults',
      async () => {
        // Falls due while the upgrade runs: the old agent places it during the unpack (postinst
        // then waits for it to end before the restart), or the new one right after its restart,
        // within the catch-up window. Before the restart waited for calls, the old agent could
        // place it and the restart cut it (seen once in CI): one attempt now, never interrupted.
        // The short backoff is kept so a failure shows as an extra attempt, not a timeout.
        const retry = { maxAttempts: 3, initialBackoffSec: 5, maxBackoffSec: 5, jitter: 0 };
        c!.exec(
          `cat > /run/ci/call-2.json <<'EOF'\n${bookingFile('ci-call-upgrade', Date.now() + 3000, { retry })}\nEOF`,
        );
        assert.equal(c!.exec('companion-agent apply /run/ci/call-2.json').code, 0);
        before = {
          bookings: bookingKeys(c!.exec('companion-agent bookings --json').out),
          edits: c!.exec(
            'sha256sum /etc/companion-agent/config.json /etc/companion-agent/config.d/*',
          ).out,
          pid: unit.state().MainPID!,
        };
        const start = Date.now();
        const r = c!.exec(`apt-get -y install ${inside[b.version]}`, 10 * 60_000);
        figures.upgrade_apt_ms = Date.now() - start;
        upgradeOut = r.out + r.err;
        assert.equal(r.code, 0, `the unattended upgrade failed:\n${upgradeOut}`);
        assert.doesNotMatch(upgradeOut, /conffile|Configuration file/i);
        const st = c!.exec(
          "dpkg-query -W -f='${Status} ${Version}' companion-agent; dpkg --audit",
        ).out;
        assert.equal(st.trim(), `install ok installed ${b.version}`);
      },
    );

    await step(
      'after the upgrade: running B, ready, data kept, backup made, edits kept, defaults changed',
      async () => {
        const s = unit.state();
        assert.equal(s.ActiveState, 'active');
        assert.notEqual(s.MainPID, before.pid, 'the agent was restarted onto the new files');
        assert.equal(s.NRestarts, '0', 'no crash-restarts');
        const downUs =
          Number(s.ActiveEnterTimestampMonotonic) - Number(s.ActiveExitTimestampMonotonic);
        const stopUs =
          Number(s.InactiveEnterTimestampMonotonic) - Number(s.ActiveExitTimestampMonotonic);
        figures.upgrade_downtime_ms = Math.round(downUs / 1000);
        figures.upgrade_stop_ms = Math.round(stopUs / 1000);
        log(
          `downtime (stop began → READY of the new agent): ${(downUs / 1e6).toFixed(2)} s, of which stopping ${(stopUs / 1e6).toFixed(2)} s; apt-get took ${(Number(figures.upgrade_apt_ms) / 1000).toFixed(1)} s`,
        );
        assert.equal(c!.exec('companion-agent version').out.trim(), b.version);
        // The migration ran: every booking row got the new column's default; schema is B's.
        const q = unit.sql(
          `SELECT (SELECT user_version FROM pragma_user_version) AS v, count(*) AS n, min(${B_MIGRATION.column}) AS note FROM bookings`,
        );
        assert.deepEqual(q, [{ v: b.schema, n: before.bookings.length, note: B_MIGRATION.value }]);
        assert.deepEqual(
          bookingKeys(c!.exec('companion-agent bookings --json').out),
          before.bookings,
        );
        const run1 = await unit.waitForRun('ci-call-1', () => true, 5000);
        assert.equal(run1.status, 'completed', 'the earlier outcome is kept');
        // The backup: one consistent copy of the schema-A database, owner-only.
        const ls = c!
          .exec('cd /var/lib/companion-agent/backups && stat -c "%a %U %n" *')
          .out.trim();
        log(`backups: ${ls}`);
        assert.match(
          ls,
          new RegExp(
            `^600 companion companion-000001-v${a.schema}-to-v${b.schema}-\\d{8}T\\d{9}Z\\.db$`,
          ),
        );
        const bq = unit.sql(
          'SELECT (SELECT user_version FROM pragma_user_version) AS v, count(*) AS n FROM bookings',
          `/var/lib/companion-agent/backups/${ls.split(' ')[2]}`,
        );
        assert.deepEqual(bq, [{ v: a.schema, n: before.bookings.length }]);
        // The operator's files: byte for byte, and nothing left beside them by dpkg.
        assert.equal(
          c!.exec('sha256sum /etc/companion-agent/config.json /etc/companion-agent/config.d/*').out,
          before.edits,
        );
        assert.equal(
          c!.exec('ls -A /etc/companion-agent /etc/companion-agent/config.d').out,
          '/etc/companion-agent:\nconfig.d\nconfig.json\n\n/etc/companion-agent/config.d:\n10-unit.json\n',
        );
        // B's defaults: the changed one in effect, the one the operator overrides still the operator's.
        const cfg = JSON.parse(c!.exec('companion-agent config check --json').out) as {
          config: Record<string, Record<string, unknown>>;
          sources: Record<string, string>;
        };
        assert.equal(cfg.config.backups!.keep, B_DEFAULTS.changed.value);
        assert.equal(
          cfg.sources[B_DEFAULTS.changed.path],
          '/usr/lib/companion-agent/defaults.json',
        );
        assert.equal(cfg.config.runner!.hangGraceSec, 45);
        assert.equal(cfg.sources[B_DEFAULTS.overridden.path], '/etc/companion-agent/config.json');
        assert.equal(cfg.sources.unitId, '/etc/companion-agent/config.d/10-unit.json');
        // The call that fell due during the upgrade.
        const run2 = await unit.waitForRun(
          'ci-call-upgrade',
          (x) => ['completed', 'dead', 'skipped', 'refused', 'cancelled'].includes(x.status),
          90_000,
        );
        const restartAt = Date.parse(s.ActiveEnterTimestamp ?? '') || 0;
        log(
          `ci-call-upgrade: ${run2.status}; attempts ${JSON.stringify(run2.attempts?.map((x) => ({ status: x.status, outcome: x.outcome, dialAt: x.dialAt })))}; new agent ready at ${s.ActiveEnterTimestamp} (${restartAt})`,
        );
        assert.equal(
          run2.status,
          'completed',
          `the call due during the upgrade was placed: ${JSON.stringify(run2)}`,
        );
        assert.equal(run2.attempts?.length, 1, 'placed once: the upgrade cut no call');
      },
    );

    await step(
      'a call due while the agent is down (restart window) is placed when the new agent is ready',
      async () => {
        // The one window with no agent in an upgrade is postinst's restart. Made long and
        // deterministic here: the agent is stopped, the slot passes, then the same postinst
        // restart path runs (dpkg-reconfigure = postinst configure <installed version>).
        const slot = Date.now() + 3000;
        c!.exec(`cat > /run/ci/call-3.json <<'EOF'\n${bookingFile('ci-call-restart', slot)}\nEOF`);
        assert.equal(c!.exec('companion-agent apply /run/ci/call-3.json').code, 0);
        assert.equal(c!.exec('systemctl stop companion-agent').code, 0);
        await sleep(Math.max(0, Math.ceil(slot / 1000) * 1000 - Date.now()) + 3000);
        const r = c!.exec('dpkg-reconfigure companion-agent', 3 * 60_000);
        assert.equal(r.code, 0, r.out + r.err);
        const run3 = await unit.waitForRun(
          'ci-call-restart',
          (x) => x.status === 'completed',
          60_000,
        );
        const att = run3.attempts?.[0];
        log(
          `ci-call-restart: slot ${run3.slotAt}, dialled ${att?.dialAt} (${att?.latenessMs} ms late)`,
        );
        assert.ok(
          att?.dialAt && Date.parse(att.dialAt) > Date.parse(run3.slotAt) + 2000,
          'dialled after the downtime',
        );
        assert.ok((att?.latenessMs ?? Infinity) < 900_000, 'within the default catch-up window');
      },
    );

    await step(
      "an upgrade's restart waits for the call in progress; a call due meanwhile goes to the new agent",
      async () => {
        // postinst's restart path (dpkg-reconfigure = postinst configure <installed version>, as
        // in an upgrade) while a 20-s call is answered: postinst asks first (SIGUSR2), the call
        // ends by itself, and only then is the agent restarted. The second booking falls due
        // during the call: held, not placed by the old agent after it, placed by the new one.
        const t = Date.now();
        const file = JSON.stringify({
          commands: [
            bookingCommand('ci-call-long', t + 3000, { callee: LONG_CALLEE }),
            bookingCommand('ci-call-held', t + 8000),
          ],
        });
        c!.exec(`cat > /run/ci/call-4.json <<'EOF'\n${file}\nEOF`);
        assert.equal(c!.exec('companion-agent apply /run/ci/call-4.json').code, 0);
        await unit.waitForRun(
          'ci-call-long',
          (x) => x.status === 'running' && !!x.attempts?.[0]?.answeredAt,
          30_000,
        );
        const pid = unit.state().MainPID;
        const start = Date.now();
        const r = c!.exec('dpkg-reconfigure companion-agent', 3 * 60_000);
        figures.restart_waited_for_call_ms = Date.now() - start;
        assert.equal(r.code, 0, r.out + r.err);
        assert.match(r.out + r.err, /a call is in progress; the agent restarts when it ends/);
        assert.notEqual(unit.state().MainPID, pid, 'the agent was restarted');
        // The new agent's own status line, never the old one's "no call in progress".
        await unit.waitFor(
          () =>
            c!.exec('systemctl show -p StatusText --value companion-agent').out.trim() ===
            'ready: placing booked calls',
          10_000,
          "the new agent's status line",
        );
        const stopBegan = unit.wallTime('ActiveExitTimestamp');
        // The new process's start: it places owed calls as soon as it has reconciled, a few ms
        // before its READY=1 reaches systemd (ActiveEnterTimestamp).
        const newStarted = unit.wallTime('ExecMainStartTimestamp');
        const long = await unit.waitForRun('ci-call-long', (x) => x.status === 'completed', 10_000);
        const held = await unit.waitForRun('ci-call-held', (x) => x.status === 'completed', 60_000);
        const la = long.attempts ?? [];
        const ha = held.attempts ?? [];
        log(
          `ci-call-long: ${JSON.stringify(la.map((x) => [x.outcome, x.answeredAt, x.endedAt]))}; stop began ${new Date(stopBegan).toISOString()}, new agent started ${new Date(newStarted).toISOString()}; ci-call-held: ${JSON.stringify(ha.map((x) => [x.outcome, x.dialAt]))}; dpkg-reconfigure took ${figures.restart_waited_for_call_ms} ms`,
        );
        assert.equal(la.length, 1);
        assert.equal(la[0]!.outcome, 'completed', 'the answered call was not hung up');
        const ended = Date.parse(la[0]!.endedAt!);
        assert.ok(
          ended - Date.parse(la[0]!.answeredAt!) >= LONG_CALL_MS - 1000,
          'it ran its length',
        );
        assert.ok(stopBegan >= ended, 'the agent was stopped only after the call ended');
        assert.equal(ha.length, 1);
        assert.ok(
          Date.parse(ha[0]!.dialAt!) >= newStarted,
          'held, then placed by the new agent (not by the old one after the call)',
        );
      },
    );

    await step(
      'a tzdata update restarts a running agent onto the new zone rules; a stopped one stays stopped',
      () => {
        // What tzdata's upgrade does to this package: its files under /usr/share/zoneinfo
        // activate the file trigger, and dpkg runs our postinst with "triggered".
        const trigger =
          'dpkg-trigger --no-await /usr/share/zoneinfo && dpkg --triggers-only --pending; echo "status=$(dpkg-query -W -f=\'${Status}\' companion-agent)"; dpkg --audit';
        const pid = unit.state().MainPID;
        const r = c!.exec(trigger, 3 * 60_000);
        const out = r.out + r.err;
        log(out.trim());
        assert.equal(r.code, 0, out);
        assert.match(out, /new time zone rules; restarting the agent onto them/);
        assert.doesNotMatch(out, /a call is in progress/, 'no call was: the agent said so at once');
        assert.match(out, /^status=install ok installed$/m, 'no trigger left pending');
        const s = unit.state();
        assert.equal(s.ActiveState, 'active');
        assert.notEqual(s.MainPID, pid, 'restarted, so it reads the new zone files');
        assert.equal(c!.exec('systemctl stop companion-agent').code, 0);
        const again = c!.exec(trigger, 3 * 60_000);
        assert.equal(again.code, 0, again.out + again.err);
        assert.doesNotMatch(again.out, /restarting the agent/);
        assert.equal(unit.state().ActiveState, 'inactive', "the operator's stop is kept");
        assert.equal(c!.exec('systemctl start companion-agent').code, 0);
      },
    );

    await step('configure fails with the reason when the agent cannot start, and recovers', () => {
      const bad = '/etc/companion-agent/config.d/50-broken.json';
      c!.exec(`echo '{ "unitId": "has spaces" }' > ${bad}`);
      const r = c!.exec('dpkg-reconfigure companion-agent', 3 * 60_000);
      const out = r.out + r.err;
      log(
        out
          .split('\n')
          .filter((l) => /companion-agent:|unitId|invalid|Job/.test(l))
          .join('\n'),
      );
      assert.notEqual(r.code, 0, 'configure must fail when the agent does not get ready');
      assert.match(out, /the agent did not start/);
      assert.match(out, new RegExp(`unitId: must be .*\\[${bad.replace(/[.]/g, '\\.')}\\]`));
      assert.match(out, /configure failed/);
      c!.exec(`rm ${bad}`);
      const again = c!.exec('dpkg-reconfigure companion-agent', 3 * 60_000);
      assert.equal(again.code, 0, again.out + again.err);
      assert.equal(unit.state().ActiveState, 'active');
    });

    await step('downgrade B → A: refused before unpacking, B keeps running untouched', () => {
      const pid = unit.state().MainPID;
      const r = c!.exec(`apt-get -y --allow-downgrades install ${inside[a.version]}`, 5 * 60_000);
      const out = r.out + r.err;
      // apt relays dpkg's output through a pty (CRLF); shown as the operator reads it.
      log(`apt-get said:\n${out.replace(/\r/g, '').trimEnd()}`);
      assert.notEqual(r.code, 0, 'the downgrade must fail');
      assert.match(out, new RegExp(`refusing to install ${a.version.replace(/[.+]/g, '\\$&')}`));
      assert.match(out, new RegExp(`schema\\s+version ${b.schema}`));
      assert.match(out, /Nothing has been changed/);
      const st = c!.exec(
        "dpkg-query -W -f='${Status} ${Version}' companion-agent; dpkg --audit",
      ).out;
      assert.equal(st.trim(), `install ok installed ${b.version}`);
      const s = unit.state();
      assert.equal(s.ActiveState, 'active');
      assert.equal(s.MainPID, pid, 'the running agent was never stopped');
      assert.equal(c!.exec('companion-agent version').out.trim(), b.version);
    });

    await step('purge: the package, its service, data, config and user are gone', () => {
      const r = c!.exec('apt-get -y purge companion-agent', 5 * 60_000);
      assert.equal(r.code, 0, r.out + r.err);
      const left = c!
        .exec(`for p in /var/lib/companion-agent /etc/companion-agent /usr/lib/companion-agent /usr/bin/companion-agent /lib/systemd/system/companion-agent.service /etc/systemd/system/multi-user.target.wants/companion-agent.service; do test -e $p && echo "left: $p"; done
getent passwd companion && echo "left: user companion"
getent group companion && echo "left: group companion"
pgrep -f companion && echo "left: a process"
dpkg-query -W -f='\${Status}' companion-agent 2>/dev/null; echo
systemctl is-active companion-agent.service; true`).out;
      log(left.trim());
      assert.doesNotMatch(left, /left:/);
      assert.match(left, /^inactive$/m);
    });
  } finally {
    if (!interrupted) {
      const stopStart = Date.now();
      await cleanup.run();
      log(`cleanup: ${Date.now() - stopStart} ms`);
      const failed = results.filter((r) => !r.ok);
      for (const r of results)
        log(
          `${r.ok ? 'ok  ' : 'FAIL'} ${r.step} (${(r.ms / 1000).toFixed(1)} s)${r.error ? `\n     ${r.error.split('\n')[0]}` : ''}`,
        );
      log(`figures: ${JSON.stringify(figures)}`);
      writeFileSync(
        join(tmpdir(), 'companion-install-test-latest.json'),
        JSON.stringify({ suite: SUITE, results, figures, totalMs: Date.now() - t0 }, null, 2),
      );
      process.stdout.write(
        `install-test (${SUITE}): ${results.length - failed.length} passed, ${failed.length} failed (${((Date.now() - t0) / 1000).toFixed(0)} s)\n`,
      );
    }
  }
}

main().then(
  () => process.exit(0),
  async (err: unknown) => {
    process.stderr.write(`install-test: ${(err as Error).stack ?? String(err)}\n`);
    await sleep(10);
    process.exit(1);
  },
);
