-- Saga instances and their step records, and the transactional outbox:
-- events and one delivery row per (event, subscriber). Same shape as the
-- MySQL file. SQLite has one writer at a time, so claims need no SKIP
-- LOCKED: the claiming transaction is the only writer while it runs.

CREATE TABLE IF NOT EXISTS saga_instances (
  id           TEXT     NOT NULL PRIMARY KEY,
  definition   TEXT     NOT NULL,
  business_key TEXT     NOT NULL,
  state        TEXT     NOT NULL,
  step_index   INTEGER  NOT NULL,
  payload      BLOB     NULL,
  reason       TEXT     NOT NULL DEFAULT '',
  resume_state TEXT     NOT NULL DEFAULT '',
  run_at       DATETIME NULL,
  lease_owner  TEXT     NOT NULL DEFAULT '',
  lease_token  TEXT     NOT NULL DEFAULT '',
  version      INTEGER  NOT NULL,
  created_at   DATETIME NOT NULL,
  updated_at   DATETIME NOT NULL,
  CONSTRAINT uq_saga_instances_key UNIQUE (definition, business_key)
);

CREATE INDEX IF NOT EXISTS ix_saga_instances_run_at ON saga_instances (run_at, definition);

CREATE INDEX IF NOT EXISTS ix_saga_instances_state_updated ON saga_instances (state, updated_at);

CREATE TABLE IF NOT EXISTS saga_steps (
  saga_id    TEXT     NOT NULL,
  step       TEXT     NOT NULL,
  op         TEXT     NOT NULL,
  status     TEXT     NOT NULL,
  attempts   INTEGER  NOT NULL,
  output     BLOB     NULL,
  last_error TEXT     NOT NULL DEFAULT '',
  updated_at DATETIME NOT NULL,
  PRIMARY KEY (saga_id, step, op)
);

CREATE TABLE IF NOT EXISTS saga_events (
  id          TEXT     NOT NULL PRIMARY KEY,
  type        TEXT     NOT NULL,
  event_key   TEXT     NOT NULL DEFAULT '',
  payload     BLOB     NULL,
  occurred_at DATETIME NOT NULL,
  created_at  DATETIME NOT NULL
);

CREATE INDEX IF NOT EXISTS ix_saga_events_key ON saga_events (event_key, created_at);

CREATE TABLE IF NOT EXISTS saga_deliveries (
  id          INTEGER  NOT NULL PRIMARY KEY AUTOINCREMENT,
  event_id    TEXT     NOT NULL,
  subscriber  TEXT     NOT NULL,
  event_key   TEXT     NOT NULL DEFAULT '',
  in_order    INTEGER  NOT NULL DEFAULT 0,
  status      TEXT     NOT NULL,
  attempts    INTEGER  NOT NULL DEFAULT 0,
  run_at      DATETIME NULL,
  lease_token TEXT     NOT NULL DEFAULT '',
  last_error  TEXT     NOT NULL DEFAULT '',
  created_at  DATETIME NOT NULL,
  updated_at  DATETIME NOT NULL,
  CONSTRAINT uq_saga_deliveries_event_subscriber UNIQUE (event_id, subscriber)
);

CREATE INDEX IF NOT EXISTS ix_saga_deliveries_run_at ON saga_deliveries (run_at, subscriber);

CREATE INDEX IF NOT EXISTS ix_saga_deliveries_order ON saga_deliveries (subscriber, event_key, status, id);

CREATE INDEX IF NOT EXISTS ix_saga_deliveries_status ON saga_deliveries (status, id);
