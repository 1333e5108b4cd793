-- Two queries of every claim walked more than they read (issue 14, found profiling the claim cycle):
--
-- * The next due run (`ORDER BY due_at, slot_at, created_at LIMIT 1`) could not be read from
--   runs_due, which stopped at slot_at: SQLite sorted every pending run to return one (with 1,000
--   due, 56 µs of each claim). The index now carries the whole order.
-- * The dial policy's hourly and daily caps count attempts dialled since a time; with no index on
--   dial_at that counted every attempt the unit had kept (43 µs with 4,000; retention keeps months).
DROP INDEX runs_due;
CREATE INDEX runs_due ON runs (due_at, slot_at, created_at) WHERE status IN ('pending', 'retry_wait');
CREATE INDEX attempts_dialled ON attempts (dial_at) WHERE dial_at IS NOT NULL;
