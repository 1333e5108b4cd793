import { execFile } from 'node:child_process';

export interface CommandResult {
  /** Exit code, or null when the program could not start or was killed. */
  code: number | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
}

/** Runs a program; never rejects. Injected into drivers so they are testable without hardware. */
export type CommandRunner = (
  command: string,
  args: string[],
  opts: { timeoutMs: number },
) => Promise<CommandResult>;

/** execFile with a hard timeout: a wedged sound card must not wedge the agent. */
export const execCommandRunner: CommandRunner = (command, args, opts) =>
  new Promise((resolve) => {
    execFile(
      command,
      args,
      { timeout: opts.timeoutMs, killSignal: 'SIGKILL', maxBuffer: 1024 * 1024 },
      (err, stdout, stderr) => {
        if (!err) return resolve({ code: 0, stdout, stderr, timedOut: false });
        const e = err as NodeJS.ErrnoException & { killed?: boolean; code?: unknown };
        const timedOut = e.killed === true;
        resolve({
          code: typeof e.code === 'number' ? e.code : null,
          stdout: String(stdout ?? ''),
          stderr: String(stderr ?? '') || e.message,
          timedOut,
        });
      },
    );
  });

export function describeFailure(command: string, r: CommandResult): string {
  if (r.timedOut) return `${command} timed out`;
  const why = r.stderr.trim().split('\n')[0] ?? '';
  return `${command} failed (${r.code ?? 'not started'})${why ? `: ${why}` : ''}`;
}
