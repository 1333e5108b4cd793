-- The count of critical events the cloud has not receipted (the heartbeat's `unreceipted`, the
-- link's status) read every such row of the table to check its class: with 20,000 of them, ~10 ms
-- a count on a slow host, twice a minute — most of an idle unit's CPU with the link on (issue 14,
-- found profiling the idle agent). The index now carries class (and receipted_at, so SQLite knows
-- it covers the query): the count reads the index alone. The drain's ordered read by seq is
-- unchanged.
DROP INDEX outbox_unreceipted;
CREATE INDEX outbox_unreceipted ON outbox (seq, class, receipted_at) WHERE receipted_at IS NULL;
