-- Wake-ups that reached a saga instance while a runner held its lease. Same
-- shape as the MySQL file.

ALTER TABLE saga_instances ADD COLUMN wakes INTEGER NOT NULL DEFAULT 0;
