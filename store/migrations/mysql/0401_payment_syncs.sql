-- The schedule on which captured payments are looked up at their PG, so
-- cancels made elsewhere (the PG's console; PGs that send no cancel
-- notifications) reach the payment and the ledger. One row per payment with
-- a balance, due at next_at; a claim (FOR UPDATE SKIP LOCKED) moves next_at
-- past the lookup, so several processes never look the same payment up at
-- once, and each lookup schedules the next. Rows of payments fully refunded
-- or past the sync window are deleted.

CREATE TABLE IF NOT EXISTS payment_syncs (
  payment_id VARCHAR(64)   NOT NULL,
  next_at    DATETIME(6)   NOT NULL,
  synced_at  DATETIME(6)   NULL,
  failures   INT           NOT NULL DEFAULT 0,
  last_error VARCHAR(1024) NOT NULL DEFAULT '',
  created_at DATETIME(6)   NOT NULL,
  PRIMARY KEY (payment_id),
  KEY ix_payment_syncs_next_at (next_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- Payments captured before the schedule existed: due at once (the sync
-- loop paces them in small batches and spreads their next lookups).
INSERT INTO payment_syncs (payment_id, next_at, created_at)
  SELECT id, COALESCE(approved_at, updated_at), updated_at FROM payments
  WHERE status IN ('APPROVED', 'PARTIAL_CANCELED');
