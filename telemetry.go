package paygate

import (
	"context"
	"strings"
	"time"

	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/paygate/paygate/internal/telemetry"
	"github.com/paygate/paygate/pg"
	"github.com/paygate/paygate/store"
)

// tracedGateway decorates a PG adapter's required calls with a span and
// the paygate.pg.call.duration histogram, so adapters need nothing of
// OpenTelemetry. Optional interfaces (Preparer, WebhookParser, …) are
// asserted on the adapter itself (p.gateway), never on this.
type tracedGateway struct {
	pg.Gateway
	tel *telemetry.Flow
}

// traced returns gw with its PG calls observed.
func (p *Paygate) traced(gw pg.Gateway) pg.Gateway { return tracedGateway{Gateway: gw, tel: p.tel} }

func (g tracedGateway) Approve(ctx context.Context, req pg.ApproveRequest) (*pg.Payment, error) {
	return observePG(ctx, g.tel, g.Name(), "approve", requestIDOf, func(ctx context.Context) (*pg.Payment, error) {
		return g.Gateway.Approve(ctx, req)
	})
}

func (g tracedGateway) Cancel(ctx context.Context, req pg.CancelRequest) (*pg.Payment, error) {
	return observePG(ctx, g.tel, g.Name(), "cancel", requestIDOf, func(ctx context.Context) (*pg.Payment, error) {
		return g.Gateway.Cancel(ctx, req)
	})
}

func (g tracedGateway) Lookup(ctx context.Context, req pg.LookupRequest) (*pg.Payment, error) {
	return observePG(ctx, g.tel, g.Name(), "lookup", requestIDOf, func(ctx context.Context) (*pg.Payment, error) {
		return g.Gateway.Lookup(ctx, req)
	})
}

func requestIDOf(p *pg.Payment) string {
	if p == nil {
		return ""
	}
	return p.RequestID
}

// observePG runs one PG call in a client span named "pg.<op>" and records
// its duration by PG, operation and outcome ("ok" or the error's kind).
func observePG[T any](ctx context.Context, tel *telemetry.Flow, pgName, op string, requestID func(T) string, call func(context.Context) (T, error)) (T, error) {
	ctx, span := tel.Tracer.Start(ctx, "pg."+op, trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(telemetry.PG.String(pgName), telemetry.Operation.String(op)))
	defer span.End()
	start := time.Now()
	res, err := call(ctx)
	outcome := "ok"
	if err != nil {
		outcome = strings.ToLower(pg.KindOf(err).Code())
	}
	tel.PGCallDuration.Record(ctx, time.Since(start).Seconds(), metric.WithAttributes(
		telemetry.PG.String(pgName), telemetry.Operation.String(op), telemetry.Outcome.String(outcome)))
	if span.IsRecording() {
		if err != nil {
			span.SetAttributes(telemetry.ErrorKind.String(outcome))
			telemetry.Fail(span, err)
		} else if id := requestID(res); id != "" {
			span.SetAttributes(telemetry.RequestID.String(id))
		}
	}
	return res, err
}

// methodAttr is a payment's method as a metric attribute.
func methodAttr(m string) string {
	if m == "" {
		return telemetry.UnknownMethod
	}
	return m
}

// approvalOutcome names how an approval answered by Approve ended.
func approvalOutcome(s pg.Status) string {
	switch s {
	case pg.StatusApproved:
		return "approved"
	case pg.StatusFailed:
		return "declined"
	case pg.StatusUnknown:
		return "unknown"
	}
	return strings.ToLower(string(s))
}

// Outcomes of paygate.refunds.
const (
	refundSucceeded = "succeeded"
	refundRefused   = "refused"
	refundUnknown   = "unknown"
)

// countRefund counts one refund attempt at the PG.
func (p *Paygate) countRefund(ctx context.Context, pay *store.Payment, outcome string) {
	p.tel.Refunds.Add(ctx, 1, metric.WithAttributes(telemetry.PG.String(pay.PG),
		telemetry.Method.String(methodAttr(pay.Method)), telemetry.Outcome.String(outcome)))
}

// gaugeTimeout bounds the query of one metrics collection.
const gaugeTimeout = 5 * time.Second

// registerGauges registers the gauge of unknown outcomes, read from the
// database once per collection while Run runs.
func (p *Paygate) registerGauges() (metric.Registration, error) {
	g, err := p.tel.Meter.Int64ObservableGauge(telemetry.MetricUnknownOpen, metric.WithUnit("{call}"),
		metric.WithDescription("PG calls whose outcome is unknown and not yet resolved by lookup, by PG and operation (approve, cancel)."))
	if err != nil {
		return nil, err
	}
	return p.tel.Meter.RegisterCallback(func(ctx context.Context, obs metric.Observer) error {
		ctx, cancel := context.WithTimeout(ctx, gaugeTimeout)
		defer cancel()
		open, err := p.db.UnknownOutcomes(ctx)
		if err != nil {
			return err
		}
		seen := map[string]bool{}
		for _, u := range open {
			seen[u.PG+"|"+u.Op] = true
			obs.ObserveInt64(g, u.Count, metric.WithAttributes(telemetry.PG.String(u.PG), telemetry.Operation.String(u.Op)))
		}
		// Zero for every gateway with nothing open, so a series that went
		// back to zero is seen as zero rather than as gone.
		for _, name := range p.cfg.Gateways.Names() {
			for _, op := range []string{"approve", "cancel"} {
				if !seen[name+"|"+op] {
					obs.ObserveInt64(g, 0, metric.WithAttributes(telemetry.PG.String(name), telemetry.Operation.String(op)))
				}
			}
		}
		return nil
	}, g)
}
