/**
 * `companion-agent doctor`: checks a unit's installation, one line per check with its fix. The
 * config comes first; when it is invalid nothing else can be judged, so the rest are skipped.
 */
import { ConfigError, loadConfigLayers, type Config } from '../config/config.js';
import { BUILT_IN } from '../config/layers.js';
import { checkAudio, checkSerial } from './checks-devices.js';
import { checkModemOwner } from './checks-modem-owner.js';
import { checkDataDir, checkDisk } from './checks-host.js';
import { checkBroker, checkCertificates } from './checks-net.js';
import { checkStore } from './checks-store.js';
import { checkDiagnosticsTls, checkTechnicianAccess } from './checks-diagnostics.js';
import { fail, ok, type CheckResult, type DoctorEnv } from './types.js';

export const defaultDoctorEnv = (): DoctorEnv => ({
  now: () => Date.now(),
  procDir: '/proc',
  devDir: '/dev',
  connectTimeoutMs: 3000,
  diskWarnBytes: 200 * 1024 * 1024,
  diskFailBytes: 50 * 1024 * 1024,
});

export interface DoctorReport {
  ok: boolean;
  checks: CheckResult[];
}

export async function runDoctor(
  load: { path: string | null; env: NodeJS.ProcessEnv },
  env: DoctorEnv = defaultDoctorEnv(),
): Promise<DoctorReport> {
  let config: Config;
  let files: string[];
  try {
    ({ config, files } = loadConfigLayers(load));
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    const first = err.issues[0];
    const more = err.issues.length > 1 ? ` (+${err.issues.length - 1} more)` : '';
    const checks = [
      fail(
        'config',
        `${first?.source ?? err.source}: ${first ? `${first.path || '(root)'}: ${first.message}` : 'invalid'}${more}`,
        'fix the file; `companion-agent config check` lists every problem',
      ),
    ];
    return { ok: false, checks };
  }
  const checks: CheckResult[] = [
    ok(
      'config',
      `${files.length > 0 ? files.join(' + ') : BUILT_IN} valid (version ${config.version}, unit ${config.unitId})`,
    ),
    checkDataDir(config),
    ...checkStore(config, env),
    checkSerial(config),
    checkModemOwner(config, env),
    checkAudio(config, env),
    await checkBroker(config, env),
    checkCertificates(config),
    checkDiagnosticsTls(config), // technician access (issue 15)
    checkTechnicianAccess(config),
    checkDisk(config, env),
  ];
  return { ok: checks.every((c) => c.status !== 'fail'), checks };
}

export function formatReport(r: DoctorReport): string {
  const width = Math.max(...r.checks.map((c) => c.name.length));
  const lines = r.checks.map((c) => {
    const head = `${c.status.toUpperCase().padEnd(4)}  ${c.name.padEnd(width)}  ${c.detail}`;
    return c.fix ? `${head}\n      ${' '.repeat(width)}  fix: ${c.fix}` : head;
  });
  const fails = r.checks.filter((c) => c.status === 'fail').length;
  const warns = r.checks.filter((c) => c.status === 'warn').length;
  lines.push(
    '',
    fails
      ? `${fails} check(s) FAILED, ${warns} warning(s)`
      : `all checks passed, ${warns} warning(s)`,
  );
  return lines.join('\n');
}
