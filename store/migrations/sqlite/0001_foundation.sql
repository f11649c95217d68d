-- Foundation tables: checkouts, payments, the one-active-payment-per-order
-- claim, cancels and the payment event log. Same shape as the MySQL file.
--
-- Amounts are INTEGER minor units of the row's currency (SQLite has no exact
-- decimal type: NUMERIC would turn fractions into floats). Times are
-- DATETIME-declared text in UTC, written to the microsecond by the store, so
-- they sort chronologically and the driver reads them back as time.Time.

CREATE TABLE IF NOT EXISTS checkouts (
  order_id     TEXT     NOT NULL PRIMARY KEY,
  pg           TEXT     NOT NULL,
  amount       INTEGER  NOT NULL CHECK (amount >= 0),
  currency     TEXT     NOT NULL,
  order_name   TEXT     NOT NULL,
  prepare_data TEXT     NULL,
  expires_at   DATETIME NULL,
  created_at   DATETIME NOT NULL,
  updated_at   DATETIME NOT NULL
);

CREATE TABLE IF NOT EXISTS payments (
  id              TEXT     NOT NULL PRIMARY KEY,
  pg              TEXT     NOT NULL,
  payment_key     TEXT     NULL,
  order_id        TEXT     NOT NULL,
  amount          INTEGER  NOT NULL,
  currency        TEXT     NOT NULL,
  status          TEXT     NOT NULL,
  approved_amount INTEGER  NOT NULL DEFAULT 0,
  canceled_amount INTEGER  NOT NULL DEFAULT 0,
  method          TEXT     NOT NULL DEFAULT '',
  failure_code    TEXT     NOT NULL DEFAULT '',
  failure_message TEXT     NOT NULL DEFAULT '',
  pg_data         TEXT     NULL,
  approved_at     DATETIME NULL,
  canceled_at     DATETIME NULL,
  created_at      DATETIME NOT NULL,
  updated_at      DATETIME NOT NULL,
  version         INTEGER  NOT NULL,
  CONSTRAINT uq_payments_pg_payment_key UNIQUE (pg, payment_key),
  CONSTRAINT ck_payments_amounts CHECK (amount >= 0 AND approved_amount >= 0
    AND canceled_amount >= 0 AND canceled_amount <= approved_amount)
);

CREATE INDEX IF NOT EXISTS ix_payments_status_updated ON payments (status, updated_at);

CREATE INDEX IF NOT EXISTS ix_payments_order ON payments (order_id);

CREATE TABLE IF NOT EXISTS payment_order_mapping (
  order_id   TEXT     NOT NULL PRIMARY KEY,
  payment_id TEXT     NOT NULL,
  created_at DATETIME NOT NULL
);

CREATE INDEX IF NOT EXISTS ix_payment_order_mapping_payment ON payment_order_mapping (payment_id);

CREATE TABLE IF NOT EXISTS payment_cancels (
  id                 TEXT     NOT NULL PRIMARY KEY,
  payment_id         TEXT     NOT NULL,
  idempotency_key    TEXT     NOT NULL,
  amount             INTEGER  NOT NULL CHECK (amount > 0),
  currency           TEXT     NOT NULL,
  reason             TEXT     NOT NULL,
  status             TEXT     NOT NULL,
  pg_transaction_key TEXT     NULL,
  failure_code       TEXT     NOT NULL DEFAULT '',
  failure_message    TEXT     NOT NULL DEFAULT '',
  created_at         DATETIME NOT NULL,
  updated_at         DATETIME NOT NULL,
  version            INTEGER  NOT NULL,
  CONSTRAINT uq_payment_cancels_idempotency_key UNIQUE (idempotency_key)
);

CREATE INDEX IF NOT EXISTS ix_payment_cancels_payment ON payment_cancels (payment_id, created_at);

CREATE INDEX IF NOT EXISTS ix_payment_cancels_status_updated ON payment_cancels (status, updated_at);

CREATE TABLE IF NOT EXISTS payment_events (
  event_id    TEXT     NOT NULL PRIMARY KEY,
  payment_id  TEXT     NOT NULL,
  order_id    TEXT     NOT NULL,
  event_type  TEXT     NOT NULL,
  payload     TEXT     NOT NULL,
  occurred_at DATETIME NOT NULL
);

CREATE INDEX IF NOT EXISTS ix_payment_events_payment ON payment_events (payment_id, occurred_at);

CREATE INDEX IF NOT EXISTS ix_payment_events_order ON payment_events (order_id, occurred_at);
