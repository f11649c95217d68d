-- When the PG applied a cancel, as the PG reports it. Same shape as the
-- MySQL file.

ALTER TABLE payment_cancels ADD COLUMN canceled_at DATETIME NULL;
