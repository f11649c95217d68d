-- The example shop's own orders, kept apart from paygate's tables.
CREATE TABLE IF NOT EXISTS example_orders (
  order_id      VARCHAR(64)  NOT NULL,
  status        VARCHAR(32)  NOT NULL,
  payment_id    VARCHAR(64)  NULL,
  amount        BIGINT       NOT NULL,
  currency      CHAR(3)      NOT NULL,
  fail_mode     VARCHAR(16)  NOT NULL DEFAULT '',
  fail_times    INT          NOT NULL DEFAULT 0,
  attempts      INT          NOT NULL DEFAULT 0,
  created_at    DATETIME(6)  NOT NULL,
  updated_at    DATETIME(6)  NOT NULL,
  PRIMARY KEY (order_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
