-- The W3C traceparent of the span that started a saga instance or emitted
-- an outbox event, so the steps a runner executes later and the deliveries
-- of the event join the trace of the request that caused them. Empty when
-- tracing was off.

ALTER TABLE saga_instances ADD COLUMN trace_parent VARCHAR(128) NOT NULL DEFAULT '';

ALTER TABLE saga_events ADD COLUMN trace_parent VARCHAR(128) NOT NULL DEFAULT '';
