-- Wake-ups that reached a saga instance while a runner held its lease (a
-- webhook settled the outcome a step attempt in flight is looking up).
-- saga.Runner.Wake counts one without changing the version, so the lease
-- holder's compare-and-set write still lands; that write clears the count
-- and, when it would schedule a retry, makes the instance due at once
-- instead. Both are single UPDATEs deciding on the row under its lock, so
-- the wake-up takes effect whichever transaction commits first. A claim
-- clears the count too: the attempt it dispatches comes after the news.

ALTER TABLE saga_instances ADD COLUMN wakes INT NOT NULL DEFAULT 0;
