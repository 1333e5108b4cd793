/**
 * The V8 flags the agent's memory budget relies on (issue 14: RSS ≤ 60 MB idle, ≤ 75 MB under
 * traffic). V8 reads them when the heap is created, so they cannot be set from inside the program
 * (v8.setFlagsFromString is too late for heap sizing); every documented launch path carries them:
 * the CLI's shebang line, `npm start`, the Debian wrapper (packaging/debian/companion-agent.sh), and
 * NODE_OPTIONS accepts them too. test/footprint/node-flags.test.ts keeps those paths in step, and
 * `run` warns when it was started without them.
 *
 * --max-semi-space-size=1: a 1 MiB young generation (V8's default grows to 16 MiB per semi-space
 * under allocation, and keeps it): about 15 MB less RSS at the cost of more, cheaper scavenges.
 */
export const NODE_FLAGS = ['--max-semi-space-size=1'] as const;

/** The budget flags this process was started without (command line or NODE_OPTIONS). */
export function missingNodeFlags(
  execArgv: readonly string[] = process.execArgv,
  nodeOptions: string | undefined = process.env.NODE_OPTIONS,
): string[] {
  const given = new Set([...execArgv, ...(nodeOptions ?? '').split(/\s+/)]);
  return NODE_FLAGS.filter((f) => !given.has(f));
}
