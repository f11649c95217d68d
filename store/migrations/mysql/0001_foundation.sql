-- Foundation tables: checkouts, payments, the one-active-payment-per-order
-- claim, cancels and the payment event log.
--
-- Amounts are BIGINT in minor units of the row's currency (KRW: won, USD:
-- cents): exact, identical on both dialects, and SUM()-able without floats.
-- Times are DATETIME(6) in UTC. Identifiers compare byte for byte
-- (utf8mb4_bin), as on SQLite, so "A1" and "a1" are different orders.
-- There are no foreign keys: an InnoDB foreign key takes a shared lock on the
-- parent row, and a transaction that then updates that payment deadlocks
-- with its twin; the repositories keep the references consistent instead.

CREATE TABLE IF NOT EXISTS checkouts (
  order_id     VARCHAR(64)  NOT NULL,
  pg           VARCHAR(32)  NOT NULL,
  amount       BIGINT       NOT NULL,
  currency     CHAR(3)      NOT NULL,
  order_name   VARCHAR(255) NOT NULL,
  prepare_data MEDIUMTEXT   NULL,
  expires_at   DATETIME(6)  NULL,
  created_at   DATETIME(6)  NOT NULL,
  updated_at   DATETIME(6)  NOT NULL,
  PRIMARY KEY (order_id),
  CONSTRAINT ck_checkouts_amount CHECK (amount >= 0)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE IF NOT EXISTS payments (
  id              VARCHAR(64)   NOT NULL,
  pg              VARCHAR(32)   NOT NULL,
  payment_key     VARCHAR(200)  NULL,
  order_id        VARCHAR(64)   NOT NULL,
  amount          BIGINT        NOT NULL,
  currency        CHAR(3)       NOT NULL,
  status          VARCHAR(32)   NOT NULL,
  approved_amount BIGINT        NOT NULL DEFAULT 0,
  canceled_amount BIGINT        NOT NULL DEFAULT 0,
  method          VARCHAR(64)   NOT NULL DEFAULT '',
  failure_code    VARCHAR(128)  NOT NULL DEFAULT '',
  failure_message VARCHAR(1024) NOT NULL DEFAULT '',
  pg_data         MEDIUMTEXT    NULL,
  approved_at     DATETIME(6)   NULL,
  canceled_at     DATETIME(6)   NULL,
  created_at      DATETIME(6)   NOT NULL,
  updated_at      DATETIME(6)   NOT NULL,
  version         BIGINT        NOT NULL,
  PRIMARY KEY (id),
  UNIQUE KEY uq_payments_pg_payment_key (pg, payment_key),
  KEY ix_payments_status_updated (status, updated_at),
  KEY ix_payments_order (order_id),
  CONSTRAINT ck_payments_amounts CHECK (amount >= 0 AND approved_amount >= 0
    AND canceled_amount >= 0 AND canceled_amount <= approved_amount)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE IF NOT EXISTS payment_order_mapping (
  order_id   VARCHAR(64) NOT NULL,
  payment_id VARCHAR(64) NOT NULL,
  created_at DATETIME(6) NOT NULL,
  PRIMARY KEY (order_id),
  KEY ix_payment_order_mapping_payment (payment_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE IF NOT EXISTS payment_cancels (
  id                 VARCHAR(64)   NOT NULL,
  payment_id         VARCHAR(64)   NOT NULL,
  idempotency_key    VARCHAR(255)  NOT NULL,
  amount             BIGINT        NOT NULL,
  currency           CHAR(3)       NOT NULL,
  reason             VARCHAR(255)  NOT NULL,
  status             VARCHAR(16)   NOT NULL,
  pg_transaction_key VARCHAR(200)  NULL,
  failure_code       VARCHAR(128)  NOT NULL DEFAULT '',
  failure_message    VARCHAR(1024) NOT NULL DEFAULT '',
  created_at         DATETIME(6)   NOT NULL,
  updated_at         DATETIME(6)   NOT NULL,
  version            BIGINT        NOT NULL,
  PRIMARY KEY (id),
  UNIQUE KEY uq_payment_cancels_idempotency_key (idempotency_key),
  KEY ix_payment_cancels_payment (payment_id, created_at),
  KEY ix_payment_cancels_status_updated (status, updated_at),
  CONSTRAINT ck_payment_cancels_amount CHECK (amount > 0)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE IF NOT EXISTS payment_events (
  event_id    VARCHAR(64) NOT NULL,
  payment_id  VARCHAR(64) NOT NULL,
  order_id    VARCHAR(64) NOT NULL,
  event_type  VARCHAR(64) NOT NULL,
  payload     MEDIUMTEXT  NOT NULL,
  occurred_at DATETIME(6) NOT NULL,
  PRIMARY KEY (event_id),
  KEY ix_payment_events_payment (payment_id, occurred_at),
  KEY ix_payment_events_order (order_id, occurred_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
