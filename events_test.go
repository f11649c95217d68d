package paygate_test

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/stretchr/testify/require"

	"github.com/paygate/paygate"
	"github.com/paygate/paygate/pg"
	"github.com/paygate/paygate/pg/pgtest"
)

// Every event recorded in payment_events matches the published schema.
func TestEvents_MatchTheirJSONSchema(t *testing.T) {
	var schema openapi3.Schema
	require.NoError(t, json.Unmarshal(paygate.EventSchema, &schema))
	require.NotEmpty(t, schema.Required)
	var broken any
	require.NoError(t, json.Unmarshal([]byte(`{"eventId":"evt_x","eventType":"PAYMENT_LOST","paymentId":"p","orderId":"","amount":"1"}`), &broken))
	require.Error(t, schema.VisitJSON(broken), "the schema refuses a malformed event")

	eachPG(t, func(t *testing.T, f *flow) {
		ctx := context.Background()
		f.shop.permanent["ord-schema-refund"] = true
		a, err := f.p.Approve(ctx, f.checkout("ord-schema-keep", 9000, pgtest.FaultNone))
		require.NoError(t, err)
		b, err := f.p.Approve(ctx, f.checkout("ord-schema-refund", 9000, pgtest.FaultNone))
		require.NoError(t, err)
		c, err := f.p.Approve(ctx, f.checkout("ord-schema-decline", 9000, pgtest.FaultDecline))
		require.NoError(t, err)
		f.settled(a.PaymentID)
		_, err = f.p.Cancel(ctx, paygate.CancelRequest{PaymentID: a.PaymentID, Amount: pg.Won(1000), Reason: "partial", IdempotencyKey: "s1"})
		require.NoError(t, err)
		types := map[string]bool{}
		for _, id := range []string{a.PaymentID, b.PaymentID, c.PaymentID} {
			f.settled(id)
			events, err := f.db.EventsByPayment(ctx, id)
			require.NoError(t, err)
			for _, e := range events {
				var v any
				require.NoError(t, json.Unmarshal(e.Payload, &v))
				require.NoError(t, schema.VisitJSON(v), "%s: %s", e.Type, e.Payload)
				types[e.Type] = true
			}
		}
		for _, want := range []string{paygate.EventPaymentApproved, paygate.EventOrderCreated, paygate.EventSettlementRecorded,
			paygate.EventPaymentCanceled, paygate.EventPaymentRefunded, paygate.EventOrderCreationFailed, paygate.EventPaymentFailed} {
			require.True(t, types[want], "no %s event was checked", want)
		}
	})
}
