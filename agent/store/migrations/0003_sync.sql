-- 0003: sync that converges and cannot be replayed (docs/protocol.md).
--
-- Each booking remembers the command sequence of the message that last changed it (changed_seq;
-- NULL for a local change, e.g. `companion-agent apply`): a snapshot "as of S" cancels by absence
-- only bookings last changed at or before S, so it never undoes a newer command. A booking cancelled
-- for being absent from a snapshot keeps that snapshot's sequence (absent_at_seq): a later message
-- may create it again at the same version.
ALTER TABLE bookings ADD COLUMN changed_seq INTEGER;
ALTER TABLE bookings ADD COLUMN absent_at_seq INTEGER;

-- A command id names one command: its digest (SHA-256 of the canonical command) tells a redelivery
-- (same digest: the first answer again) from a reuse (another command: command_id_reused).
ALTER TABLE commands ADD COLUMN digest TEXT;
ALTER TABLE commands ADD COLUMN msg_id TEXT;

-- Every inbound message by its msgId (the envelope's id, its own namespace): what it was, what it
-- was answered, when it arrived. De-duplicates redeliveries, refuses a reused id, keeps refused
-- messages for audit. Bounded by retention (freshness refuses anything older anyway).
CREATE TABLE messages (
  id          INTEGER PRIMARY KEY,
  msg_id      TEXT,                -- NULL when the message had no usable id
  channel     TEXT NOT NULL,
  digest      TEXT,                -- SHA-256 of the canonical envelope without sig; NULL if unparsed
  status      TEXT NOT NULL CHECK (status IN ('accepted', 'rejected')),
  answers     TEXT NOT NULL,       -- JSON array of {type, payload} results it was answered with
  raw         TEXT,                -- the message as received (truncated), kept when refused
  sent_at     INTEGER,             -- the envelope's sentAt
  received_at INTEGER NOT NULL
) STRICT;
-- Only a message that passed every check owns its id: a forged or garbled copy never takes the id
-- of the real one (refused messages are kept, any number of times, for audit).
CREATE UNIQUE INDEX messages_accepted ON messages (msg_id) WHERE status = 'accepted';
CREATE INDEX messages_received ON messages (received_at);

-- Controls and refused envelopes were kept as "commands" before: they move to messages, where
-- their ids belong (a command may now reuse such an id without colliding).
INSERT INTO messages (msg_id, channel, digest, status, answers, raw, sent_at, received_at)
  SELECT CASE WHEN command_id LIKE 'rejected:%' THEN substr(command_id, 10) ELSE command_id END,
         CASE WHEN type LIKE 'control.%' THEN 'control' ELSE 'unknown' END,
         NULL,
         CASE WHEN status = 'rejected' THEN 'rejected' ELSE 'accepted' END,
         json_array(json_object('type', 'legacy', 'payload', json(result))),
         raw, NULL, received_at
    FROM commands WHERE type LIKE 'control.%' OR command_id LIKE 'rejected:%';
DELETE FROM commands WHERE type LIKE 'control.%' OR command_id LIKE 'rejected:%';

-- Delivery receipts: a critical event is kept, and sent again, until the cloud says it has it.
ALTER TABLE outbox ADD COLUMN receipted_at INTEGER;
CREATE INDEX outbox_unreceipted ON outbox (seq) WHERE receipted_at IS NULL;
