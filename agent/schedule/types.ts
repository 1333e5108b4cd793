/**
 * Booking schedules as the store keeps them. Recurring schedules are local wall time + an IANA zone,
 * never UTC offsets, so "9:00" stays 9:00 across daylight-saving changes.
 */
export type Weekday = 'mon' | 'tue' | 'wed' | 'thu' | 'fri' | 'sat' | 'sun';

export type Schedule =
  /** One call at an instant (ISO 8601 with offset or Z). */
  | { kind: 'once'; at: string }
  /** Every day at HH:MM local time in `zone`. */
  | { kind: 'daily'; time: string; zone: string }
  /** On the chosen weekdays at HH:MM local time in `zone`. */
  | { kind: 'weekly'; days: Weekday[]; time: string; zone: string }
  /** A 5-field cron expression (minute hour day-of-month month day-of-week) evaluated in `zone`. */
  | { kind: 'cron'; expr: string; zone: string };

/** What to do with a slot whose local wall time does not exist (spring-forward gap). */
export type DstGapPolicy = 'shift' | 'skip';

export interface SlotOptions {
  dstGap: DstGapPolicy;
  /** Slots before this instant (epoch ms) are never produced. */
  startsAt?: number | null;
  /** Slots after this instant (epoch ms) are never produced. */
  endsAt?: number | null;
}
