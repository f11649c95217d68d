package e2e_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/paygate/paygate"
	"github.com/paygate/paygate/examples/server/app"
	"github.com/paygate/paygate/pg"
	"github.com/paygate/paygate/pg/pgtest"
	"github.com/paygate/paygate/saga"
	"github.com/paygate/paygate/settlement"
	"github.com/paygate/paygate/store"
	"github.com/paygate/paygate/store/settlementstore"
)

// pgSide sums what a PG's ledger records of one order (an order may have
// had several attempts: a declined one, then an approved one).
type pgSide struct {
	Attempts  int
	Approvals int
	Cancels   int
	Approved  int64 // captured, in won
	Canceled  int64
}

func (p pgSide) net() int64 { return p.Approved - p.Canceled }

func pgSideOf(entries []pgtest.LedgerEntry, orderID string) pgSide {
	var out pgSide
	for _, e := range entries {
		if e.OrderID != orderID {
			continue
		}
		out.Attempts++
		out.Approvals += e.Approvals
		out.Cancels += e.Cancels
		if e.Approved.IsSet() {
			out.Approved += e.Approved.Int64()
		}
		if e.Canceled.IsSet() {
			out.Canceled += e.Canceled.Int64()
		}
	}
	return out
}

// outcome is where an order ended, on every side.
type outcome struct {
	PG    pgSide
	Order app.Order
	// Kept is the payment that captured the order's money, nil when none
	// did.
	Kept     *store.Payment
	Payments []*store.Payment
	// LedgerNet is the settlement ledger's sales minus refunds of the
	// order's payments, in won.
	LedgerNet int64
	// Attention is what the operators' queue shows for the kept payment.
	Attention []paygate.Attention
}

// checkOrder waits for every payment of the order to settle and checks the
// invariants of DESIGN section 2 across the sandbox PG's own ledger, the
// payments and their event timelines (GET /payments/{id}), the settlement
// ledger and the example order (GET /orders/{id}):
//
//  1. the PG captured at most once, and at most one payment is captured;
//  2. a captured payment has its order created and its sale recorded with
//     the same amount, or is refunded in full with the order canceled —
//     unless it sits in the operators' queue with a reason (needsAttention);
//  3. the ledger's sales minus refunds equal the PG's approvals minus
//     cancels, to the won;
//  4. one PAYMENT_APPROVED, at most one ORDER_CREATED and one
//     SETTLEMENT_RECORDED per ledger entry per payment;
//  5. nothing is left in flight, and anything in the queue says why;
//  6. refunds never exceed the capture, at the PG and here;
//  7. the PG captured exactly the amount the order was prepared for.
func (s *server) checkOrder(t *testing.T, b buyer, needsAttention bool) outcome {
	t.Helper()
	ctx := context.Background()
	db := s.app.DB()
	var out outcome
	var err error
	out.Payments, err = db.PaymentsByOrder(ctx, b.OrderID)
	require.NoError(t, err)
	for _, p := range out.Payments {
		s.settled(t, p.ID)
	}
	out.PG = pgSideOf(s.app.Sandbox(b.PG).Ledger(), b.OrderID)
	// Re-read after settling.
	out.Payments, err = db.PaymentsByOrder(ctx, b.OrderID)
	require.NoError(t, err)

	// 1 and 6 at the PG, 7.
	require.LessOrEqual(t, out.PG.Approvals, 1, "invariant 1: the PG captured the order at most once")
	require.LessOrEqual(t, out.PG.Canceled, out.PG.Approved, "invariant 6: the PG refunded no more than it captured")
	if out.PG.Approvals > 0 {
		require.Equal(t, b.Amount, out.PG.Approved, "invariant 7: the PG captured the prepared amount")
	}

	captured := 0
	for _, p := range out.Payments {
		view := s.payment(t, p.ID)
		assert.Equal(t, string(p.Status), view.Status, "the API shows the stored status")
		assert.Equal(t, b.PG, view.PG)
		assert.Equal(t, b.OrderID, view.OrderID)
		assert.Equal(t, "KRW", view.Currency)
		requireWon(t, b.Amount, view.Amount, "amount")

		records, err := settlement.NewLedger(settlementstore.New(db)).ByPayment(ctx, p.ID)
		require.NoError(t, err)
		sales := 0
		for _, r := range records {
			out.LedgerNet += r.Gross.Int64() * r.Sign()
			if r.Type == settlement.EntrySale {
				sales++
			}
		}
		if p.ApprovedAmount.IsSet() && p.ApprovedAmount.IsPositive() {
			require.Nil(t, out.Kept, "invariant 1: one payment captured the order")
			out.Kept = p
			assert.Equal(t, 1, view.count(paygate.EventPaymentApproved), "invariant 4: approved once")
			assert.Equal(t, 1, sales, "invariant 4: one SALE per captured payment")
			assert.LessOrEqual(t, view.count(paygate.EventOrderCreated), 1, "invariant 4: the order created once")
			assert.NotNil(t, view.ApprovedAt, "an approved payment says when")
			canceled := orZero(p.CanceledAmount).Int64()
			require.LessOrEqual(t, canceled, p.ApprovedAmount.Int64(), "invariant 6: refunds within the capture")
			requireWon(t, p.ApprovedAmount.Int64()-canceled, view.BalanceAmount, "balanceAmount")
			requireWon(t, canceled, view.CanceledAmount, "canceledAmount")
		} else {
			assert.Zero(t, sales, "no sale without a capture")
			assert.Zero(t, view.count(paygate.EventPaymentApproved))
			assert.Zero(t, view.count(paygate.EventOrderCreated), "no order without a capture")
		}
		assert.Equal(t, len(records), view.count(paygate.EventSettlementRecorded), "invariant 4: one SETTLEMENT_RECORDED per ledger entry")
		if p.Status.Captured() {
			captured++
		}
		switch p.Status {
		case pg.StatusApproving, pg.StatusUnknown:
			t.Fatalf("invariant 5: payment %s is still %s", p.ID, p.Status)
		}
	}
	require.LessOrEqual(t, captured, 1, "invariant 1: at most one captured payment per order")
	require.Equal(t, out.PG.net(), out.LedgerNet, "invariant 3: ledger = PG for the order")

	if out.Kept != nil {
		out.Attention = s.attention(t, out.Kept.ID)
	}
	for _, a := range out.Attention {
		require.Equal(t, string(saga.NeedsAttention), a.State, "invariant 5: only an operator's case is left: %+v", a)
		require.NotEmpty(t, a.Reason, "invariant 5: the queue says why")
	}
	if needsAttention {
		require.NotEmpty(t, out.Attention, "invariant 5: the stuck payment is in the operators' queue")
	} else {
		require.Empty(t, out.Attention, "nothing needs an operator")
	}

	switch {
	case out.PG.Approvals == 0:
		require.Nil(t, out.Kept, "invariant 2: nothing recorded as captured that the PG did not capture")
		eventually(t, "order "+b.OrderID+" to stay unpaid", func() bool {
			out.Order = s.order(t, b.OrderID)
			return out.Order.Status == app.OrderPendingPayment
		})
		assert.Empty(t, out.Order.PaymentID)
	default:
		require.NotNil(t, out.Kept, "invariant 2: the PG's capture is recorded")
		require.Equal(t, out.PG.Approved, out.Kept.ApprovedAmount.Int64(), "invariant 2: the same amount on both sides")
		require.Equal(t, out.PG.Canceled, orZero(out.Kept.CanceledAmount).Int64(), "invariant 3: the same refunds on both sides")
		switch {
		case needsAttention:
			out.Order = s.order(t, b.OrderID)
		case out.PG.net() > 0:
			eventually(t, "order "+b.OrderID+" to be paid and shipping", func() bool {
				out.Order = s.order(t, b.OrderID)
				return out.Order.Status == app.OrderPreparingShipment
			})
			require.Equal(t, out.Kept.ID, out.Order.PaymentID, "invariant 2: the order is paid by the captured payment")
		default:
			require.Equal(t, pg.StatusCanceled, out.Kept.Status, "invariant 2: refunded in full")
			eventually(t, "order "+b.OrderID+" to be canceled", func() bool {
				out.Order = s.order(t, b.OrderID)
				return out.Order.Status == app.OrderCanceled
			})
		}
	}
	return out
}

// checkLedgers compares, per PG and per day, the settlement ledger's sales
// minus refunds with the sandbox PG's approvals minus cancels (invariant 3
// for the whole server), after everything settled.
func (s *server) checkLedgers(t *testing.T) {
	t.Helper()
	now := time.Now()
	totals, err := settlement.NewLedger(settlementstore.New(s.app.DB())).Daily(context.Background(), now.AddDate(0, 0, -1), now.AddDate(0, 0, 1))
	require.NoError(t, err)
	ours := map[string]int64{}
	for _, d := range totals {
		ours[d.PG] += d.Sales - d.Refunds
	}
	for _, name := range s.sandboxPGs() {
		var theirs int64
		for _, e := range s.app.Sandbox(name).Ledger() {
			if e.Approved.IsSet() {
				theirs += e.Approved.Int64()
			}
			if e.Canceled.IsSet() {
				theirs -= e.Canceled.Int64()
			}
		}
		assert.Equal(t, theirs, ours[name], "invariant 3: %s's ledger = the PG's books", name)
	}
}

func orZero(m pg.Money) pg.Money {
	if m.IsSet() {
		return m
	}
	return pg.Won(0)
}

// requireWon checks a JSON amount is exactly want won.
func requireWon(t *testing.T, want int64, got interface{ String() string }, what string) {
	t.Helper()
	m, err := pg.ParseMoney(got.String(), pg.KRW)
	require.NoError(t, err, "%s %q is an exact won amount", what, got.String())
	require.Equal(t, want, m.Int64(), "%s", what)
}

// expectStatus asserts the HTTP status of an answer.
func expectStatus(t *testing.T, want int, resp response, what string) {
	t.Helper()
	require.Equal(t, want, resp.Status, "%s: %s (%s)", what, resp, http.StatusText(want))
}
