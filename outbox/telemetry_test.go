package outbox_test

import (
	"context"
	"database/sql"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/paygate/paygate/outbox"
	"github.com/paygate/paygate/store"
	"github.com/paygate/paygate/store/storetest"
)

// observed returns the value of a gauge or the sum of a counter's points
// with attrs, and whether any point matched.
func observed(rm metricdata.ResourceMetrics, name string, attrs ...attribute.KeyValue) (float64, bool) {
	var v float64
	found := false
	match := func(set attribute.Set) bool {
		for _, kv := range attrs {
			if got, ok := set.Value(kv.Key); !ok || got != kv.Value {
				return false
			}
		}
		return true
	}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name != name {
				continue
			}
			switch d := m.Data.(type) {
			case metricdata.Sum[int64]:
				for _, p := range d.DataPoints {
					if match(p.Attributes) {
						v, found = v+float64(p.Value), true
					}
				}
			case metricdata.Gauge[int64]:
				for _, p := range d.DataPoints {
					v, found = v+float64(p.Value), true
				}
			case metricdata.Gauge[float64]:
				for _, p := range d.DataPoints {
					v, found = v+p.Value, true
				}
			}
		}
	}
	return v, found
}

// TestOutbox_Telemetry_LagDeadAndTheEmittersTrace emits a traced event to
// three subscribers — one that takes it, one that refuses it for good, one
// that keeps failing with a long backoff — and checks the deliveries
// counter, the lag and dead gauges (observed only while Run runs, from the
// outbox clock) and that each handled delivery is a span under the span
// that emitted the event.
func TestOutbox_Telemetry_LagDeadAndTheEmittersTrace(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		reader := sdkmetric.NewManualReader()
		mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
		spans := tracetest.NewInMemoryExporter()
		tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(spans))
		clock := newFakeClock()
		cfg := outboxConfig()
		cfg.Clock, cfg.MeterProvider, cfg.TracerProvider = clock, mp, tp
		o := outbox.New(newStore(db), cfg)
		slow := outbox.Policy{MaxAttempts: outbox.Unlimited, InitialBackoff: time.Hour, MaxBackoff: time.Hour}
		require.NoError(t, o.Subscribe(
			outbox.Subscriber{Name: "ledger", Handle: ledger(t, db, "telemetry_ledger")},
			outbox.Subscriber{Name: "broken", Handle: func(context.Context, *sql.Tx, outbox.Delivery) error {
				return outbox.Permanent(errors.New("cannot read this event"))
			}},
			outbox.Subscriber{Name: "later", Retry: slow, Handle: func(context.Context, *sql.Tx, outbox.Delivery) error {
				return errors.New("service down")
			}},
		))
		collect := func() metricdata.ResourceMetrics {
			var rm metricdata.ResourceMetrics
			require.NoError(t, reader.Collect(context.Background(), &rm))
			return rm
		}

		emitted := clock.Now()
		emit(t, db, o, outbox.Event{Type: "PAYMENT_APPROVED", Key: "pay_1", Payload: []byte(`{}`)})
		ctx, emitter := tp.Tracer("test").Start(context.Background(), "approve")
		require.NoError(t, db.InTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
			_, err := o.Emit(ctx, tx, outbox.Event{Type: "PAYMENT_APPROVED", Key: "pay_2", Payload: []byte(`{}`)})
			return err
		}))
		emitter.End()
		_, found := observed(collect(), "paygate.outbox.lag")
		assert.False(t, found, "no gauge before Run")

		sub := func(name, outcome string) []attribute.KeyValue {
			return []attribute.KeyValue{attribute.String("paygate.outbox.subscriber", name), attribute.String("paygate.outcome", outcome)}
		}
		delivered := func(rm metricdata.ResourceMetrics, name, outcome string) float64 {
			n, _ := observed(rm, "paygate.outbox.deliveries", sub(name, outcome)...)
			return n
		}
		runFor(t, o)
		// Each subscriber's two deliveries have been attempted once.
		waitCount(t, "delivery attempts", 6, func() int {
			rm := collect()
			return int(delivered(rm, "ledger", "done") + delivered(rm, "broken", "dead") + delivered(rm, "later", "retry"))
		})
		clock.Advance(90 * time.Second)

		b, err := o.Backlog(context.Background())
		require.NoError(t, err)
		assert.EqualValues(t, 2, b.Dead)
		assert.Equal(t, emitted.Truncate(time.Microsecond), b.OldestPending, "the first event's delivery to later")

		rm := collect()
		lag, found := observed(rm, "paygate.outbox.lag")
		require.True(t, found)
		assert.InDelta(t, 90, lag, 0.001, "seconds since the oldest pending delivery was created")
		dead, _ := observed(rm, "paygate.outbox.dead")
		assert.EqualValues(t, 2, dead)
		assert.EqualValues(t, 2, delivered(rm, "ledger", "done"))
		assert.EqualValues(t, 2, delivered(rm, "broken", "dead"))
		assert.EqualValues(t, 2, delivered(rm, "later", "retry"))
		assert.EqualValues(t, 2, rowCount(t, db, "telemetry_ledger"))

		// The traced event's deliveries are spans under the emitter's span;
		// the other event was emitted without one.
		var ledgerSpan, brokenSpan int
		for _, s := range spans.GetSpans() {
			if s.Parent.SpanID() != emitter.SpanContext().SpanID() {
				continue
			}
			assert.Equal(t, emitter.SpanContext().TraceID(), s.SpanContext.TraceID())
			switch s.Name {
			case "outbox.deliver ledger":
				ledgerSpan++
				assert.Equal(t, codes.Unset, s.Status.Code)
			case "outbox.deliver broken":
				brokenSpan++
				assert.Equal(t, codes.Error, s.Status.Code)
			}
		}
		assert.Equal(t, 1, ledgerSpan)
		assert.GreaterOrEqual(t, brokenSpan, 1)
		assert.False(t, o.LastLoop().IsZero())
	})
}
