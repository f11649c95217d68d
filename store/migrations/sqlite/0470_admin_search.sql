-- Indexes of the operators' console; see the MySQL file.

CREATE INDEX IF NOT EXISTS ix_payments_created ON payments (created_at, id);
CREATE INDEX IF NOT EXISTS ix_payments_status_created ON payments (status, created_at, id);
CREATE INDEX IF NOT EXISTS ix_payments_pg_created ON payments (pg, created_at, id);
CREATE INDEX IF NOT EXISTS ix_payments_method_created ON payments (method, created_at, id);
CREATE INDEX IF NOT EXISTS ix_saga_instances_business_key ON saga_instances (business_key);
