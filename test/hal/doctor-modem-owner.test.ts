/**
 * `doctor` says which program owns the modem and warns when driver "at" would fight ModemManager
 * (issue 12). The check reads /proc; here a temp dir stands in for it, with the comm files and
 * fd links a real /proc has.
 */
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { parseConfig } from '../../agent/config/config.js';
import { checkModemOwner } from '../../agent/doctor/checks-modem-owner.js';
import { defaultDoctorEnv } from '../../agent/doctor/run.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function rig() {
  const root = mkdtempSync(join(tmpdir(), 'doctor-owner-'));
  dirs.push(root);
  const proc = join(root, 'proc');
  const port = join(root, 'ttyUSB2');
  writeFileSync(port, '');
  mkdirSync(proc);
  const addProcess = (pid: number, comm: string, open: string[] = []) => {
    mkdirSync(join(proc, String(pid), 'fd'), { recursive: true });
    writeFileSync(join(proc, String(pid), 'comm'), `${comm}\n`);
    open.forEach((target, i) => symlinkSync(target, join(proc, String(pid), 'fd', String(i + 3))));
  };
  const check = (modem: Record<string, unknown>) =>
    checkModemOwner(parseConfig({ hal: { modem } }), { ...defaultDoctorEnv(), procDir: proc });
  return { port, addProcess, check };
}

describe('doctor: modem owner', () => {
  it('driver "at" with ModemManager running warns that the two would fight for the port', () => {
    const r = rig();
    r.addProcess(101, 'ModemManager');
    r.addProcess(102, 'sshd', ['/dev/null']);
    expect(r.check({ driver: 'at', at: { path: r.port } })).toMatchObject({
      status: 'warn',
      detail: expect.stringMatching(/ModemManager \(pid 101\) is running .* would fight it/),
      fix: expect.stringMatching(/"modemmanager"/),
    });
  });

  it('driver "at" fails when another program holds the port open, naming it', () => {
    const r = rig();
    r.addProcess(101, 'ModemManager', [r.port]);
    expect(r.check({ driver: 'at', at: { path: r.port } })).toMatchObject({
      status: 'fail',
      detail: expect.stringMatching(/held open by ModemManager \(pid 101\)/),
      fix: expect.stringMatching(/ID_MM_DEVICE_IGNORE/),
    });
    const s = rig();
    s.addProcess(202, 'minicom', [s.port]);
    expect(s.check({ driver: 'at', at: { path: s.port } })).toMatchObject({
      status: 'fail',
      detail: expect.stringMatching(/held open by minicom \(pid 202\)/),
    });
  });

  it('driver "at" alone on its port is OK and says so', () => {
    const r = rig();
    r.addProcess(102, 'sshd', ['/dev/null']);
    expect(r.check({ driver: 'at', at: { path: r.port } })).toMatchObject({
      status: 'ok',
      detail: expect.stringMatching(/AT driver owns .*ModemManager is not running/),
    });
  });

  it('driver "modemmanager" needs ModemManager running', () => {
    const r = rig();
    expect(r.check({ driver: 'modemmanager' })).toMatchObject({
      status: 'fail',
      fix: expect.stringMatching(/systemctl enable --now ModemManager/),
    });
    r.addProcess(101, 'ModemManager');
    expect(r.check({ driver: 'modemmanager' })).toMatchObject({
      status: 'ok',
      detail: expect.stringMatching(/ModemManager \(pid 101\) owns the modem/),
    });
  });

  it('the simulator driver skips, but still says who runs', () => {
    const r = rig();
    r.addProcess(101, 'ModemManager');
    expect(r.check({ driver: 'simulator' })).toMatchObject({
      status: 'skip',
      detail: expect.stringMatching(/ModemManager \(pid 101\) is running/),
    });
  });
});
