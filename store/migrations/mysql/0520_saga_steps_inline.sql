-- A saga instance's step records live in its own row, as a JSON array
-- written by the same statement that writes the instance: a step's
-- dispatch and its outcome change one row, not two. NULL for instances
-- written before this column existed; their records stay in saga_steps,
-- where the store reads them until the instance is next written.

ALTER TABLE saga_instances ADD COLUMN steps MEDIUMBLOB NULL;
