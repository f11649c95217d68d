-- Webhook log: every verified PG notification, recorded once per
-- (pg, dedup_key) in the same transaction as its effect. headers and body
-- are kept for audit with secrets masked; body_sha256 is the digest of the
-- payload exactly as received; event is the normalised event as JSON, which
-- an operator's replay hands to the effect again. Times are UTC.

CREATE TABLE IF NOT EXISTS webhook_deliveries (
  id           VARCHAR(64)  NOT NULL,
  pg           VARCHAR(32)  NOT NULL,
  dedup_key    VARCHAR(255) NOT NULL,
  event_type   VARCHAR(64)  NOT NULL,
  payment_key  VARCHAR(200) NOT NULL DEFAULT '',
  order_id     VARCHAR(64)  NOT NULL DEFAULT '',
  status       VARCHAR(32)  NOT NULL DEFAULT '',
  event        MEDIUMTEXT   NOT NULL,
  headers      MEDIUMTEXT   NOT NULL,
  body         MEDIUMBLOB   NOT NULL,
  body_sha256  CHAR(64)     NOT NULL,
  remote_addr  VARCHAR(64)  NOT NULL DEFAULT '',
  received_at  DATETIME(6)  NOT NULL,
  replay_count INT          NOT NULL DEFAULT 0,
  replayed_at  DATETIME(6)  NULL,
  PRIMARY KEY (id),
  UNIQUE KEY uq_webhook_deliveries_pg_dedup (pg, dedup_key),
  KEY ix_webhook_deliveries_payment (pg, payment_key),
  KEY ix_webhook_deliveries_order (order_id, received_at),
  KEY ix_webhook_deliveries_received (received_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
