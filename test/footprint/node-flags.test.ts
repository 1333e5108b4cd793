/**
 * The V8 flags the memory budget relies on are on every documented launch path (issue 14): the
 * CLI's shebang (the bin), `npm start` (the README's quick start), the Debian wrapper (systemd's
 * ExecStart runs it). And `run` says so when started without them.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { missingNodeFlags, NODE_ENV, NODE_ENV_WORDS, NODE_FLAGS } from '../../agent/node-flags.js';

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
      () => {
        const sh = read('packaging/debian/companion-agent.sh');
        // Both variables are used on every exec line of the wrapper.
        for (const exec of sh.split('\n').filter((l) => /^\s*exec /.test(l))) {
          expect(exec).toContain('env $node_env "$node" $node_flags');
        }
        return [/^node_flags="([^"]*)"/m, /^node_env="([^"]*)"/m]
          .map((re) => re.exec(sh)?.[1] ?? '')
          .join(' ');
      },
    ],
  ])('%s carries them', (_name, line) => {
    const words = line().split(/\s+/);
    for (const flag of NODE_FLAGS) expect(words).toContain(flag);
    for (const word of NODE_ENV_WORDS) expect(words).toContain(word);
  });

  it('systemd starts the agent through the wrapper', () => {
    expect(read('packaging/systemd/companion-agent.service')).toMatch(
      /^ExecStart=\/usr\/bin\/companion-agent run/m,
    );
  });

  it('reports missing flags (command line or NODE_OPTIONS) and environment', () => {
    expect(missingNodeFlags([], {})).toEqual([...NODE_FLAGS, ...NODE_ENV_WORDS]);
    expect(missingNodeFlags([...NODE_FLAGS], { ...NODE_ENV })).toEqual([]);
    expect(missingNodeFlags([], { ...NODE_ENV, NODE_OPTIONS: NODE_FLAGS.join(' ') })).toEqual([]);
    const wrong = Object.fromEntries(Object.keys(NODE_ENV).map((k) => [k, '1']));
    expect(missingNodeFlags([...NODE_FLAGS], wrong)).toEqual([...NODE_ENV_WORDS]);
  });

  it('the packaged agent really starts with them (the wrapper run from its tree)', () => {
    // What the kernel gives the process is what counts: /proc/self/environ of a child started the
    // way the wrapper starts the agent, with the wrapper's own words.
    const sh = read('packaging/debian/companion-agent.sh');
    const env = /^node_env="([^"]*)"/m.exec(sh)![1]!;
    const out = execFileSync(
      'sh',
      [
        '-c',
        `exec env ${env} "$0" -e "process.stdout.write(JSON.stringify(process.env))"`,
        process.execPath,
      ],
      { encoding: 'utf8' },
    );
    expect(missingNodeFlags([...NODE_FLAGS], JSON.parse(out) as NodeJS.ProcessEnv)).toEqual([]);
  });
});
