package saga_test

import (
	"context"
	"database/sql"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/paygate/paygate/saga"
	"github.com/paygate/paygate/store"
	"github.com/paygate/paygate/store/storetest"
)

// stepCount sums paygate.saga.steps (or .retries) data points with attrs.
func stepCount(rm metricdata.ResourceMetrics, name string, attrs ...attribute.KeyValue) int64 {
	var n int64
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			sum, ok := m.Data.(metricdata.Sum[int64])
			if m.Name != name || !ok {
				continue
			}
		points:
			for _, p := range sum.DataPoints {
				for _, kv := range attrs {
					if v, ok := p.Attributes.Value(kv.Key); !ok || v != kv.Value {
						continue points
					}
				}
				n += p.Value
			}
		}
	}
	return n
}

// TestRunner_Telemetry_StepsRetriesAndTheStartersTrace runs a saga whose
// second step fails once and is retried by a runner: every step call is a
// span in the trace of the span that started the instance, and the steps
// and retries counters say what happened.
func TestRunner_Telemetry_StepsRetriesAndTheStartersTrace(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		effects(t, db)
		reader := sdkmetric.NewManualReader()
		mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
		spans := tracetest.NewInMemoryExporter()
		tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(spans))
		cfg := testConfig()
		cfg.MeterProvider, cfg.TracerProvider = mp, tp
		r := saga.NewRunner(newStore(db), cfg)

		var failures atomic.Int32
		flaky := dbStep("ship")
		action := flaky.Action
		flaky.Action = func(ctx context.Context, a saga.Attempt) (saga.Result, error) {
			if failures.Add(1) == 1 {
				return saga.Result{}, errors.New("carrier unavailable")
			}
			return action(ctx, a)
		}
		def := &saga.Definition{Name: "telemetry", Steps: []saga.Step{dbStep("reserve"), flaky}}
		require.NoError(t, r.Register(def))

		ctx, starter := tp.Tracer("test").Start(context.Background(), "checkout")
		var in *saga.Instance
		require.NoError(t, db.InTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
			var err error
			in, err = r.Start(ctx, tx, def, "order-1", nil)
			return err
		}))
		starter.End()
		// Run gets its own context, without the starter's span: the steps
		// find their trace through the stored traceparent.
		runFor(t, r)
		waitState(t, r, in.ID, saga.Completed)

		var stepSpans []tracetest.SpanStub
		deadline := time.Now().Add(30 * time.Second)
		for len(stepSpans) < 3 && time.Now().Before(deadline) {
			stepSpans = stepSpans[:0]
			for _, s := range spans.GetSpans() {
				if s.Name == "saga telemetry.reserve" || s.Name == "saga telemetry.ship" {
					stepSpans = append(stepSpans, s)
				}
			}
			time.Sleep(10 * time.Millisecond)
		}
		require.Len(t, stepSpans, 3, "reserve, ship failing, ship again")
		for _, s := range stepSpans {
			assert.Equal(t, starter.SpanContext().TraceID(), s.SpanContext.TraceID(), s.Name)
			assert.Equal(t, starter.SpanContext().SpanID(), s.Parent.SpanID(), "%s under the starter", s.Name)
		}

		var rm metricdata.ResourceMetrics
		require.NoError(t, reader.Collect(context.Background(), &rm))
		def1 := attribute.String("paygate.saga.definition", "telemetry")
		step := func(name string) attribute.KeyValue { return attribute.String("paygate.saga.step", name) }
		outcome := func(o string) attribute.KeyValue { return attribute.String("paygate.outcome", o) }
		assert.EqualValues(t, 1, stepCount(rm, "paygate.saga.steps", def1, step("reserve"), outcome("done")))
		assert.EqualValues(t, 1, stepCount(rm, "paygate.saga.steps", def1, step("ship"), outcome("error")))
		assert.EqualValues(t, 1, stepCount(rm, "paygate.saga.steps", def1, step("ship"), outcome("done")))
		assert.EqualValues(t, 1, stepCount(rm, "paygate.saga.retries", def1, step("ship")))
		assert.EqualValues(t, 0, stepCount(rm, "paygate.saga.retries", def1, step("reserve")))
		assert.False(t, r.LastLoop().IsZero(), "Run goes round")
	})
}
