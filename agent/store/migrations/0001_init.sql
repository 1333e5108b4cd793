-- 0001: the durable core. Times are epoch milliseconds (INTEGER), ids are TEXT.

-- Unit metadata: boot epoch, the highest wall-clock time ever seen, last applied command sequence.
CREATE TABLE meta (
  key   TEXT PRIMARY KEY,
  value TEXT NOT NULL
) STRICT;

-- One row per booking ever seen. A cancellation is a tombstone (status 'cancelled') that keeps its
-- version, so an older upsert delivered late cannot revive it.
CREATE TABLE bookings (
  id            TEXT PRIMARY KEY,
  version       INTEGER NOT NULL,
  status        TEXT NOT NULL CHECK (status IN ('active', 'paused', 'completed', 'cancelled')),
  spec          TEXT,              -- the validated booking as JSON; NULL for a tombstone never upserted
  next_slot_at  INTEGER,           -- the next slot the scheduler owes; NULL when none (paused, done)
  cursor_at     INTEGER,           -- the last slot the scheduler has decided on (planned or skipped)
  remaining     INTEGER,           -- calls left; NULL = unlimited
  created_at    INTEGER NOT NULL,
  updated_at    INTEGER NOT NULL
) STRICT;
CREATE INDEX bookings_next_slot ON bookings (next_slot_at) WHERE status = 'active' AND next_slot_at IS NOT NULL;

-- One owed call per booking + slot. Also test calls (booking_id NULL, kind 'test').
CREATE TABLE runs (
  id               TEXT PRIMARY KEY,
  booking_id       TEXT REFERENCES bookings (id),
  kind             TEXT NOT NULL CHECK (kind IN ('booking', 'test')),
  slot_at          INTEGER NOT NULL,
  status           TEXT NOT NULL CHECK (status IN
                     ('pending', 'running', 'retry_wait', 'completed', 'dead', 'skipped', 'cancelled', 'refused')),
  due_at           INTEGER NOT NULL,   -- when the runner may next claim it
  dials            INTEGER NOT NULL DEFAULT 0,  -- attempts that reached the modem
  max_attempts     INTEGER NOT NULL,
  replays          INTEGER NOT NULL DEFAULT 0,
  call             TEXT NOT NULL,      -- JSON: callee, agentId, ringTimeoutSec, maxDurationSec, retry, allowQuietHours
  lease_attempt_id TEXT,               -- the fencing token: only this attempt may write
  reason           TEXT,               -- why it is in its state (skip reason, last failure, dead-letter cause)
  created_at       INTEGER NOT NULL,
  updated_at       INTEGER NOT NULL,
  finished_at      INTEGER,
  UNIQUE (booking_id, slot_at)
) STRICT;
CREATE INDEX runs_due ON runs (due_at, slot_at) WHERE status IN ('pending', 'retry_wait');
CREATE INDEX runs_status ON runs (status, updated_at);

-- Each claim of a run. The attempt id is the fencing token.
CREATE TABLE attempts (
  id               TEXT PRIMARY KEY,
  run_id           TEXT NOT NULL REFERENCES runs (id),
  attempt_no       INTEGER NOT NULL,
  boot_epoch       INTEGER NOT NULL,
  status           TEXT NOT NULL CHECK (status IN
                     ('claimed', 'dialing', 'alerting', 'active', 'ended', 'abandoned', 'refused')),
  lease_expires_at INTEGER NOT NULL,
  heartbeat_at     INTEGER NOT NULL,
  claimed_at       INTEGER NOT NULL,
  dial_at          INTEGER,
  answered_at      INTEGER,
  ended_at         INTEGER,
  outcome          TEXT,               -- completed, busy, no_answer, ..., interrupted, refused
  detail           TEXT,
  lateness_ms      INTEGER             -- dial_at - slot_at for the first attempt
) STRICT;
CREATE INDEX attempts_run ON attempts (run_id, attempt_no);
CREATE INDEX attempts_live ON attempts (status) WHERE status IN ('claimed', 'dialing', 'alerting', 'active');

-- Events owed to the cloud, written in the same transaction as the change they describe.
CREATE TABLE outbox (
  seq        INTEGER PRIMARY KEY AUTOINCREMENT,  -- the per-unit event sequence
  event_id   TEXT NOT NULL UNIQUE,               -- stable id; the cloud de-duplicates on it
  type       TEXT NOT NULL,
  class      TEXT NOT NULL CHECK (class IN ('critical', 'telemetry')),
  payload    TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  sent_at    INTEGER
) STRICT;
CREATE INDEX outbox_unsent ON outbox (seq) WHERE sent_at IS NULL;

-- Every inbound command (CLI apply, MQTT) with its result: the audit trail, and the memory that
-- answers a redelivered command with its original result.
CREATE TABLE commands (
  command_id  TEXT PRIMARY KEY,
  source      TEXT NOT NULL,
  type        TEXT,
  booking_id  TEXT,
  status      TEXT NOT NULL CHECK (status IN ('accepted', 'ignored_stale', 'rejected')),
  result      TEXT NOT NULL,   -- JSON CommandResult
  raw         TEXT,            -- the command as received (truncated), kept for audit when rejected
  received_at INTEGER NOT NULL
) STRICT;
CREATE INDEX commands_received ON commands (received_at);
