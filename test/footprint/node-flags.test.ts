/**
 * The V8 flags the memory budget relies on are on every documented launch path (issue 14): the
 * CLI's shebang (the bin), `npm start` (the README's quick start), the Debian wrapper (systemd's
 * ExecStart runs it). And `run` says so when started without them.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { missingNodeFlags, NODE_FLAGS } from '../../agent/node-flags.js';

const read = (p: string) => readFileSync(p, 'utf8');

describe('node flags on every launch path', () => {
  it.each([
    ['the bin (shebang of agent/cli/main.ts)', () => read('agent/cli/main.ts').split('\n', 1)[0]!],
    [
      'npm start (README quick start)',
      () =>
        (JSON.parse(read('package.json')) as { scripts: Record<string, string> }).scripts.start!,
    ],
    [
      'the Debian wrapper (systemd ExecStart)',
      () => /^node_flags="([^"]*)"/m.exec(read('packaging/debian/companion-agent.sh'))?.[1] ?? '',
    ],
  ])('%s carries them', (_name, line) => {
    for (const flag of NODE_FLAGS) expect(line().split(/\s+/)).toContain(flag);
  });

  it('systemd starts the agent through the wrapper', () => {
    expect(read('packaging/systemd/companion-agent.service')).toMatch(
      /^ExecStart=\/usr\/bin\/companion-agent run/m,
    );
  });

  it('reports missing flags from the command line or NODE_OPTIONS', () => {
    expect(missingNodeFlags([], undefined)).toEqual([...NODE_FLAGS]);
    expect(missingNodeFlags([...NODE_FLAGS], undefined)).toEqual([]);
    expect(missingNodeFlags([], NODE_FLAGS.join(' '))).toEqual([]);
  });
});
