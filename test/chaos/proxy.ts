/**
 * A TCP proxy between the agent and the broker that can misbehave like a cellular link:
 * - `blackhole()`: keep every connection open but stop forwarding (bytes are read and dropped), so
 *   neither end sees a close. Only MQTT keepalive can notice this half-open link.
 * - `cut()`: destroy every connection at once (a reset), the link comes back at once.
 * - `refuse(true)`: new connections are closed on arrival (broker unreachable).
 */
import { createServer, connect, type Server, type Socket } from 'node:net';

export class ChaosProxy {
  port = 0;
  private server: Server | null = null;
  private readonly pairs = new Set<[Socket, Socket]>();
  private mode: 'forward' | 'blackhole' | 'refuse' = 'forward';

  constructor(private readonly target: () => number) {}

  async start(): Promise<void> {
    const server = createServer((client) => this.accept(client));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    this.port = (server.address() as { port: number }).port;
    this.server = server;
  }

  get url(): string {
    return `mqtt://127.0.0.1:${this.port}`;
  }

  get connections(): number {
    return this.pairs.size;
  }

  blackhole(): void {
    this.mode = 'blackhole';
  }

  refuse(on: boolean): void {
    this.mode = on ? 'refuse' : 'forward';
    if (on) this.cut();
  }

  /** Back to forwarding. Connections blackholed so far stay dead (their peers time them out). */
  heal(): void {
    this.mode = 'forward';
  }

  cut(): void {
    for (const [a, b] of this.pairs) {
      a.destroy();
      b.destroy();
    }
    this.pairs.clear();
  }

  async stop(): Promise<void> {
    this.cut();
    const s = this.server;
    this.server = null;
    if (s) await new Promise<void>((resolve) => s.close(() => resolve()));
  }

  private accept(client: Socket): void {
    if (this.mode === 'refuse') {
      client.destroy();
      return;
    }
    // A connection opened during a blackhole is itself blackholed, forever: like a dead NAT entry.
    let dead = this.mode === 'blackhole';
    const upstream = connect(this.target(), '127.0.0.1');
    const pair: [Socket, Socket] = [client, upstream];
    this.pairs.add(pair);
    const forward = (from: Socket, to: Socket) =>
      from.on('data', (d: Buffer) => {
        if (this.mode === 'blackhole') dead = true;
        if (!dead && !to.destroyed) to.write(d);
      });
    forward(client, upstream);
    forward(upstream, client);
    const close = () => {
      this.pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    for (const s of pair) {
      s.on('error', close);
      s.on('close', close);
    }
  }
}
