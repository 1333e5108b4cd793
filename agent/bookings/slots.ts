/** Bridges a stored booking to the recurrence engine. */
import type { Booking } from './schema.js';
import { nextSlot, slotsInRange } from '../schedule/index.js';
import type { SlotOptions } from '../schedule/types.js';

export function slotOptions(b: Booking): SlotOptions {
  return {
    dstGap: b.dstGap,
    startsAt: b.startsAt ? Date.parse(b.startsAt) : null,
    endsAt: b.endsAt ? Date.parse(b.endsAt) : null,
  };
}

/** The first slot strictly after `after` (epoch ms), or null when the booking has no more slots. */
export function nextSlotOf(b: Booking, after: number): number | null {
  return nextSlot(b.schedule, after, slotOptions(b));
}

export function slotsBetween(b: Booking, after: number, until: number, cap = 10_000) {
  return slotsInRange(b.schedule, after, until, slotOptions(b), cap);
}
