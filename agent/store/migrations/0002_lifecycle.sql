-- 0002: one lifecycle for runs and attempts (docs/lifecycle.md).
--
-- A cancel that reaches a call still ringing is recorded on the run (cancel_reason) until the
-- attempt's outcome settles it. Each run and attempt remembers the booking version it was claimed
-- under, and each attempt the number it dialled, so "every dial goes to the number of the booking
-- version current when it was claimed" can be checked from the store alone.
--
-- The time-based lease (lease_expires_at, heartbeat_at) is gone: nothing read it. The lease is the
-- attempt id (fencing token) under the boot epoch, held for the life of the process that has the
-- data dir's exclusive lock; a restart settles every attempt of an older epoch.
ALTER TABLE runs ADD COLUMN booking_version INTEGER;
ALTER TABLE runs ADD COLUMN cancel_reason TEXT;
ALTER TABLE attempts ADD COLUMN booking_version INTEGER;
ALTER TABLE attempts ADD COLUMN dialed TEXT;
ALTER TABLE attempts DROP COLUMN lease_expires_at;
ALTER TABLE attempts DROP COLUMN heartbeat_at;
UPDATE runs SET booking_version = (SELECT version FROM bookings WHERE bookings.id = runs.booking_id)
  WHERE booking_id IS NOT NULL;
