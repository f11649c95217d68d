-- The settlement ledger: one row per sale and per refund. source_key is
-- unique ("sale:<payment id>", "refund:<cancel id>"), so a redelivered event
-- records nothing twice. Amounts are positive integer minor units; entry_type
-- gives the sign. business_date is the Asia/Seoul day of the sale or refund.
CREATE TABLE IF NOT EXISTS settlement_entries (
  id            TEXT    NOT NULL PRIMARY KEY,
  source_key    TEXT    NOT NULL UNIQUE,
  payment_id    TEXT    NOT NULL,
  order_id      TEXT    NOT NULL,
  pg            TEXT    NOT NULL,
  method        TEXT    NOT NULL DEFAULT '',
  entry_type    TEXT    NOT NULL,
  currency      TEXT    NOT NULL,
  gross         INTEGER NOT NULL CHECK (gross > 0),
  fee           INTEGER NOT NULL CHECK (fee >= 0),
  vat           INTEGER NOT NULL CHECK (vat >= 0),
  net           INTEGER NOT NULL CHECK (net >= 0),
  business_date TEXT    NOT NULL,
  payout_date   TEXT    NOT NULL,
  created_at    TIMESTAMP NOT NULL
);
CREATE INDEX IF NOT EXISTS ix_settlement_entries_pg_day ON settlement_entries (pg, business_date);
CREATE INDEX IF NOT EXISTS ix_settlement_entries_payment ON settlement_entries (payment_id);
