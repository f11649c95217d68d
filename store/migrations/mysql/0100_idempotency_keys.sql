-- Idempotency keys: one row per (scope, idem_key), claimed by a unique
-- insert. A row is 'in_flight' while its holder (named by token) runs the
-- request and keeps lease_until ahead of the clock; 'completed' rows hold the
-- stored response until expires_at, after which the reaper deletes them in
-- small batches (ix_idempotency_keys_expires).
--
-- scope is the caller's scope plus method and route (or a "sha256:" digest
-- of it when longer than 255 bytes); fingerprint is the hex SHA-256 of the
-- request. Times are UTC.

CREATE TABLE IF NOT EXISTS idempotency_keys (
  scope        VARCHAR(255) NOT NULL,
  idem_key     VARCHAR(255) NOT NULL,
  fingerprint  CHAR(64)     NOT NULL,
  state        VARCHAR(16)  NOT NULL,
  token        VARCHAR(64)  NOT NULL,
  lease_until  DATETIME(6)  NOT NULL,
  expires_at   DATETIME(6)  NOT NULL,
  created_at   DATETIME(6)  NOT NULL,
  completed_at DATETIME(6)  NULL,
  resp_status  INT          NOT NULL DEFAULT 0,
  resp_header  MEDIUMTEXT   NULL,
  resp_body    MEDIUMBLOB   NULL,
  PRIMARY KEY (scope, idem_key),
  KEY ix_idempotency_keys_expires (expires_at),
  CONSTRAINT ck_idempotency_keys_state CHECK (state IN ('in_flight', 'completed'))
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
