/** What one doctor check reports: a status, what it saw, and (unless OK) the one-line fix. */
export type CheckStatus = 'ok' | 'warn' | 'fail' | 'skip';

export interface CheckResult {
  name: string;
  status: CheckStatus;
  detail: string;
  fix?: string;
}

/** Everything a check may look at besides the config; tests point these at temp dirs. */
export interface DoctorEnv {
  /** Epoch ms, for the clock check. */
  now: () => number;
  /** Root of /proc and /dev, for the audio check (ALSA cards and device nodes). */
  procDir: string;
  devDir: string;
  /** TCP connect timeout for the broker check. */
  connectTimeoutMs: number;
  /** Free space below these is WARN / FAIL. */
  diskWarnBytes: number;
  diskFailBytes: number;
}

export const ok = (name: string, detail: string): CheckResult => ({ name, status: 'ok', detail });
export const skip = (name: string, detail: string): CheckResult => ({
  name,
  status: 'skip',
  detail,
});
export const warn = (name: string, detail: string, fix: string): CheckResult => ({
  name,
  status: 'warn',
  detail,
  fix,
});
export const fail = (name: string, detail: string, fix: string): CheckResult => ({
  name,
  status: 'fail',
  detail,
  fix,
});
