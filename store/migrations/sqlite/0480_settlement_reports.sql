-- Settlement reports and reconciliation runs. Same shape as the MySQL file:
-- a covering index for the daily report in its grouping order, payments by
-- PG and approval time, and the table of reconciliation runs.
CREATE INDEX IF NOT EXISTS ix_settlement_entries_report
  ON settlement_entries (business_date, pg, method, currency, payout_date, entry_type, gross, fee, vat, net);

CREATE INDEX IF NOT EXISTS ix_payments_pg_approved ON payments (pg, approved_at);

CREATE TABLE IF NOT EXISTS settlement_reconciliations (
  id          TEXT      NOT NULL PRIMARY KEY,
  pg          TEXT      NOT NULL,
  from_date   TEXT      NOT NULL,
  to_date     TEXT      NOT NULL,
  source      TEXT      NOT NULL,
  differences INTEGER   NOT NULL,
  recorded    INTEGER   NOT NULL,
  result      TEXT      NOT NULL,
  started_at  TIMESTAMP NOT NULL,
  finished_at TIMESTAMP NOT NULL
);
CREATE INDEX IF NOT EXISTS ix_settlement_reconciliations_pg ON settlement_reconciliations (pg, started_at);
CREATE INDEX IF NOT EXISTS ix_settlement_reconciliations_started ON settlement_reconciliations (started_at);
