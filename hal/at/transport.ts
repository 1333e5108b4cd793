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

/** Opens a real serial port (USB modem AT port, or one end of a pty in tests). */
export const openSerialTransport: AtTransportOpener = async (path, baudRate) => {
  // Loaded on first use: units on the simulator (and the idle RSS budget) never pay for the
  // native serialport binding.
  const { SerialPort } = await import('serialport');
  const port = new SerialPort({ path, baudRate, autoOpen: false, lock: false });
  await new Promise<void>((resolve, reject) => port.open((err) => (err ? reject(err) : resolve())));
  let closeCb: ((reason: string) => void) | null = null;
  let closed = false;
  const fireClose = (reason: string): void => {
    if (closed) return;
    closed = true;
    closeCb?.(reason);
  };
  port.on('close', (err?: Error) => fireClose(err ? `port closed: ${err.message}` : 'port closed'));
  port.on('error', (err: Error) => fireClose(`port error: ${err.message}`));
  return {
    write: (data) => {
      if (!closed) port.write(data);
    },
    close: () =>
      new Promise<void>((resolve) => {
        if (!port.isOpen) return resolve();
        port.close(() => resolve());
      }),
    onData: (cb) => port.on('data', (buf: Buffer) => cb(buf.toString('latin1'))),
    onClose: (cb) => {
      closeCb = cb;
    },
  };
};
