import type { ModemEvent, ModemStatus } from './types.js';

export function initialModemStatus(driver: string): ModemStatus {
  return {
    driver,
    state: 'starting',
    reason: null,
    sim: 'unknown',
    registration: 'unknown',
    signalDbm: null,
    operator: null,
    networkTime: null,
    recoveries: 0,
    model: null,
  };
}

/**
 * Listener registry for ModemEvent. A throwing listener is the listener's bug: it must never
 * break the driver's own state machine, so errors are swallowed (and reported to onListenerError).
 */
export class ModemEventHub {
  private readonly listeners = new Set<(e: ModemEvent) => void>();
  constructor(private readonly onListenerError: (err: unknown) => void = () => {}) {}

  subscribe(listener: (e: ModemEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  emit(e: ModemEvent): void {
    for (const l of [...this.listeners]) {
      try {
        l(e);
      } catch (err) {
        this.onListenerError(err);
      }
    }
  }
}

/** Whether the registration state allows placing a call. */
export function isRegistered(s: ModemStatus): boolean {
  return s.registration === 'home' || s.registration === 'roaming';
}
