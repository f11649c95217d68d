-- The W3C traceparent of the span that started a saga instance or emitted
-- an outbox event. Same shape as the MySQL file.

ALTER TABLE saga_instances ADD COLUMN trace_parent TEXT NOT NULL DEFAULT '';

ALTER TABLE saga_events ADD COLUMN trace_parent TEXT NOT NULL DEFAULT '';
