-- The example shop's own orders, kept apart from paygate's tables.
CREATE TABLE IF NOT EXISTS example_orders (
  order_id      TEXT    NOT NULL PRIMARY KEY,
  status        TEXT    NOT NULL,
  payment_id    TEXT    NULL,
  amount        INTEGER NOT NULL,
  currency      TEXT    NOT NULL,
  fail_mode     TEXT    NOT NULL DEFAULT '',
  fail_times    INTEGER NOT NULL DEFAULT 0,
  attempts      INTEGER NOT NULL DEFAULT 0,
  created_at    TIMESTAMP NOT NULL,
  updated_at    TIMESTAMP NOT NULL
);
