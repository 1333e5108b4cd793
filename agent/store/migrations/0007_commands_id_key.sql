-- Command ids are the cloud's (random UUIDs): the TEXT PRIMARY KEY on them was a wide index whose
-- random leaves a burst of 500 commands dirtied by the hundred, in the message's FULL commit
-- (issue 14: the audit row's insert was ~10 µs of a booking change's ~60, and most of the commit's
-- pages). Lookups go through a 48-bit integer key of the id instead (agent/store/command-key.ts,
-- registered as command_key()), matching the id too; one writer (CommandApplier) checks for a prior
-- row before it inserts, as it did. The rowid (insertion order, which retention keeps by) is kept.
CREATE TABLE commands_new (
  command_id  TEXT NOT NULL,
  id_key      INTEGER NOT NULL,  -- command_key(command_id)
  source      TEXT NOT NULL,
  type        TEXT,
  booking_id  TEXT,
  status      TEXT NOT NULL CHECK (status IN ('accepted', 'ignored_stale', 'rejected')),
  result      TEXT NOT NULL,   -- JSON CommandResult
  raw         TEXT,            -- the command as received (truncated), kept for audit when rejected
  received_at INTEGER NOT NULL,
  digest      TEXT,
  msg_id      TEXT
) STRICT;
INSERT INTO commands_new (rowid, command_id, id_key, source, type, booking_id, status, result, raw,
                          received_at, digest, msg_id)
  SELECT rowid, command_id, command_key(command_id), source, type, booking_id, status, result, raw,
         received_at, digest, msg_id
  FROM commands ORDER BY rowid;
DROP TABLE commands;
ALTER TABLE commands_new RENAME TO commands;
CREATE INDEX commands_id_key ON commands (id_key);
CREATE INDEX commands_received ON commands (received_at);
