-- A saga instance's step records live in its own row. Same shape as the
-- MySQL file.

ALTER TABLE saga_instances ADD COLUMN steps BLOB;
