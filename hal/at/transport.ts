import { read } from 'node:fs';
import type { SerialPort as SerialPortClass } from 'serialport';

/** A byte pipe to the modem's AT port. The seam between the driver and serialport. */
export interface AtTransport {
  write(data: string): void;
  close(): Promise<void>;
  /** Called with decoded text as it arrives. */
  onData(cb: (text: string) => void): void;
  /** Called once when the port goes away (EIO, unplugged, closed by us). */
  onClose(cb: (reason: string) => void): void;
}

export type AtTransportOpener = (path: string, baudRate: number) => Promise<AtTransport>;

type Binding = typeof SerialPortClass.binding;
type PortBinding = Awaited<ReturnType<Binding['open']>>;

/** What a unix port binding (bindings-cpp Linux/Darwin) exposes besides the interface. */
interface UnixPortBinding {
  fd: number | null;
  poller: { once(event: 'readable', cb: (err: Error | null) => void): unknown };
}

const RETRY_CODES = new Set(['EAGAIN', 'EWOULDBLOCK', 'EINTR']);

function canceled(message: string): Error {
  return Object.assign(new Error(message), { canceled: true });
}

function readOnce(fd: number, buffer: Buffer, offset: number, length: number): Promise<number> {
  return new Promise((resolve, reject) =>
    read(fd, buffer, offset, length, null, (err, n) => (err ? reject(err) : resolve(n))),
  );
}

/**
 * bindings-cpp reads a unix port with `fs.read` and, when a read returns 0 bytes, simply reads
 * again. The port is opened non-blocking with VMIN=1, so "no data yet" is EAGAIN and 0 bytes only
 * ever means end of file: the tty was hung up (USB modem unplugged or re-enumerating, pty master
 * gone). bindings-cpp then spins on 0-byte reads forever, burning CPU, and the stream never
 * reports the disconnect: an idle driver would sit on a dead port until a write happens to fail.
 * This read treats 0 bytes as the disconnect it is, so the stream closes at once.
 */
function detectHangup(port: PortBinding): PortBinding {
  const unix = port as unknown as Partial<UnixPortBinding>;
  if (!('fd' in unix) || !unix.poller) return port; // Windows: its binding reports removal itself
  const p = unix as UnixPortBinding;
  port.read = async (buffer, offset, length) => {
    for (;;) {
      const fd = p.fd;
      if (fd === null) throw canceled('Port is not open');
      try {
        const bytesRead = await readOnce(fd, buffer, offset, length);
        if (bytesRead > 0) return { buffer, bytesRead };
        if (p.fd === null) throw canceled('Port is not open');
        throw new Error('hung up (end of file)');
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (!code || !RETRY_CODES.has(code)) throw err;
        if (p.fd === null) throw canceled('Port is not open');
        await new Promise<void>((resolve, reject) =>
          p.poller.once('readable', (e) => (e ? reject(e) : resolve())),
        );
      }
    }
  };
  return port;
}

let hangupAwareBinding: Binding | null = null;

/** Opens a real serial port (USB modem AT port, or one end of a pty in tests). */
export const openSerialTransport: AtTransportOpener = async (path, baudRate) => {
  // Loaded on first use: units on the simulator (and the idle RSS budget) never pay for the
  // native serialport binding.
  const { SerialPort } = await import('serialport');
  const base = SerialPort.binding;
  const baseOpen = base.open.bind(base) as (options: unknown) => Promise<PortBinding>;
  hangupAwareBinding ??= {
    ...base,
    list: () => base.list(),
    open: async (options: unknown) => detectHangup(await baseOpen(options)),
  } as Binding;
  // SerialPort passes `binding` through to SerialPortStream; its option type just does not say so.
  // lock: an exclusive lock on the tty (flock): a second agent, or ModemManager's probing, cannot
  // open the AT port while this driver has it (rule 13).
  const options = { path, baudRate, autoOpen: false, lock: true, binding: hangupAwareBinding };
  const port = new SerialPort(options as ConstructorParameters<typeof SerialPort>[0]);
  await new Promise<void>((resolve, reject) => port.open((err) => (err ? reject(err) : resolve())));
  let closeCb: ((reason: string) => void) | null = null;
  let closedReason: string | null = null;
  const fireClose = (reason: string): void => {
    if (closedReason !== null) return;
    closedReason = reason;
    closeCb?.(reason);
  };
  port.on('close', (err?: Error) => fireClose(err ? `port closed: ${err.message}` : 'port closed'));
  port.on('error', (err: Error) => fireClose(`port error: ${err.message}`));
  return {
    write: (data) => {
      if (closedReason === null) port.write(data);
    },
    close: () =>
      new Promise<void>((resolve) => {
        if (!port.isOpen) return resolve();
        port.close(() => resolve());
      }),
    onData: (cb) => port.on('data', (buf: Buffer) => cb(buf.toString('latin1'))),
    onClose: (cb) => {
      closeCb = cb;
      // Gone before anyone listened: still tell the listener, or the loss is never noticed.
      const reason = closedReason;
      if (reason !== null) queueMicrotask(() => cb(reason));
    },
  };
};
