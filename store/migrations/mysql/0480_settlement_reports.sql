-- Settlement reports and reconciliation runs.
--
-- ix_settlement_entries_report covers the daily report: its leading columns
-- are the report's grouping (business day, PG, method, currency, payout
-- date), in the report's order, and it carries every summed column, so a
-- range of days is read from the index alone, already grouped and sorted
-- (no temporary table, no filesort).
--
-- ix_payments_pg_approved lists a PG's captured payments by approval time,
-- for reconciliation against PGs without a settlement report.
--
-- settlement_reconciliations keeps every reconciliation run: when, which PG
-- and days, what source it compared with, and its result (the days with
-- their differences) as JSON, listed newest first.
ALTER TABLE settlement_entries
  ADD INDEX ix_settlement_entries_report (business_date, pg, method, currency, payout_date, entry_type, gross, fee, vat, net);

ALTER TABLE payments
  ADD INDEX ix_payments_pg_approved (pg, approved_at);

CREATE TABLE IF NOT EXISTS settlement_reconciliations (
  id          VARCHAR(64) NOT NULL,
  pg          VARCHAR(32) NOT NULL,
  from_date   CHAR(10)    NOT NULL,
  to_date     CHAR(10)    NOT NULL,
  source      VARCHAR(32) NOT NULL,
  differences INT         NOT NULL,
  recorded    INT         NOT NULL,
  result      MEDIUMTEXT  NOT NULL,
  started_at  DATETIME(6) NOT NULL,
  finished_at DATETIME(6) NOT NULL,
  PRIMARY KEY (id),
  KEY ix_settlement_reconciliations_pg (pg, started_at),
  KEY ix_settlement_reconciliations_started (started_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
