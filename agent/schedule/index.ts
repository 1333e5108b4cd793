export type { DstGapPolicy, Schedule, SlotOptions, Weekday } from './types.js';
export { nextSlot, slotsInRange, type SlotRange } from './slots.js';
export { validateSchedule } from './validate.js';
export { scheduleSchema } from './schema.js';
