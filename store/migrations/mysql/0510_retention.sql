-- Retention: the indexes the pruning of old rows reads through, and the
-- leases that let one process at a time run a periodic job.
--
-- Pruning finds each batch of rows by a range of one index, in keyset order
-- (never OFFSET, never a scan of the table), then deletes those rows by
-- primary key in a short transaction of its own:
--   finished sagas    ix_saga_instances_state_updated (state, updated_at), 0200
--   done deliveries   ix_saga_deliveries_status_updated (status, updated_at)
--   delivered events  ix_saga_events_created (created_at)
--   webhook log       ix_webhook_deliveries_received (received_at), 0101
-- InnoDB appends the primary key to every secondary index, so each of these
-- also orders its ties by id.
--
-- paygate_leases holds one row per named job; a process holds the job
-- while lease_until is ahead and its owner is written there, and takes it
-- over by a compare-and-set UPDATE once the lease ran out; done_at is when
-- the job last finished, so a schedule survives restarts of every process.

CREATE INDEX ix_saga_deliveries_status_updated ON saga_deliveries (status, updated_at);

CREATE INDEX ix_saga_events_created ON saga_events (created_at);

CREATE TABLE IF NOT EXISTS paygate_leases (
  name        VARCHAR(64)  NOT NULL,
  owner       VARCHAR(255) NOT NULL DEFAULT '',
  lease_until DATETIME(6)  NOT NULL,
  done_at     DATETIME(6)  NULL,
  updated_at  DATETIME(6)  NOT NULL,
  PRIMARY KEY (name)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
