import { closeSync, fsyncSync, openSync, writeSync } from 'node:fs';

export interface DialLogEntry {
  callId: string;
  number: string;
  at: number;
}

/**
 * Appends one JSON line per dial and fsyncs it before returning. Crash tests SIGKILL the agent at
 * random moments and then read this file as the ground truth of "the modem dialed", so the line
 * must be on disk before dial() resolves. Synchronous on purpose: ordering is the whole point.
 */
export function appendDialLog(path: string, entry: DialLogEntry): void {
  const fd = openSync(path, 'a');
  try {
    writeSync(fd, JSON.stringify(entry) + '\n');
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}
