-- Idempotency keys: same shape as the MySQL file. Times are DATETIME-declared
-- UTC text written to the microsecond, so they compare chronologically.

CREATE TABLE IF NOT EXISTS idempotency_keys (
  scope        TEXT     NOT NULL,
  idem_key     TEXT     NOT NULL,
  fingerprint  TEXT     NOT NULL,
  state        TEXT     NOT NULL CHECK (state IN ('in_flight', 'completed')),
  token        TEXT     NOT NULL,
  lease_until  DATETIME NOT NULL,
  expires_at   DATETIME NOT NULL,
  created_at   DATETIME NOT NULL,
  completed_at DATETIME NULL,
  resp_status  INTEGER  NOT NULL DEFAULT 0,
  resp_header  TEXT     NULL,
  resp_body    BLOB     NULL,
  PRIMARY KEY (scope, idem_key)
);

CREATE INDEX IF NOT EXISTS ix_idempotency_keys_expires ON idempotency_keys (expires_at);
