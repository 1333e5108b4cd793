/** `npm run chaos`: one chaos run with the profile from CHAOS_PROFILE (ci | soak); exit 1 on a violation. */
import { printReport, profileFromEnv, runChaos, writeReport } from './run.js';

const report = await runChaos(profileFromEnv());
printReport(report);
writeReport(report);
process.exitCode = report.check.violations.length === 0 ? 0 : 1;
