/**
 * Runs the independent Python signer (companion_sig.py) with Debian's interpreter, which has
 * python3-cryptography and python3-canonicaljson (the `python3` on a developer's PATH may be
 * another build without them). A missing interpreter or package fails the test loudly.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const PYTHON = process.env.COMPANION_TEST_PYTHON ?? '/usr/bin/python3';
const SCRIPT = fileURLToPath(new URL('./companion_sig.py', import.meta.url));

/** One call: `inputs` go to stdin as a JSON array, the JSON printed on stdout comes back. */
export function py<T>(args: string[], inputs: unknown[] = []): Promise<T> {
  return new Promise((resolve, reject) => {
    const child = spawn(PYTHON, ['-B', SCRIPT, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
    child.on('error', (e) => reject(new Error(`cannot run ${PYTHON}: ${e.message}`)));
    child.on('close', (code) => {
      if (code !== 0) {
        reject(new Error(`${PYTHON} companion_sig.py ${args.join(' ')} exited ${code}:\n${err}`));
        return;
      }
      try {
        resolve(JSON.parse(out) as T);
      } catch {
        reject(new Error(`companion_sig.py ${args[0]} printed no JSON:\n${out}\n${err}`));
      }
    });
    child.stdin.end(JSON.stringify(inputs));
  });
}
