-- Retention: the indexes the pruning of old rows reads through, and the
-- leases that let one process at a time run a periodic job; see the MySQL
-- file. The indexes name id explicitly: a SQLite index ends with the rowid,
-- not with a TEXT primary key.

CREATE INDEX IF NOT EXISTS ix_saga_deliveries_status_updated ON saga_deliveries (status, updated_at, id);

CREATE INDEX IF NOT EXISTS ix_saga_events_created ON saga_events (created_at, id);

CREATE TABLE IF NOT EXISTS paygate_leases (
  name        TEXT     NOT NULL PRIMARY KEY,
  owner       TEXT     NOT NULL DEFAULT '',
  lease_until DATETIME NOT NULL,
  done_at     DATETIME NULL,
  updated_at  DATETIME NOT NULL
);
