-- Webhook log: same shape as the MySQL file.

CREATE TABLE IF NOT EXISTS webhook_deliveries (
  id           TEXT     NOT NULL PRIMARY KEY,
  pg           TEXT     NOT NULL,
  dedup_key    TEXT     NOT NULL,
  event_type   TEXT     NOT NULL,
  payment_key  TEXT     NOT NULL DEFAULT '',
  order_id     TEXT     NOT NULL DEFAULT '',
  status       TEXT     NOT NULL DEFAULT '',
  event        TEXT     NOT NULL,
  headers      TEXT     NOT NULL,
  body         BLOB     NOT NULL,
  body_sha256  TEXT     NOT NULL,
  remote_addr  TEXT     NOT NULL DEFAULT '',
  received_at  DATETIME NOT NULL,
  replay_count INTEGER  NOT NULL DEFAULT 0,
  replayed_at  DATETIME NULL,
  CONSTRAINT uq_webhook_deliveries_pg_dedup UNIQUE (pg, dedup_key)
);

CREATE INDEX IF NOT EXISTS ix_webhook_deliveries_payment ON webhook_deliveries (pg, payment_key);

CREATE INDEX IF NOT EXISTS ix_webhook_deliveries_order ON webhook_deliveries (order_id, received_at);

CREATE INDEX IF NOT EXISTS ix_webhook_deliveries_received ON webhook_deliveries (received_at);
