package paygate_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/paygate/paygate"
	"github.com/paygate/paygate/pg"
	"github.com/paygate/paygate/pg/pgtest"
	"github.com/paygate/paygate/saga"
	"github.com/paygate/paygate/store"
)

// An approval that names another order's payment (its PG key, tid) is
// refused: it never answers with that payment, writes nothing, and leaves
// the order payable.
func TestApprove_AnotherOrdersPaymentKey_RefusedAndOrderStaysPayable(t *testing.T) {
	eachPG(t, func(t *testing.T, f *flow) {
		ctx := context.Background()
		a, err := f.p.Approve(ctx, f.checkout("ord-key-a", 15000, pgtest.FaultNone))
		require.NoError(t, err)
		require.Equal(t, pg.StatusApproved, a.Status)
		f.settled(a.PaymentID)
		aKey := f.payment(a.PaymentID).PaymentKey
		require.NotEmpty(t, aKey, "the PG's key of A is recorded")

		b := f.checkout("ord-key-b", 9000, pgtest.FaultNone)
		forged := b
		forged.PaymentKey = aKey
		_, err = f.p.Approve(ctx, forged)
		require.ErrorIs(t, err, paygate.ErrPaymentKeyMismatch)
		require.ErrorIs(t, err, paygate.ErrConflict)

		ps, err := f.db.PaymentsByOrder(ctx, "ord-key-b")
		require.NoError(t, err)
		assert.Empty(t, ps, "nothing was written for B")
		entry, _ := f.ledgerEntry("ord-key-b")
		assert.Zero(t, entry.Approvals, "the PG was not asked")

		paid, err := f.p.Approve(ctx, b)
		require.NoError(t, err)
		assert.Equal(t, pg.StatusApproved, paid.Status, "B is still payable")
		assert.NotEqual(t, a.PaymentID, paid.PaymentID)
		f.settled(paid.PaymentID)
		f.checkInvariants("ord-key-a")
		f.checkInvariants("ord-key-b")
		assert.Equal(t, pg.StatusApproved, f.payment(a.PaymentID).Status, "A is untouched")
	})
}

// A cancel asked for while the order step is in flight is refused as in
// progress: a refund then could be followed by the order's creation for a
// refunded payment. Once the order exists the cancel goes through and rolls
// it back.
func TestCancel_WhileOrderBeingCreated_RefusedUntilTheOrderStepFinished(t *testing.T) {
	eachPG(t, func(t *testing.T, f *flow) {
		ctx := context.Background()
		release := f.shop.hold("ord-cancel-race")
		res, err := f.p.Approve(ctx, f.checkout("ord-cancel-race", 12000, pgtest.FaultNone))
		require.NoError(t, err)
		require.Equal(t, pg.StatusApproved, res.Status)

		_, err = f.p.Cancel(ctx, paygate.CancelRequest{PaymentID: res.PaymentID, Reason: "buyer changed mind", IdempotencyKey: "race-1"})
		require.ErrorIs(t, err, paygate.ErrInProgress)
		cs, err := f.db.CancelsByPayment(ctx, res.PaymentID)
		require.NoError(t, err)
		assert.Empty(t, cs, "a refused cancel records nothing")
		entry, _ := f.ledgerEntry("ord-cancel-race")
		assert.Zero(t, entry.Cancels, "nothing was refunded at the PG")

		release()
		f.settled(res.PaymentID)
		paidBy, _, _ := f.shop.state("ord-cancel-race")
		require.Equal(t, res.PaymentID, paidBy, "the order was created")

		v, err := f.p.Cancel(ctx, paygate.CancelRequest{PaymentID: res.PaymentID, Reason: "buyer changed mind", IdempotencyKey: "race-2"})
		require.NoError(t, err)
		assert.Equal(t, pg.StatusCanceled, v.Status)
		f.settled(res.PaymentID)
		f.eventually("the order to be rolled back", func() bool {
			paidBy, _, rollbacks := f.shop.state("ord-cancel-race")
			return paidBy == "" && rollbacks >= 1
		})
		f.checkInvariants("ord-cancel-race")
	})
}

// prepare prepares an order the way the flow harness does, with a name.
func (f *flow) prepare(orderID, name string, amount int64) (*paygate.Checkout, error) {
	return f.p.Prepare(context.Background(), paygate.PrepareRequest{OrderID: orderID, OrderName: name, Amount: pg.Won(amount), PG: f.pg.name,
		SuccessURL: "https://shop.example/pay/success", CancelURL: "https://shop.example/pay/cancel", FailURL: "https://shop.example/pay/fail"})
}

// A checkout for an order whose attempt is open answers that attempt again
// when the request matches, and is refused without changing anything when it
// does not: a third party's re-checkout cannot replace the session the buyer
// is paying in. A new attempt starts once the previous one ended.
func TestPrepare_OpenAttempt_AnsweredAgainOrRefused(t *testing.T) {
	eachPG(t, func(t *testing.T, f *flow) {
		ctx := context.Background()
		first, err := f.prepare("ord-open", "two shirts", 23000)
		require.NoError(t, err)
		again, err := f.prepare("ord-open", "two shirts", 23000)
		require.NoError(t, err)
		assert.Equal(t, first.Client, again.Client, "the same attempt's parameters")

		_, err = f.prepare("ord-open", "cheap socks", 23000)
		require.ErrorIs(t, err, paygate.ErrConflict)
		_, err = f.prepare("ord-open", "two shirts", 2300)
		require.ErrorIs(t, err, paygate.ErrConflict)
		stored, err := f.db.CheckoutByOrder(ctx, "ord-open")
		require.NoError(t, err)
		assert.Equal(t, "two shirts", stored.OrderName, "a refused checkout changes nothing")
		still, err := f.prepare("ord-open", "two shirts", 23000)
		require.NoError(t, err)
		assert.Equal(t, first.Client, still.Client)

		// The buyer pays in the window of the first checkout.
		paid, err := f.pg.sandbox.Pay(ctx, pgtest.PayRequest{OrderID: "ord-open", Amount: pg.Won(23000)})
		require.NoError(t, err)
		res, err := f.p.Approve(ctx, paygate.ApproveRequest{PG: f.pg.name, OrderID: "ord-open", Amount: pg.Won(23000), PaymentKey: paid.PaymentKey, Redirect: paid.Redirect})
		require.NoError(t, err)
		assert.Equal(t, pg.StatusApproved, res.Status)
		f.settled(res.PaymentID)
		f.checkInvariants("ord-open")
	})
}

func TestPrepare_AfterDecline_NewAttemptMayChangeDetails(t *testing.T) {
	eachPG(t, func(t *testing.T, f *flow) {
		ctx := context.Background()
		res, err := f.p.Approve(ctx, f.checkout("ord-retry", 9000, pgtest.FaultDecline))
		require.NoError(t, err)
		require.Equal(t, pg.StatusFailed, res.Status)

		_, err = f.prepare("ord-retry", "another name", 9000)
		require.NoError(t, err, "the declined attempt ended: a new one starts")
		_, err = f.prepare("ord-retry", "yet another name", 9000)
		require.ErrorIs(t, err, paygate.ErrConflict, "and that one is open now")
		paid, err := f.pg.sandbox.Pay(ctx, pgtest.PayRequest{OrderID: "ord-retry", Amount: pg.Won(9000)})
		require.NoError(t, err)
		again, err := f.p.Approve(ctx, paygate.ApproveRequest{PG: f.pg.name, OrderID: "ord-retry", Amount: pg.Won(9000), PaymentKey: paid.PaymentKey, Redirect: paid.Redirect})
		require.NoError(t, err)
		assert.Equal(t, pg.StatusApproved, again.Status)
		f.settled(again.PaymentID)
		f.checkInvariants("ord-retry")
	})
}

// inventKeys turns an approval into one with made-up PG keys.
func inventKeys(req paygate.ApproveRequest, n int) paygate.ApproveRequest {
	out := req
	out.Redirect = map[string]string{}
	for k, v := range req.Redirect {
		out.Redirect[k] = v
	}
	made := fmt.Sprintf("invented-%d", n)
	if out.PaymentKey != "" {
		out.PaymentKey = made
	}
	for _, k := range []string{"pg_token", "authToken"} {
		if _, ok := out.Redirect[k]; ok {
			out.Redirect[k] = made
		}
	}
	return out
}

// Approvals with made-up keys are declined; past the attempt limit the
// order refuses new attempts for a while instead of storing a failed
// payment, an event and a saga each time.
func TestApprove_InventedKeys_BoundedAttempts(t *testing.T) {
	eachPGTweaked(t, func(c *paygate.Config) { c.AttemptLimit = 3 }, func(t *testing.T, f *flow) {
		ctx := context.Background()
		req := f.checkout("ord-invent", 5000, pgtest.FaultNone)
		for i := range 3 {
			res, err := f.p.Approve(ctx, inventKeys(req, i))
			require.NoError(t, err)
			require.Equal(t, pg.StatusFailed, res.Status, "attempt %d", i)
		}
		_, err := f.p.Approve(ctx, inventKeys(req, 3))
		require.ErrorIs(t, err, paygate.ErrTooManyAttempts)
		var later *paygate.RetryLaterError
		require.ErrorAs(t, err, &later)
		assert.Positive(t, later.After)
		assert.LessOrEqual(t, later.After, time.Hour)

		ps, err := f.db.PaymentsByOrder(ctx, "ord-invent")
		require.NoError(t, err)
		assert.Len(t, ps, 3, "the refused attempt stored nothing")
		entry, _ := f.ledgerEntry("ord-invent")
		assert.Zero(t, entry.Approvals)
	})
}

// The PG session an approval was attempted with stays the payment's: a
// checkout renewed meanwhile (a racing re-checkout that replaced KakaoPay's
// tid) does not make the resolver look up the new session and write a
// captured payment off.
func TestApprove_UnknownOutcome_ResolvedWithTheSessionItWasAttemptedWith(t *testing.T) {
	slow := func(c *paygate.Config) {
		c.ResolveRetry = saga.Policy{InitialBackoff: time.Hour, MaxBackoff: time.Hour}
	}
	eachPGTweaked(t, slow, func(t *testing.T, f *flow) {
		ctx := context.Background()
		res, err := f.p.Approve(ctx, f.checkout("ord-bound", 14000, pgtest.FaultTimeout))
		require.NoError(t, err)
		require.Equal(t, pg.StatusUnknown, res.Status)

		// What a re-checkout that won a race would leave: the order's
		// checkout now names another PG session.
		require.NoError(t, f.db.InTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
			c, err := f.db.LockCheckout(ctx, tx, "ord-bound")
			if err != nil {
				return err
			}
			var pd map[string]any
			if len(c.PrepareData) > 0 {
				if err := json.Unmarshal(c.PrepareData, &pd); err != nil {
					return err
				}
			}
			if data, ok := pd["data"].(map[string]any); ok {
				for k := range data {
					data[k] = "replaced-" + k
				}
			}
			if c.PrepareData, err = json.Marshal(pd); err != nil {
				return err
			}
			return f.db.UpdateCheckout(ctx, tx, c)
		}))
		require.NoError(t, f.db.InTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
			return f.p.Runner().Wake(ctx, tx, "payment", res.PaymentID)
		}))
		f.settled(res.PaymentID)
		assert.Equal(t, pg.StatusApproved, f.payment(res.PaymentID).Status)
		f.checkInvariants("ord-bound")
	})
}

// A checkout the PG would refuse is refused before anything is written,
// by the PG's own rules (order id alphabet and length, field lengths).
func TestPrepare_RefusedByThePGsRules_NothingWritten(t *testing.T) {
	refused := map[string][]paygate.PrepareRequest{
		"tosspay": {
			{OrderID: "주문-123456", OrderName: "x"},
			{OrderID: "order-🙂-1", OrderName: "x"},
			{OrderID: "../../etc", OrderName: "x"},
			{OrderID: "order 12345", OrderName: "x"},
			{OrderID: "order\u0085123", OrderName: "x"},
			{OrderID: "order\u009b123", OrderName: "x"},
			{OrderID: "abc", OrderName: "x"},
		},
		"inicis": {
			{OrderID: "inicis bad id 1", OrderName: "x"},
			{OrderID: "order-" + strings.Repeat("9", 60), OrderName: "x"},
		},
		"kakaopay": {
			{OrderID: "kakao-long-customer", OrderName: "x", CustomerID: strings.Repeat("u", 101)},
			{OrderID: "kakao-long-name", OrderName: strings.Repeat("가", 101)},
		},
	}
	eachPG(t, func(t *testing.T, f *flow) {
		ctx := context.Background()
		for _, req := range refused[f.pg.name] {
			req.PG, req.Amount = f.pg.name, pg.Won(1000)
			req.SuccessURL, req.CancelURL, req.FailURL = "https://shop.example/s", "https://shop.example/c", "https://shop.example/f"
			require.ErrorIs(t, f.p.CheckPrepare(req), paygate.ErrInvalid, "CheckPrepare %q", req.OrderID)
			_, err := f.p.Prepare(ctx, req)
			require.ErrorIs(t, err, paygate.ErrInvalid, "Prepare %q", req.OrderID)
			_, err = f.db.CheckoutByOrder(ctx, req.OrderID)
			require.ErrorIs(t, err, store.ErrNotFound, "nothing written for %q", req.OrderID)
		}
	})
}
