-- Saga instances and their step records, and the transactional outbox:
-- events and one delivery row per (event, subscriber). Owned by saga and
-- store/sagastore.
--
-- Claims are locking reads (FOR UPDATE SKIP LOCKED) on run_at, which is NULL
-- for rows no runner should pick up; every write is compare-and-set on
-- version (instances) or on status + lease_token (deliveries). Dedup points
-- are unique keys: (definition, business_key), (saga_id, step, op),
-- (event_id, subscriber). No foreign keys, as in the foundation schema.

CREATE TABLE IF NOT EXISTS saga_instances (
  id           VARCHAR(64)   NOT NULL,
  definition   VARCHAR(64)   NOT NULL,
  business_key VARCHAR(255)  NOT NULL,
  state        VARCHAR(16)   NOT NULL,
  step_index   INT           NOT NULL,
  payload      MEDIUMBLOB    NULL,
  reason       VARCHAR(2048) NOT NULL DEFAULT '',
  resume_state VARCHAR(16)   NOT NULL DEFAULT '',
  run_at       DATETIME(6)   NULL,
  lease_owner  VARCHAR(255)  NOT NULL DEFAULT '',
  lease_token  VARCHAR(64)   NOT NULL DEFAULT '',
  version      BIGINT        NOT NULL,
  created_at   DATETIME(6)   NOT NULL,
  updated_at   DATETIME(6)   NOT NULL,
  PRIMARY KEY (id),
  UNIQUE KEY uq_saga_instances_key (definition, business_key),
  KEY ix_saga_instances_run_at (run_at, definition),
  KEY ix_saga_instances_state_updated (state, updated_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE IF NOT EXISTS saga_steps (
  saga_id    VARCHAR(64)   NOT NULL,
  step       VARCHAR(64)   NOT NULL,
  op         VARCHAR(16)   NOT NULL,
  status     VARCHAR(16)   NOT NULL,
  attempts   INT           NOT NULL,
  output     MEDIUMBLOB    NULL,
  last_error VARCHAR(2048) NOT NULL DEFAULT '',
  updated_at DATETIME(6)   NOT NULL,
  PRIMARY KEY (saga_id, step, op)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE IF NOT EXISTS saga_events (
  id          VARCHAR(64)  NOT NULL,
  type        VARCHAR(64)  NOT NULL,
  event_key   VARCHAR(255) NOT NULL DEFAULT '',
  payload     MEDIUMBLOB   NULL,
  occurred_at DATETIME(6)  NOT NULL,
  created_at  DATETIME(6)  NOT NULL,
  PRIMARY KEY (id),
  KEY ix_saga_events_key (event_key, created_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- id orders the deliveries of one subscriber and key (ordered subscribers);
-- it is never used as a "consumed up to" mark.
CREATE TABLE IF NOT EXISTS saga_deliveries (
  id          BIGINT        NOT NULL AUTO_INCREMENT,
  event_id    VARCHAR(64)   NOT NULL,
  subscriber  VARCHAR(64)   NOT NULL,
  event_key   VARCHAR(255)  NOT NULL DEFAULT '',
  in_order    TINYINT       NOT NULL DEFAULT 0,
  status      VARCHAR(16)   NOT NULL,
  attempts    INT           NOT NULL DEFAULT 0,
  run_at      DATETIME(6)   NULL,
  lease_token VARCHAR(64)   NOT NULL DEFAULT '',
  last_error  VARCHAR(2048) NOT NULL DEFAULT '',
  created_at  DATETIME(6)   NOT NULL,
  updated_at  DATETIME(6)   NOT NULL,
  PRIMARY KEY (id),
  UNIQUE KEY uq_saga_deliveries_event_subscriber (event_id, subscriber),
  KEY ix_saga_deliveries_run_at (run_at, subscriber),
  KEY ix_saga_deliveries_order (subscriber, event_key, status, id),
  KEY ix_saga_deliveries_status (status, id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
