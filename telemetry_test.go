package paygate_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/paygate/paygate"
	"github.com/paygate/paygate/pg"
	"github.com/paygate/paygate/pg/pgtest"
	"github.com/paygate/paygate/store"
	"github.com/paygate/paygate/store/storetest"
	"github.com/paygate/paygate/tosspay/tosspaytest"
)

// observed is a flow whose metrics and spans go to in-memory SDK parts.
type observed struct {
	*flow
	reader *sdkmetric.ManualReader
	spans  *tracetest.InMemoryExporter
	hooks  *httptest.Server
}

func newObserved(t *testing.T, db *store.DB) *observed {
	t.Helper()
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	spans := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(spans))
	t.Cleanup(func() {
		_ = tp.Shutdown(context.Background())
		_ = mp.Shutdown(context.Background())
	})
	f := newFlow(t, db, newTossPay(t), func(c *paygate.Config) {
		c.MeterProvider, c.TracerProvider = mp, tp
	})
	mux := http.NewServeMux()
	mux.Handle("POST /webhooks/{pg}", f.p.WebhookHandler())
	hooks := httptest.NewServer(mux)
	t.Cleanup(hooks.Close)
	return &observed{flow: f, reader: reader, spans: spans, hooks: hooks}
}

// post delivers a PG notification over HTTP and returns the answer's status.
func (o *observed) post(d pgtest.WebhookDelivery) int {
	o.t.Helper()
	req, err := http.NewRequest(http.MethodPost, o.hooks.URL+"/webhooks/"+o.pg.name, bytes.NewReader(d.Body))
	require.NoError(o.t, err)
	req.Header = d.Header.Clone()
	resp, err := http.DefaultClient.Do(req)
	require.NoError(o.t, err)
	_ = resp.Body.Close()
	return resp.StatusCode
}

func (o *observed) collect() metricdata.ResourceMetrics {
	o.t.Helper()
	var rm metricdata.ResourceMetrics
	require.NoError(o.t, o.reader.Collect(context.Background(), &rm))
	return rm
}

// metricValue sums the data points of the named metric whose attributes
// include want: the value of counters and gauges, the count of histograms.
// found is false when the metric has no such data point.
func metricValue(rm metricdata.ResourceMetrics, name string, want ...attribute.KeyValue) (total float64, found bool) {
	match := func(set attribute.Set) bool {
		for _, kv := range want {
			if v, ok := set.Value(kv.Key); !ok || v != kv.Value {
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
						total, found = total+float64(p.Value), true
					}
				}
			case metricdata.Gauge[int64]:
				for _, p := range d.DataPoints {
					if match(p.Attributes) {
						total, found = total+float64(p.Value), true
					}
				}
			case metricdata.Gauge[float64]:
				for _, p := range d.DataPoints {
					if match(p.Attributes) {
						total, found = total+p.Value, true
					}
				}
			case metricdata.Histogram[float64]:
				for _, p := range d.DataPoints {
					if match(p.Attributes) {
						total, found = total+float64(p.Count), true
					}
				}
			}
		}
	}
	return total, found
}

func kv(k, v string) attribute.KeyValue { return attribute.String(k, v) }

// TestTelemetry_FullFlow_MetricsAndOneTraceTree runs an approval through to
// its order and settlement entry, a decline, a duplicate and a forged
// webhook, an Idempotency-Key replay and a refund, with the SDK's in-memory
// reader and exporter installed; then it checks the metrics' values, that
// the approval, its PG call, its saga steps and its settlement delivery
// form one trace tree, and that no recorded attribute carries a secret or
// the buyer's data.
func TestTelemetry_FullFlow_MetricsAndOneTraceTree(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		o := newObserved(t, db)
		ctx := context.Background()
		const (
			customer  = "buyer-kim@example.com"
			orderName = "홍길동 010-1234-5678 선물"
		)
		pay := func(orderID string, fault pgtest.Fault) paygate.ApproveRequest {
			_, err := o.p.Prepare(ctx, paygate.PrepareRequest{OrderID: orderID, OrderName: orderName, Amount: pg.Won(15000),
				PG: o.pg.name, CustomerID: customer,
				SuccessURL: "https://shop.example/ok", CancelURL: "https://shop.example/cancel", FailURL: "https://shop.example/fail"})
			require.NoError(t, err)
			res, err := o.pg.sandbox.Pay(ctx, pgtest.PayRequest{OrderID: orderID, Amount: pg.Won(15000), Fault: fault})
			require.NoError(t, err)
			return paygate.ApproveRequest{PG: o.pg.name, OrderID: orderID, Amount: pg.Won(15000), PaymentKey: res.PaymentKey, Redirect: res.Redirect}
		}

		approved, err := o.p.Approve(ctx, pay("otel-a", pgtest.FaultNone))
		require.NoError(t, err)
		require.Equal(t, pg.StatusApproved, approved.Status)
		o.settled(approved.PaymentID)

		declined, err := o.p.Approve(ctx, pay("otel-b", pgtest.FaultDecline))
		require.NoError(t, err)
		require.Equal(t, pg.StatusFailed, declined.Status)

		// The PG's notification of the approval, then its retry: one
		// recorded, one duplicate; then a delivery the PG never sent.
		hooks := o.pg.sandbox.(pgtest.WebhookSandbox)
		first, retry, err := hooks.Webhooks(ctx, "otel-a")
		require.NoError(t, err)
		require.Equal(t, http.StatusOK, o.post(first))
		require.Equal(t, http.StatusOK, o.post(retry))
		forged, err := hooks.ForgedWebhooks(ctx, "otel-a")
		require.NoError(t, err)
		require.Equal(t, http.StatusUnauthorized, o.post(forged[0]))

		// An approval behind an Idempotency-Key, then the client's resend:
		// the second is answered from the store without approving again.
		approveC := pay("otel-c", pgtest.FaultNone)
		run := func(ctx context.Context) ([]byte, error) {
			res, err := o.p.Approve(ctx, approveC)
			if err != nil {
				return nil, err
			}
			return json.Marshal(res)
		}
		r1, err := o.p.Idempotency().Do(ctx, "otel", "key-c", []byte("otel-c"), run)
		require.NoError(t, err)
		r2, err := o.p.Idempotency().Do(ctx, "otel", "key-c", []byte("otel-c"), run)
		require.NoError(t, err)
		require.True(t, r2.Replayed)
		require.JSONEq(t, string(r1.Value), string(r2.Value))
		var resC paygate.ApproveResult
		require.NoError(t, json.Unmarshal(r1.Value, &resC))
		o.settled(resC.PaymentID)

		_, err = o.p.Cancel(ctx, paygate.CancelRequest{PaymentID: resC.PaymentID, Reason: "buyer changed mind", IdempotencyKey: "refund-c"})
		require.NoError(t, err)
		o.settled(resC.PaymentID)
		// The refund's ledger delivery is counted just after its
		// transaction commits, which settled already sees.
		o.eventually("the refund's ledger delivery counted", func() bool {
			v, found := metricValue(o.collect(), "paygate.outbox.deliveries",
				kv("paygate.outbox.subscriber", "settlement-ledger"), kv("paygate.outcome", "done"))
			return found && v >= 1
		})

		rm := o.collect()
		want := func(name string, value float64, attrs ...attribute.KeyValue) {
			t.Helper()
			got, found := metricValue(rm, name, attrs...)
			if assert.True(t, found, "%s %v recorded", name, attrs) {
				assert.Equal(t, value, got, "%s %v", name, attrs)
			}
		}
		toss := kv("paygate.pg", "tosspay")
		want("paygate.approvals", 2, toss, kv("paygate.payment.method", "CARD"), kv("paygate.outcome", "approved"))
		want("paygate.approvals", 1, toss, kv("paygate.outcome", "declined"))
		want("paygate.refunds", 1, toss, kv("paygate.payment.method", "CARD"), kv("paygate.outcome", "succeeded"))
		want("paygate.webhooks", 1, toss, kv("paygate.outcome", "recorded"))
		want("paygate.webhooks", 1, toss, kv("paygate.outcome", "duplicate"))
		want("paygate.webhooks", 1, toss, kv("paygate.outcome", "forged"))
		want("paygate.idempotency.requests", 1, kv("paygate.outcome", "first"))
		want("paygate.idempotency.requests", 1, kv("paygate.outcome", "replayed"))
		want("paygate.pg.call.duration", 2, toss, kv("paygate.pg.operation", "approve"), kv("paygate.outcome", "ok"))
		want("paygate.pg.call.duration", 1, toss, kv("paygate.pg.operation", "approve"), kv("paygate.outcome", "declined"))
		want("paygate.pg.call.duration", 1, toss, kv("paygate.pg.operation", "cancel"), kv("paygate.outcome", "ok"))
		step := func(name, outcome string) []attribute.KeyValue {
			return []attribute.KeyValue{kv("paygate.saga.definition", "payment"), kv("paygate.saga.step", name), kv("paygate.outcome", outcome)}
		}
		want("paygate.saga.steps", 2, step("approve", "done")...)
		want("paygate.saga.steps", 1, step("approve", "failed")...)
		want("paygate.saga.steps", 2, step("create_order", "done")...)
		// The two sales are written with their approvals; the refund is
		// the ledger's one delivery.
		want("paygate.outbox.deliveries", 1, kv("paygate.outbox.subscriber", "settlement-ledger"), kv("paygate.outcome", "done"))
		want("paygate.unknown.open", 0, toss, kv("paygate.pg.operation", "approve"))
		want("paygate.unknown.open", 0, toss, kv("paygate.pg.operation", "cancel"))
		want("paygate.outbox.dead", 0)
		_, found := metricValue(rm, "paygate.outbox.lag")
		assert.True(t, found, "paygate.outbox.lag observed")
		_, found = metricValue(rm, "paygate.saga.retries")
		assert.False(t, found, "no step was retried")

		o.checkTraceTree(approved.PaymentID)
		o.checkCancelTree(resC.PaymentID)
		o.checkNoSecrets(rm, []string{customer, orderName, "010-1234-5678", o.pg.sandbox.(*tosspaytest.Server).SecretKey()},
			approved.PaymentID, resC.PaymentID)
	})
}

// spansOf waits until the trace of the approval of paymentID has every span
// named in names, and returns that trace's spans by name.
func (o *observed) spansOf(paymentID string, names ...string) map[string][]tracetest.SpanStub {
	o.t.Helper()
	var byName map[string][]tracetest.SpanStub
	o.eventually("the approval's spans", func() bool {
		all := o.spans.GetSpans()
		var tid trace.TraceID
		for _, s := range all {
			for _, a := range s.Attributes {
				if s.Name == "paygate.Approve" && a.Key == "paygate.payment.id" && a.Value.AsString() == paymentID {
					tid = s.SpanContext.TraceID()
				}
			}
		}
		if !tid.IsValid() {
			return false
		}
		byName = map[string][]tracetest.SpanStub{}
		for _, s := range all {
			if s.SpanContext.TraceID() == tid {
				byName[s.Name] = append(byName[s.Name], s)
			}
		}
		for _, n := range names {
			if len(byName[n]) == 0 {
				return false
			}
		}
		return true
	})
	return byName
}

// checkTraceTree checks that the approval, its saga steps and its PG call
// are one tree: the approve step and the order step under Approve, the PG
// call under the approve step. (The sale is written by the approve step's
// transaction: no delivery of its own.)
func (o *observed) checkTraceTree(paymentID string) {
	o.t.Helper()
	spans := o.spansOf(paymentID, "paygate.Approve", "saga payment.approve", "pg.approve",
		"saga payment.create_order")
	one := func(name string) tracetest.SpanStub {
		o.t.Helper()
		require.Len(o.t, spans[name], 1, name)
		return spans[name][0]
	}
	root := one("paygate.Approve")
	approveStep := one("saga payment.approve")
	pgCall := one("pg.approve")
	orderStep := one("saga payment.create_order")

	assert.False(o.t, root.Parent.IsValid(), "Approve is the root")
	assert.Equal(o.t, root.SpanContext.SpanID(), approveStep.Parent.SpanID(), "approve step under Approve")
	assert.Equal(o.t, approveStep.SpanContext.SpanID(), pgCall.Parent.SpanID(), "PG call under the approve step")
	assert.Equal(o.t, root.SpanContext.SpanID(), orderStep.Parent.SpanID(), "order step under Approve")
	assert.Equal(o.t, trace.SpanKindClient, pgCall.SpanKind)

	attr := func(s tracetest.SpanStub, key string) string {
		for _, a := range s.Attributes {
			if string(a.Key) == key {
				return a.Value.Emit()
			}
		}
		return ""
	}
	assert.NotEmpty(o.t, attr(pgCall, "paygate.pg.request_id"), "the PG's transaction id")
	assert.Equal(o.t, "tosspay", attr(pgCall, "paygate.pg"))
	assert.Equal(o.t, "APPROVED", attr(root, "paygate.payment.status"))
}

// checkCancelTree checks that a refund's span holds its saga's cancel step
// and, under that, the PG call and the ledger's delivery of the refund.
func (o *observed) checkCancelTree(paymentID string) {
	o.t.Helper()
	var root, step, call, ledger tracetest.SpanStub
	o.eventually("the refund's spans", func() bool {
		all := o.spans.GetSpans()
		for _, s := range all {
			for _, a := range s.Attributes {
				if s.Name == "paygate.Cancel" && a.Key == "paygate.payment.id" && a.Value.AsString() == paymentID {
					root = s
				}
			}
		}
		for _, s := range all {
			if s.SpanContext.TraceID() != root.SpanContext.TraceID() {
				continue
			}
			switch s.Name {
			case "saga refund.cancel":
				step = s
			case "pg.cancel":
				call = s
			case "outbox.deliver settlement-ledger":
				ledger = s
			}
		}
		return root.SpanContext.IsValid() && step.SpanContext.IsValid() && call.SpanContext.IsValid() && ledger.SpanContext.IsValid()
	})
	assert.Equal(o.t, root.SpanContext.SpanID(), step.Parent.SpanID(), "cancel step under Cancel")
	assert.Equal(o.t, step.SpanContext.SpanID(), call.Parent.SpanID(), "PG call under the cancel step")
	assert.Equal(o.t, step.SpanContext.SpanID(), ledger.Parent.SpanID(), "the refund's ledger entry under the step that emitted it")
	for _, a := range ledger.Attributes {
		if a.Key == "paygate.event.type" {
			assert.Contains(o.t, []string{"PAYMENT_CANCELED", "PAYMENT_REFUNDED"}, a.Value.AsString())
		}
	}
}

// Patterns of buyer data that no attribute may carry: card numbers, e-mail
// addresses, Korean mobile numbers.
var (
	cardNumber = regexp.MustCompile(`(^|[^0-9A-Za-z])(\d{13,19}|\d{4}[- ]\d{4}[- ]\d{4}[- ]\d{1,7}|\d{4}[- ]?[0-9*]{4}[- ]?\*{4}[- ]?[0-9*]{1,4})([^0-9A-Za-z]|$)`)
	email      = regexp.MustCompile(`[^\s@]+@[^\s@]+\.[a-z]{2,}`)
	mobile     = regexp.MustCompile(`(^|[^0-9A-Za-z])01[016789][- ]?\d{3,4}[- ]?\d{4}([^0-9A-Za-z]|$)`)
)

// checkNoSecrets scans every attribute, event, status and link of every
// span and every metric data point's attributes for the given values, the
// payments' PG secrets and the patterns of buyer data.
func (o *observed) checkNoSecrets(rm metricdata.ResourceMetrics, values []string, paymentIDs ...string) {
	o.t.Helper()
	for _, id := range paymentIDs {
		pay, err := o.db.PaymentByID(context.Background(), id)
		require.NoError(o.t, err)
		var d struct {
			Secret string `json:"secret"`
		}
		require.NoError(o.t, json.Unmarshal(pay.PGData, &d))
		require.NotEmpty(o.t, d.Secret, "the PG gave the payment a secret")
		values = append(values, d.Secret)
	}
	var texts []string
	addAttrs := func(where string, attrs []attribute.KeyValue) {
		for _, a := range attrs {
			texts = append(texts, fmt.Sprintf("%s %s=%s", where, a.Key, a.Value.Emit()))
		}
	}
	spans := o.spans.GetSpans()
	require.NotEmpty(o.t, spans)
	for _, s := range spans {
		texts = append(texts, "span "+s.Name, "status "+s.Status.Description)
		addAttrs(s.Name, s.Attributes)
		for _, e := range s.Events {
			texts = append(texts, "event "+e.Name)
			addAttrs(s.Name+" event", e.Attributes)
		}
		for _, l := range s.Links {
			addAttrs(s.Name+" link", l.Attributes)
		}
	}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			var sets []attribute.Set
			switch d := m.Data.(type) {
			case metricdata.Sum[int64]:
				for _, p := range d.DataPoints {
					sets = append(sets, p.Attributes)
				}
			case metricdata.Gauge[int64]:
				for _, p := range d.DataPoints {
					sets = append(sets, p.Attributes)
				}
			case metricdata.Gauge[float64]:
				for _, p := range d.DataPoints {
					sets = append(sets, p.Attributes)
				}
			case metricdata.Histogram[float64]:
				for _, p := range d.DataPoints {
					sets = append(sets, p.Attributes)
				}
			}
			for _, set := range sets {
				addAttrs(m.Name, set.ToSlice())
			}
		}
	}
	require.Greater(o.t, len(texts), 50, "a full flow records many attributes")
	for _, text := range texts {
		for _, v := range values {
			assert.NotContains(o.t, text, v)
		}
		assert.False(o.t, cardNumber.MatchString(text), "card number in %q", text)
		assert.False(o.t, email.MatchString(text), "e-mail address in %q", text)
		assert.False(o.t, mobile.MatchString(text), "phone number in %q", text)
		assert.NotContains(o.t, strings.ToLower(text), "authorization")
	}
}
