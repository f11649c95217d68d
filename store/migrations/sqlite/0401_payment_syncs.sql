-- The schedule on which captured payments are looked up at their PG. Same
-- shape as the MySQL file; SQLite's single writer makes the claim
-- exclusive without SKIP LOCKED.

CREATE TABLE IF NOT EXISTS payment_syncs (
  payment_id TEXT     NOT NULL PRIMARY KEY,
  next_at    DATETIME NOT NULL,
  synced_at  DATETIME NULL,
  failures   INTEGER  NOT NULL DEFAULT 0,
  last_error TEXT     NOT NULL DEFAULT '',
  created_at DATETIME NOT NULL
);

CREATE INDEX IF NOT EXISTS ix_payment_syncs_next_at ON payment_syncs (next_at);

INSERT INTO payment_syncs (payment_id, next_at, created_at)
  SELECT id, COALESCE(approved_at, updated_at), updated_at FROM payments
  WHERE status IN ('APPROVED', 'PARTIAL_CANCELED');
