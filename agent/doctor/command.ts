/** The CLI face of the doctor: text or --json, exit 1 when any check FAILs. */
import type { CliContext } from '../cli/context.js';
import { formatReport, runDoctor } from './run.js';

export async function doctorCommand(ctx: CliContext): Promise<number> {
  const report = await runDoctor({ path: ctx.flags.config, env: ctx.env });
  ctx.out(ctx.flags.json ? JSON.stringify(report, null, 2) : formatReport(report));
  return report.ok ? 0 : 1;
}
