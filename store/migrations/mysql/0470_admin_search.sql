-- Indexes of the operators' console. The payment search pages by
-- (created_at, id) descending with keyset cursors, alone or after an
-- equality filter on status, PG or method, so each of those has an index
-- that serves the order too: a page reads LIMIT rows of one index, never
-- sorts and never skips with OFFSET. A payment's detail finds its sagas by
-- business key (the payment's id, its cancels' ids).

CREATE INDEX ix_payments_created ON payments (created_at, id);
CREATE INDEX ix_payments_status_created ON payments (status, created_at, id);
CREATE INDEX ix_payments_pg_created ON payments (pg, created_at, id);
CREATE INDEX ix_payments_method_created ON payments (method, created_at, id);
CREATE INDEX ix_saga_instances_business_key ON saga_instances (business_key);
