/**
 * Who owns the modem. On many Linux units ModemManager runs and probes every serial port it
 * finds; the raw AT driver then fights it for the port (both send commands, both read the
 * answers). The check reads /proc: is ModemManager running, and which processes hold the AT port
 * open. Issue 12.
 */
import { readdirSync, readFileSync, readlinkSync, realpathSync } from 'node:fs';
import { join } from 'node:path';
import type { Config } from '../config/config.js';
import { fail, ok, skip, warn, type CheckResult, type DoctorEnv } from './types.js';

interface Proc {
  pid: number;
  comm: string;
}

function processes(procDir: string): Proc[] {
  let names: string[];
  try {
    names = readdirSync(procDir);
  } catch {
    return [];
  }
  const out: Proc[] = [];
  for (const n of names) {
    if (!/^\d+$/.test(n)) continue;
    try {
      out.push({ pid: Number(n), comm: readFileSync(join(procDir, n, 'comm'), 'utf8').trim() });
    } catch {
      // gone meanwhile, or not ours to read
    }
  }
  return out;
}

/** Processes with `target` open (one of their /proc/<pid>/fd links resolves to it). */
function holders(procDir: string, procs: Proc[], target: string): Proc[] {
  return procs.filter((p) => {
    try {
      return readdirSync(join(procDir, String(p.pid), 'fd')).some((fd) => {
        try {
          return readlinkSync(join(procDir, String(p.pid), 'fd', fd)) === target;
        } catch {
          return false;
        }
      });
    } catch {
      return false;
    }
  });
}

const describe = (p: Proc): string => `${p.comm} (pid ${p.pid})`;

export function checkModemOwner(config: Config, env: DoctorEnv): CheckResult {
  const name = 'modem owner';
  const procs = processes(env.procDir);
  const mm = procs.find((p) => p.comm === 'ModemManager');
  const driver = config.hal.modem.driver;
  if (driver === 'modemmanager') {
    if (!mm) {
      return fail(
        name,
        'hal.modem.driver is "modemmanager" but ModemManager is not running',
        'systemctl enable --now ModemManager, or use driver "at" on a unit without it',
      );
    }
    return ok(name, `ModemManager ${describe(mm)} owns the modem; the agent calls through it`);
  }
  if (driver !== 'at') {
    const who = mm ? `ModemManager ${describe(mm)} is running` : 'ModemManager is not running';
    return skip(name, `modem driver is "${driver}"; ${who}`);
  }
  const path = config.hal.modem.at.path;
  let real = path;
  try {
    real = realpathSync(path);
  } catch {
    // the serial check reports a missing port
  }
  const others = holders(env.procDir, procs, real).filter((p) => p.pid !== process.pid);
  if (others.length > 0) {
    return fail(
      name,
      `${path} is held open by ${others.map(describe).join(', ')}: driver "at" would fight it for the port`,
      mm && others.some((p) => p.pid === mm.pid)
        ? 'set hal.modem.driver to "modemmanager", or make ModemManager ignore the modem (udev ENV{ID_MM_DEVICE_IGNORE}="1")'
        : 'stop the other program, or point hal.modem.at.path at a free AT port',
    );
  }
  if (mm) {
    return warn(
      name,
      `ModemManager ${describe(mm)} is running and probes serial ports: driver "at" would fight it for ${path}`,
      'set hal.modem.driver to "modemmanager", or make ModemManager ignore the modem (udev ENV{ID_MM_DEVICE_IGNORE}="1") or disable it',
    );
  }
  return ok(name, `the agent's AT driver owns ${path}; ModemManager is not running`);
}
