// Package telemetry holds what paygate's packages share for OpenTelemetry:
// the instrumentation scope, the names of every instrument and span
// attribute, the instruments each package records, and the W3C trace
// context that travels with saga instances and outbox events.
//
// Every package takes a metric.MeterProvider and a trace.TracerProvider in
// its configuration; nil means the global ones (otel.GetMeterProvider,
// otel.GetTracerProvider), which are no-ops until the host installs an SDK,
// so a host that sets nothing pays a few interface calls per operation.
//
// No attribute carries a secret, a card number, a PG's payment secret or
// anything of the buyer: only ids (payment, order, saga, event, the PG's
// transaction id), PG and method names, step names and outcomes.
package telemetry

import (
	"context"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// ScopeName is the instrumentation scope of every meter and tracer.
const ScopeName = "github.com/paygate/paygate"

// Instrument names.
const (
	MetricApprovals           = "paygate.approvals"
	MetricRefunds             = "paygate.refunds"
	MetricPGCallDuration      = "paygate.pg.call.duration"
	MetricWebhooks            = "paygate.webhooks"
	MetricUnknownOpen         = "paygate.unknown.open"
	MetricSagaSteps           = "paygate.saga.steps"
	MetricSagaRetries         = "paygate.saga.retries"
	MetricOutboxDeliveries    = "paygate.outbox.deliveries"
	MetricOutboxLag           = "paygate.outbox.lag"
	MetricOutboxDead          = "paygate.outbox.dead"
	MetricIdempotencyRequests = "paygate.idempotency.requests"
)

// Attribute keys.
const (
	PG         = attribute.Key("paygate.pg")
	Method     = attribute.Key("paygate.payment.method")
	Outcome    = attribute.Key("paygate.outcome")
	Operation  = attribute.Key("paygate.pg.operation")
	RequestID  = attribute.Key("paygate.pg.request_id")
	ErrorKind  = attribute.Key("paygate.pg.error_kind")
	PaymentID  = attribute.Key("paygate.payment.id")
	OrderID    = attribute.Key("paygate.order.id")
	CancelID   = attribute.Key("paygate.cancel.id")
	Status     = attribute.Key("paygate.payment.status")
	SagaID     = attribute.Key("paygate.saga.id")
	SagaDef    = attribute.Key("paygate.saga.definition")
	SagaStep   = attribute.Key("paygate.saga.step")
	SagaOp     = attribute.Key("paygate.saga.op")
	Attempt    = attribute.Key("paygate.attempt")
	Subscriber = attribute.Key("paygate.outbox.subscriber")
	EventID    = attribute.Key("paygate.event.id")
	EventType  = attribute.Key("paygate.event.type")
	Recovering = attribute.Key("paygate.saga.recovering")
	Resolved   = attribute.Key("paygate.saga.resolved")
	BatchSize  = attribute.Key("paygate.outbox.batch_size")
)

// UnknownMethod stands for a payment method the PG has not reported (a
// declined approval).
const UnknownMethod = "unknown"

// Meter returns paygate's meter from mp, or from the global provider when mp
// is nil.
func Meter(mp metric.MeterProvider) metric.Meter {
	if mp == nil {
		mp = otel.GetMeterProvider()
	}
	return mp.Meter(ScopeName)
}

// Tracer returns paygate's tracer from tp, or from the global provider when
// tp is nil.
func Tracer(tp trace.TracerProvider) trace.Tracer {
	if tp == nil {
		tp = otel.GetTracerProvider()
	}
	return tp.Tracer(ScopeName)
}

// handle reports an instrument creation error to the global OpenTelemetry
// error handler; an SDK refuses only malformed names and still returns a
// usable instrument.
func handle(err error) {
	if err != nil {
		otel.Handle(err)
	}
}

func counter(m metric.Meter, name, unit, desc string) metric.Int64Counter {
	c, err := m.Int64Counter(name, metric.WithUnit(unit), metric.WithDescription(desc))
	handle(err)
	return c
}

// Flow is what the payment flow records.
type Flow struct {
	Tracer         trace.Tracer
	Meter          metric.Meter
	Approvals      metric.Int64Counter
	Refunds        metric.Int64Counter
	PGCallDuration metric.Float64Histogram
}

// pgCallBuckets bound PG latencies: a few milliseconds (a sandbox) to the
// 30 s approval timeout.
var pgCallBuckets = []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30}

// NewFlow makes the payment flow's instruments.
func NewFlow(mp metric.MeterProvider, tp trace.TracerProvider) *Flow {
	m := Meter(mp)
	h, err := m.Float64Histogram(MetricPGCallDuration, metric.WithUnit("s"),
		metric.WithDescription("Duration of calls to a PG's API, retries included, by PG, operation and outcome."),
		metric.WithExplicitBucketBoundaries(pgCallBuckets...))
	handle(err)
	return &Flow{
		Tracer: Tracer(tp),
		Meter:  m,
		Approvals: counter(m, MetricApprovals, "{approval}",
			"Approvals answered by Approve, by PG, payment method and outcome (approved, declined, unknown, waiting_for_deposit)."),
		Refunds: counter(m, MetricRefunds, "{refund}",
			"Refund attempts at the PG, by PG, payment method and outcome (succeeded, refused, unknown)."),
		PGCallDuration: h,
	}
}

// Saga is what the saga runner records.
type Saga struct {
	Tracer  trace.Tracer
	Steps   metric.Int64Counter
	Retries metric.Int64Counter
}

// NewSaga makes the saga runner's instruments.
func NewSaga(mp metric.MeterProvider, tp trace.TracerProvider) *Saga {
	m := Meter(mp)
	return &Saga{
		Tracer: Tracer(tp),
		Steps: counter(m, MetricSagaSteps, "{call}",
			"Finished calls of saga step functions, by definition, step, op and outcome (done, failed, retry)."),
		Retries: counter(m, MetricSagaRetries, "{call}",
			"Calls of saga step functions that retried an earlier attempt, by definition, step and op."),
	}
}

// Outbox is what the outbox dispatcher records.
type Outbox struct {
	Tracer     trace.Tracer
	Meter      metric.Meter
	Deliveries metric.Int64Counter
}

// NewOutbox makes the outbox's instruments.
func NewOutbox(mp metric.MeterProvider, tp trace.TracerProvider) *Outbox {
	m := Meter(mp)
	return &Outbox{
		Tracer: Tracer(tp),
		Meter:  m,
		Deliveries: counter(m, MetricOutboxDeliveries, "{delivery}",
			"Outbox delivery attempts, by subscriber and outcome (done, retry, dead)."),
	}
}

// Webhooks is what the webhook intake records.
type Webhooks struct {
	Tracer   trace.Tracer
	Received metric.Int64Counter
}

// NewWebhooks makes the webhook intake's instruments.
func NewWebhooks(mp metric.MeterProvider, tp trace.TracerProvider) *Webhooks {
	m := Meter(mp)
	return &Webhooks{
		Tracer: Tracer(tp),
		Received: counter(m, MetricWebhooks, "{webhook}",
			"Webhook deliveries received, by PG and outcome (recorded, duplicate, ignored, forged, malformed, failed)."),
	}
}

// Idempotency is what the Idempotency-Key manager records.
type Idempotency struct {
	Requests metric.Int64Counter
}

// NewIdempotency makes the Idempotency-Key manager's instruments.
func NewIdempotency(mp metric.MeterProvider) *Idempotency {
	m := Meter(mp)
	return &Idempotency{
		Requests: counter(m, MetricIdempotencyRequests, "{request}",
			"Requests carrying an Idempotency-Key, by outcome (first, replayed, in_flight, key_reused)."),
	}
}

// traceContext is the W3C Trace Context propagator: stored trace parents
// are always W3C, whatever propagator the host installed globally.
var traceContext = propagation.TraceContext{}

// TraceParent returns the W3C traceparent of ctx's span, or "" when ctx
// carries no valid span context (tracing off).
func TraceParent(ctx context.Context) string {
	if !trace.SpanContextFromContext(ctx).IsValid() {
		return ""
	}
	c := propagation.MapCarrier{}
	traceContext.Inject(ctx, c)
	return c["traceparent"]
}

// WithTraceParent returns ctx carrying the remote span context a stored
// traceparent names, so spans started from it join that trace. An empty or
// malformed traceparent leaves ctx as it is.
func WithTraceParent(ctx context.Context, traceparent string) context.Context {
	if traceparent == "" {
		return ctx
	}
	return traceContext.Extract(ctx, propagation.MapCarrier{"traceparent": traceparent})
}

// MaxTraceParent is the longest traceparent stored (version 00 is 55
// characters; later versions may append fields).
const MaxTraceParent = 128

// Fail marks span failed with err's message. paygate's errors are built
// from ids, PG codes and PG messages, never from secrets or buyer data.
func Fail(span trace.Span, err error) {
	if err == nil || !span.IsRecording() {
		return
	}
	span.SetStatus(codes.Error, err.Error())
}
