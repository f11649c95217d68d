-- The settlement ledger: one row per sale and per refund. source_key is
-- unique ("sale:<payment id>", "refund:<cancel id>"), so a redelivered event
-- records nothing twice. Amounts are positive BIGINT minor units; entry_type
-- gives the sign. business_date is the Asia/Seoul day of the sale or refund.
CREATE TABLE IF NOT EXISTS settlement_entries (
  id            VARCHAR(64)  NOT NULL,
  source_key    VARCHAR(128) NOT NULL,
  payment_id    VARCHAR(64)  NOT NULL,
  order_id      VARCHAR(64)  NOT NULL,
  pg            VARCHAR(32)  NOT NULL,
  method        VARCHAR(64)  NOT NULL DEFAULT '',
  entry_type    VARCHAR(16)  NOT NULL,
  currency      CHAR(3)      NOT NULL,
  gross         BIGINT       NOT NULL,
  fee           BIGINT       NOT NULL,
  vat           BIGINT       NOT NULL,
  net           BIGINT       NOT NULL,
  business_date CHAR(10)     NOT NULL,
  payout_date   CHAR(10)     NOT NULL,
  created_at    DATETIME(6)  NOT NULL,
  PRIMARY KEY (id),
  UNIQUE KEY uq_settlement_entries_source (source_key),
  KEY ix_settlement_entries_pg_day (pg, business_date),
  KEY ix_settlement_entries_payment (payment_id),
  CONSTRAINT ck_settlement_entries_amounts CHECK (gross > 0 AND fee >= 0 AND vat >= 0 AND net >= 0)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
