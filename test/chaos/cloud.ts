/**
 * The cloud side of a chaos run, built on the project's own CloudClient: it books, keeps the event
 * log (every delivery, duplicates included), answers the unit's sync requests with a snapshot of the
 * bookings it still considers live, and resends commands the unit refused for lack of storage.
 */
import { randomUUID } from 'node:crypto';
import { CloudClient, type UnitMessage } from '../../sync/cloud/client.js';
import type { BookingInput } from '../../agent/bookings/schema.js';

export interface CloudEvent {
  eventId: string;
  type: string;
  payload: Record<string, unknown>;
  receivedAt: number;
}

const TERMINAL = new Set(['completed', 'dead', 'skipped', 'refused', 'cancelled']);

export class ChaosCloud {
  readonly events: CloudEvent[] = [];
  readonly syncRequests: Record<string, unknown>[] = [];
  /** Every booking sent, latest version (the cloud's truth). */
  readonly bookings = new Map<string, BookingInput>();
  /** Bookings the unit confirmed (a command result `accepted`, or a snapshot that applied them). */
  readonly accepted = new Set<string>();
  /** One-offs the cloud heard a terminal run state for: not live any more, left out of snapshots. */
  readonly done = new Set<string>();
  readonly storageFullRejections: string[] = [];
  snapshotsSent = 0;
  storageFullTotal = 0;
  private readonly probes = new Set<string>();
  private readonly commandBooking = new Map<string, string>();
  private readonly client: CloudClient;
  private resendTimer: NodeJS.Timeout | null = null;

  constructor(
    url: string,
    private readonly unitId: string,
  ) {
    this.client = new CloudClient({
      url,
      clientId: 'chaos-cloud',
      // A persistent session: the cloud misses nothing across broker restarts that keep state.
      sessionExpirySec: 3600,
      connectTimeoutMs: 3000,
    });
  }

  async start(): Promise<void> {
    await this.client.start();
    await this.client.watch(this.unitId, (m) => this.onMessage(m), {
      channels: ['events', 'results', 'sync-request'],
    });
  }

  async stop(): Promise<void> {
    if (this.resendTimer) clearTimeout(this.resendTimer);
    await this.client.stop().catch(() => undefined);
  }

  /** Fire and forget: a unit that is offline gets it from its broker session (or a snapshot). */
  async book(b: BookingInput): Promise<void> {
    this.bookings.set(b.id, b);
    const commandId = `c-${b.id}-v${b.version}-${randomUUID().slice(0, 6)}`;
    this.commandBooking.set(commandId, b.id);
    await this.client.sendCommands(this.unitId, [
      { type: 'booking.upsert', commandId, booking: b },
    ]);
  }

  /**
   * Is the cloud's own subscription in place (after a broker lost its state)? It publishes a marker
   * on the unit's events topic and waits to receive it: nothing the unit sends after that is lost.
   */
  async probe(timeoutMs = 8000): Promise<boolean> {
    const until = Date.now() + timeoutMs;
    while (Date.now() < until) {
      const id = `probe-${randomUUID()}`;
      const body = { eventId: id, type: 'chaos.probe', payload: {} };
      await this.client
        .publishRaw(`companion/v1/units/${this.unitId}/events`, JSON.stringify({ body }))
        .catch(() => undefined);
      const stop = Date.now() + 1000;
      while (Date.now() < stop) {
        if (this.probes.has(id)) return true;
        await new Promise((r) => setTimeout(r, 50));
      }
    }
    return false;
  }

  private onMessage(m: UnitMessage): void {
    const body = m.envelope?.body as Record<string, unknown> | undefined;
    if (!body) return;
    if (m.channel === 'sync-request') {
      this.syncRequests.push(body);
      void this.sendSnapshot();
      return;
    }
    if (body.type === 'chaos.probe') {
      this.probes.add(String(body.eventId));
      return;
    }
    const ev: CloudEvent = {
      eventId: String(body.eventId),
      type: String(body.type),
      payload: (body.payload ?? {}) as Record<string, unknown>,
      receivedAt: Date.now(),
    };
    this.events.push(ev);
    if (ev.type === 'command.result') this.onResult(ev.payload);
    if (ev.type === 'run.state' && TERMINAL.has(String(ev.payload.status))) {
      const id = String(ev.payload.bookingId);
      if (this.bookings.get(id)?.schedule.kind === 'once') this.done.add(id);
    }
  }

  private onResult(p: Record<string, unknown>): void {
    const commandId = String(p.commandId);
    const status = String(p.status);
    const bookingId =
      this.commandBooking.get(commandId) ?? (typeof p.bookingId === 'string' ? p.bookingId : null);
    if (status === 'accepted' && bookingId) this.accepted.add(bookingId);
    const reasons = (p.reasons ?? []) as { code?: string }[];
    if (status === 'rejected' && reasons.some((r) => r.code === 'storage_full') && bookingId) {
      this.storageFullRejections.push(bookingId);
      this.storageFullTotal++;
      this.scheduleResend();
    }
  }

  /** Refused for lack of space: send again a little later (a new command id, same version). */
  private scheduleResend(): void {
    if (this.resendTimer) return;
    this.resendTimer = setTimeout(() => {
      this.resendTimer = null;
      const ids = [...new Set(this.storageFullRejections.splice(0))];
      for (const id of ids) {
        const b = this.bookings.get(id);
        if (b && !this.accepted.has(id)) void this.book(b).catch(() => undefined);
      }
    }, 3000);
  }

  /** The live picture: everything sent, minus one-offs known to be finished. */
  private async sendSnapshot(): Promise<void> {
    const live = [...this.bookings.values()].filter((b) => !this.done.has(b.id));
    this.snapshotsSent++;
    try {
      const { applied } = await this.client.snapshot(this.unitId, live, {
        wait: true,
        timeoutMs: 10_000,
      });
      if (applied && Number(applied.rejected ?? 0) === 0) {
        for (const b of live) this.accepted.add(b.id);
      }
    } catch {
      // The unit went away again; it asks again when it is back.
    }
  }

  close(): void {
    if (this.resendTimer) clearTimeout(this.resendTimer);
  }
}
