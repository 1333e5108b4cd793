/**
 * The little of D-Bus the ModemManager driver needs, over @homebridge/dbus-native (a maintained
 * pure-JS D-Bus implementation): method calls with a timeout, properties, signals by match rule,
 * and variants decoded into plain values. The seam between the driver and the library, so the
 * driver's code reads in D-Bus terms and the library's callback style stays here.
 */
import { createRequire } from 'node:module';

/** One D-Bus signal as the driver sees it. */
export interface DbusSignal {
  path: string;
  iface: string;
  member: string;
  sender: string | null;
  body: unknown[];
}

export class DbusError extends Error {
  constructor(
    readonly dbusName: string,
    message: string,
  ) {
    super(message ? `${dbusName}: ${message}` : dbusName);
    this.name = 'DbusError';
  }
}

/** What dbus-native's message bus offers (its own types say little). */
interface NativeBus {
  connection: {
    on(event: 'message', cb: (msg: NativeMessage) => void): void;
    on(event: 'error' | 'end', cb: (err?: Error) => void): void;
    once(event: 'connect', cb: () => void): void;
    end(): void;
    state?: string;
  };
  invoke(
    msg: Record<string, unknown>,
    cb: (err: { name: string; message: string } | null | undefined, ...values: unknown[]) => void,
  ): void;
}

interface NativeMessage {
  type: number;
  path?: string;
  interface?: string;
  member?: string;
  sender?: string;
  body?: unknown[];
}

interface NativeModule {
  sessionBus(opts: { busAddress: string }): NativeBus;
  systemBus(): NativeBus;
}

const SIGNAL = 4;

export interface DbusClientOptions {
  /** A D-Bus address ("unix:path=/run/dbus/system_bus_socket"); null = the system bus. */
  address: string | null;
  callTimeoutMs: number;
}

export class DbusClient {
  private bus: NativeBus | null = null;
  private closed = false;
  private readonly signalListeners = new Set<(s: DbusSignal) => void>();
  private readonly closeListeners = new Set<(reason: string) => void>();

  constructor(private readonly o: DbusClientOptions) {}

  /** Connects and says Hello; rejects when the bus cannot be reached. */
  async connect(): Promise<void> {
    // Loaded on first use: units without ModemManager never carry the library in memory.
    const require = createRequire(import.meta.url);
    const native = require('@homebridge/dbus-native') as NativeModule;
    const bus = this.o.address
      ? native.sessionBus({ busAddress: this.o.address })
      : native.systemBus();
    this.bus = bus;
    let failed: ((err: Error) => void) | null = null;
    bus.connection.on('error', (err) => {
      failed?.(err ?? new Error('D-Bus connection error'));
      this.lost(`D-Bus connection error: ${err?.message ?? 'unknown'}`);
    });
    bus.connection.on('end', () => this.lost('D-Bus connection closed'));
    bus.connection.on('message', (msg) => {
      if (msg.type !== SIGNAL) return;
      const s: DbusSignal = {
        path: msg.path ?? '',
        iface: msg.interface ?? '',
        member: msg.member ?? '',
        sender: msg.sender ?? null,
        body: msg.body ?? [],
      };
      for (const l of [...this.signalListeners]) l(s);
    });
    await new Promise<void>((resolve, reject) => {
      failed = reject;
      // GetId answers once the handshake and Hello are through: a round trip proves the bus.
      this.call('org.freedesktop.DBus', '/org/freedesktop/DBus', 'org.freedesktop.DBus', 'GetId')
        .then(() => resolve(), reject)
        .finally(() => (failed = null));
    });
  }

  call(
    destination: string,
    path: string,
    iface: string,
    member: string,
    signature = '',
    body: unknown[] = [],
  ): Promise<unknown[]> {
    const bus = this.bus;
    if (!bus || this.closed)
      return Promise.reject(new DbusError('companion.Closed', 'not connected'));
    return new Promise((resolve, reject) => {
      let done = false;
      const timer = setTimeout(() => {
        done = true;
        reject(new DbusError('companion.Timeout', `${iface}.${member} got no answer`));
      }, this.o.callTimeoutMs);
      bus.invoke(
        { destination, path, interface: iface, member, ...(signature ? { signature, body } : {}) },
        (err, ...values) => {
          if (done) return;
          done = true;
          clearTimeout(timer);
          if (err) reject(new DbusError(err.name, err.message));
          else resolve(values);
        },
      );
    });
  }

  /** All properties of an interface, variants decoded. */
  async getAll(destination: string, path: string, iface: string): Promise<Record<string, unknown>> {
    const [props] = await this.call(
      destination,
      path,
      'org.freedesktop.DBus.Properties',
      'GetAll',
      's',
      [iface],
    );
    return decodeDict(props);
  }

  /** Adds a match rule on the bus and listens; returns the unsubscribe function. */
  async subscribe(rule: string, listener: (s: DbusSignal) => void): Promise<() => void> {
    await this.call(
      'org.freedesktop.DBus',
      '/org/freedesktop/DBus',
      'org.freedesktop.DBus',
      'AddMatch',
      's',
      [rule],
    );
    this.signalListeners.add(listener);
    return () => {
      this.signalListeners.delete(listener);
      if (!this.closed) {
        void this.call(
          'org.freedesktop.DBus',
          '/org/freedesktop/DBus',
          'org.freedesktop.DBus',
          'RemoveMatch',
          's',
          [rule],
        ).catch(() => {});
      }
    };
  }

  /** Called once if the connection goes away by itself. */
  onClose(listener: (reason: string) => void): () => void {
    this.closeListeners.add(listener);
    return () => this.closeListeners.delete(listener);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.signalListeners.clear();
    this.closeListeners.clear();
    try {
      this.bus?.connection.end();
    } catch {
      // already gone
    }
  }

  private lost(reason: string): void {
    if (this.closed) return;
    this.closed = true;
    for (const l of [...this.closeListeners]) l(reason);
    this.closeListeners.clear();
    this.signalListeners.clear();
  }
}

/**
 * dbus-native hands a variant over as [signature, [value]] and a dict as [[key, value]...];
 * these turn both into plain JS values (nested dicts into objects, arrays kept).
 */
export function decodeVariant(v: unknown): unknown {
  if (Array.isArray(v) && v.length === 2 && Array.isArray(v[1]) && v[1].length === 1) {
    const [sig, [value]] = v as [unknown, [unknown]];
    const sigText = signatureText(sig);
    if (sigText.startsWith('a{')) return decodeDict(value);
    if (sigText.startsWith('(') && Array.isArray(value)) return value.map(decodeVariant);
    return value;
  }
  return v;
}

export function decodeDict(d: unknown): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (!Array.isArray(d)) return out;
  for (const entry of d) {
    if (Array.isArray(entry) && entry.length === 2 && typeof entry[0] === 'string') {
      out[entry[0]] = decodeVariant(entry[1]);
    }
  }
  return out;
}

/** dbus-native gives a variant's signature as a parsed tree ([{type, child}]) or a string. */
function signatureText(sig: unknown): string {
  if (typeof sig === 'string') return sig;
  const render = (nodes: unknown): string =>
    Array.isArray(nodes)
      ? nodes
          .map((n: { type?: string; child?: unknown[] }) => {
            const t = n?.type ?? '';
            const c = n?.child ?? [];
            if (t === 'a') return `a${render(c)}`;
            if (t === '{') return `{${render(c)}}`;
            if (t === '(') return `(${render(c)})`;
            return t;
          })
          .join('')
      : '';
  return render(sig);
}

/** A variant for a call body: dbus-native marshals [signature, value]. */
export function variant(signature: string, value: unknown): [string, unknown] {
  return [signature, value];
}
