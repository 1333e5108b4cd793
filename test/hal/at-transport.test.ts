import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { PtyModemSimulator } from '../../hal/at/sim/pty-modem-simulator.js';
import { type AtTransport, openSerialTransport } from '../../hal/at/transport.js';

let sim: PtyModemSimulator | null = null;
let transport: AtTransport | null = null;
let dir = '';
afterEach(async () => {
  await transport?.close();
  await sim?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
  transport = null;
  sim = null;
});

describe('openSerialTransport', () => {
  it('reports a port that hung up while idle (reads return end of file)', async () => {
    // Once a tty is hung up (USB modem unplugged, pty master gone), every read returns 0 bytes.
    // bindings-cpp retries 0-byte reads forever, so such a port was never reported closed: an idle
    // driver sat on a dead port. Reading only after the hang-up makes the case deterministic.
    dir = mkdtempSync(join(tmpdir(), 'at-transport-'));
    sim = new PtyModemSimulator({ link: join(dir, 'modem'), personality: 'generic' });
    await sim.start();
    const t = await openSerialTransport(sim.path, 115_200);
    transport = t;
    const closed = new Promise<string>((resolve) => t.onClose(resolve));
    await sim.dropPort(null);
    await new Promise((resolve) => setTimeout(resolve, 200));
    t.onData(() => {}); // starts reading
    const reason = await Promise.race([
      closed,
      new Promise<string>((resolve) => setTimeout(() => resolve('not reported'), 3_000)),
    ]);
    expect(reason).toMatch(/^port (closed|error)/);
  });
});
