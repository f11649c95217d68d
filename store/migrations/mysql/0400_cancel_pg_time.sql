-- When the PG applied a cancel, as the PG reports it (its cancel answer,
-- lookup or notification): the business day of the refund in the ledger
-- comes from it, not from when paygate recorded the cancel. NULL until the
-- cancel is done, and for cancels the PG gave no time for.

ALTER TABLE payment_cancels ADD COLUMN canceled_at DATETIME(6) NULL;
