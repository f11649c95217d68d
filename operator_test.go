package paygate_test

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/paygate/paygate"
	"github.com/paygate/paygate/pg"
	"github.com/paygate/paygate/pg/pgtest"
	"github.com/paygate/paygate/saga"
)

// An operator's refund, retry and resolution each land in the payment's
// timeline as an OPERATOR_ACTION event saying who did what and why, once,
// in the published event shape; the queue item shows how often its step
// was tried.
func TestOperatorActions_RecordedInThePaymentsTimeline(t *testing.T) {
	var schema openapi3.Schema
	require.NoError(t, json.Unmarshal(paygate.EventSchema, &schema))
	eachPG(t, func(t *testing.T, f *flow) {
		ctx := context.Background()
		const order = "ord-operator-actions"
		res, err := f.p.Approve(ctx, f.checkout(order, 10000, pgtest.FaultNone))
		require.NoError(t, err)
		f.settled(res.PaymentID)

		// A refund by an operator, sent twice with the same key: one action.
		for range 2 {
			_, err = f.p.Cancel(ctx, paygate.CancelRequest{PaymentID: res.PaymentID, Amount: pg.Won(1000),
				Reason: "shipping refunded", IdempotencyKey: "op-1", Operator: "alice"})
			require.NoError(t, err)
		}
		actions := f.events(res.PaymentID, paygate.EventOperatorAction)
		require.Len(t, actions, 1)
		assert.Equal(t, "shipping refunded", actions[0].Reason)
		assert.Equal(t, "1000", actions[0].Amount.String())
		var data paygate.OperatorAction
		require.NoError(t, json.Unmarshal(actions[0].Data, &data))
		assert.Equal(t, "alice", data.Operator)
		assert.Equal(t, paygate.ActionRefund, data.Action)
		assert.Equal(t, f.payment(res.PaymentID).Cancels[0].CancelID, data.CancelID)

		// A refund the PG refuses waits in the queue; an operator retries it.
		f.refuseCancel(order)
		_, err = f.p.Cancel(ctx, paygate.CancelRequest{PaymentID: res.PaymentID, Amount: pg.Won(2000), Reason: "one item", IdempotencyKey: "op-2"})
		require.ErrorIs(t, err, paygate.ErrPG)
		item := f.sagaAttention(res.PaymentID, saga.NeedsAttention)
		assert.GreaterOrEqual(t, item.Attempts, 1, "the refused step's attempts are shown")
		require.NoError(t, f.p.RetryAttention(ctx, paygate.AttentionSaga, item.ID, paygate.ByOperator("bob")))
		f.settled(res.PaymentID)

		// Another refused refund, resolved by hand with a note.
		f.refuseCancel(order)
		_, err = f.p.Cancel(ctx, paygate.CancelRequest{PaymentID: res.PaymentID, Amount: pg.Won(500), Reason: "gift wrap", IdempotencyKey: "op-3"})
		require.ErrorIs(t, err, paygate.ErrPG)
		item = f.sagaAttention(res.PaymentID, saga.NeedsAttention)
		f.eventually("the operator's resolve", func() bool {
			err := f.p.ResolveAttention(ctx, paygate.AttentionSaga, item.ID, "paid back by bank transfer", paygate.ByOperator("carol"))
			if err != nil {
				require.ErrorIs(t, err, paygate.ErrConflict, "only a runner holding it may delay the resolve")
				return false
			}
			return true
		})
		f.settled(res.PaymentID)

		actions = f.events(res.PaymentID, paygate.EventOperatorAction)
		require.Len(t, actions, 3, "refund, retry, resolve")
		var got []paygate.OperatorAction
		for _, a := range actions {
			var d paygate.OperatorAction
			require.NoError(t, json.Unmarshal(a.Data, &d))
			got = append(got, d)
			var v any
			raw, err := json.Marshal(a)
			require.NoError(t, err)
			require.NoError(t, json.Unmarshal(raw, &v))
			require.NoError(t, schema.VisitJSON(v), "%s", raw)
		}
		assert.Equal(t, []string{"alice", "bob", "carol"}, []string{got[0].Operator, got[1].Operator, got[2].Operator})
		assert.Equal(t, paygate.ActionRetry, got[1].Action)
		assert.Equal(t, paygate.AttentionSaga, got[1].Kind)
		assert.Equal(t, paygate.ActionResolve, got[2].Action)
		assert.Equal(t, item.ID, got[2].ID)
		assert.Equal(t, "paid back by bank transfer", actions[2].Reason)

		// Without an operator nothing is recorded; a bad operator changes nothing.
		_, err = f.p.Cancel(ctx, paygate.CancelRequest{PaymentID: res.PaymentID, Amount: pg.Won(100), Reason: "x", Operator: string(make([]byte, 200))})
		require.ErrorIs(t, err, paygate.ErrInvalid)
		_, err = f.p.Cancel(ctx, paygate.CancelRequest{PaymentID: res.PaymentID, Amount: pg.Won(100), Reason: "by the shop", IdempotencyKey: "op-4"})
		require.NoError(t, err)
		f.settled(res.PaymentID)
		assert.Len(t, f.events(res.PaymentID, paygate.EventOperatorAction), 3)
		f.checkInvariants(order)
	})
}
