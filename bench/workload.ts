/** Booking workloads shared by the benchmarks. */
import type { BookingInput } from '../agent/bookings/schema.js';

const zones = ['Europe/Berlin', 'America/New_York', 'Australia/Sydney', 'Europe/London'];
const days = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'] as const;

/** n recurring bookings spread over the day: a third daily, a third weekly, a third cron. */
export function recurringBookings(n: number): BookingInput[] {
  return Array.from({ length: n }, (_, i) => {
    const hh = String(Math.floor((i * 7) % 24)).padStart(2, '0');
    const mm = String((i * 13) % 60).padStart(2, '0');
    const zone = zones[i % zones.length]!;
    const schedule =
      i % 3 === 0
        ? { kind: 'daily' as const, time: `${hh}:${mm}`, zone }
        : i % 3 === 1
          ? {
              kind: 'weekly' as const,
              days: [days[i % 7]!, days[(i + 3) % 7]!],
              time: `${hh}:${mm}`,
              zone,
            }
          : { kind: 'cron' as const, expr: `${Number(mm)} ${Number(hh)} * * 1-5`, zone };
    return {
      id: `bench-${i}`,
      version: 1,
      callee: `+4915123${String(i).padStart(6, '0')}`,
      agentId: 'bench-agent',
      schedule,
    };
  });
}

export function upserts(bookings: BookingInput[], prefix = 'bench-cmd') {
  return bookings.map((b, i) => ({
    type: 'booking.upsert',
    commandId: `${prefix}-${i}`,
    booking: b,
  }));
}

/** A one-off booking far in the future (nothing due): the sync benchmarks' unit of change. */
export function futureBooking(id: string, version = 1) {
  return {
    id,
    version,
    callee: '+4930123456',
    agentId: 'bench',
    schedule: { kind: 'once' as const, at: '2035-01-01T10:00:00Z' },
  };
}
