-- 0005: technician access (issue 15). Three small, self-bounded tables.

-- Who did what through the diagnostics endpoint: every action (and every sign-in) with the
-- technician's name from their token. Kept to the newest 2000 rows by agent/technician/audit.ts.
CREATE TABLE technician_audit (
  id         INTEGER PRIMARY KEY AUTOINCREMENT,
  at         INTEGER NOT NULL,
  technician TEXT NOT NULL,
  token_id   TEXT,               -- NULL when the unit's local token was used
  action     TEXT NOT NULL,      -- sign-in, test-call, replay, resync, speaker-test, mic-test, modem-details, modem-reset
  outcome    TEXT NOT NULL CHECK (outcome IN ('ok', 'refused', 'failed')),
  detail     TEXT,               -- JSON
  client     TEXT                -- the client's address
) STRICT;

-- The technician revocation list the cloud pushed last (the whole list; one row).
CREATE TABLE technician_revocations (
  id          INTEGER PRIMARY KEY CHECK (id = 1),
  version     INTEGER NOT NULL,
  issued_at   INTEGER NOT NULL,
  received_at INTEGER NOT NULL,
  list        TEXT NOT NULL       -- JSON: { tokens: [...], technicians: [...] }
) STRICT;

-- One sample a minute for the diagnostics history chart, written in batches; kept for 24 h by
-- agent/diagnostics/history-repo.ts. Call outcomes are read from runs/attempts, not copied here.
CREATE TABLE diag_history (
  minute       INTEGER PRIMARY KEY,   -- epoch minutes
  signal_dbm   INTEGER,               -- the weakest reading in the minute; NULL = unknown
  registration TEXT,                  -- the last registration state in the minute
  modem_usable INTEGER,               -- 0 if the modem could not call at any point in the minute
  link         INTEGER                -- 1 connected all minute, 0 offline during it, NULL = no link
) STRICT;
