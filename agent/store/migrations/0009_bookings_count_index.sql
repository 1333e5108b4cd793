-- The bookings' count by status (GET /v1/status, `companion status`; the technician's page asks
-- every 3 s) read every row of the table: with 10,000 bookings ~1,000 pages, 3.8–4.3 ms a read on
-- the agent's event loop (issue 14, found profiling the diagnostics under load). The count now
-- reads the table's smallest index for the total and this one for the bookings that are not
-- active; active = total - the rest. The index is partial so that writing an active booking (every
-- upsert of the cloud, every planning pass) never touches it, and no query on active bookings can
-- choose it over bookings_next_slot (a plain index on status would: the planner took it for the
-- due-bookings read).
CREATE INDEX bookings_not_active ON bookings (status) WHERE status <> 'active';
