package kakaopay_test

import (
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/paygate/paygate/kakaopay"
	"github.com/paygate/paygate/kakaopay/kakaopaytest"
	"github.com/paygate/paygate/pg"
	"github.com/paygate/paygate/pg/pgtest"
)

func TestApprove_Faults_ResolvedByLookup(t *testing.T) {
	t.Parallel()
	tests := []struct {
		fault      pgtest.Fault
		kind       pg.Kind
		afterwards pg.Status // Lookup after the failed approval
		approvals  int
	}{
		{pgtest.FaultDecline, pg.KindDeclined, pg.StatusFailed, 0},
		{pgtest.FaultTimeout, pg.KindUnknown, pg.StatusApproved, 1},
		{pgtest.FaultTimeoutUnapproved, pg.KindUnknown, pg.StatusPending, 0},
		{pgtest.FaultError500, pg.KindUnknown, pg.StatusPending, 0},
	}
	for _, tt := range tests {
		t.Run(string(tt.fault), func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, false, kakaopaytest.Options{})
			prep := h.prepare("order", 9900)
			redirect := h.pay("order", 9900, tt.fault)
			_, err := h.approve("order", 9900, prep, redirect)
			requireKind(t, err, tt.kind)

			got := h.lookup("order", prep)
			assert.Equal(t, tt.afterwards, got.Status)
			assert.Equal(t, tt.approvals, h.sb.Ledger()[0].Approvals, "never resent blindly")

			if tt.afterwards == pg.StatusApproved {
				// Approving again after the lost answer is refused, not applied.
				_, err = h.approve("order", 9900, prep, redirect)
				requireKind(t, err, pg.KindAlreadyDone)
				assert.Equal(t, 1, h.sb.Ledger()[0].Approvals)
			}
		})
	}
}

func TestApprove_Refusals(t *testing.T) {
	t.Parallel()
	h := newHarness(t, false, kakaopaytest.Options{})
	prep := h.prepare("order", 5000)
	redirect := h.pay("order", 5000, pgtest.FaultNone)

	_, err := h.approve("order", 4000, prep, redirect)
	pe := requireKind(t, err, pg.KindDeclined)
	assert.Equal(t, "-722", pe.Code, "KakaoPay refuses another amount than the one readied")

	_, err = h.approve("order", 5000, prep, map[string]string{"pg_token": "forged"})
	pe = requireKind(t, err, pg.KindInvalid)
	assert.Equal(t, "-708", pe.Code)
	assert.Equal(t, 400, pe.HTTPStatus)

	other := map[string]string{}
	for k, v := range prep.Data {
		other[k] = v
	}
	other[kakaopay.DataTID] = "T0000000000000000000"
	_, err = h.gw.Approve(h.ctx, pg.ApproveRequest{OrderID: "order", Amount: pg.Won(5000), Redirect: redirect, Prepared: other})
	pe = requireKind(t, err, pg.KindNotFound)
	assert.Equal(t, "-721", pe.Code)

	assert.Zero(t, h.sb.Ledger()[0].Approvals)
	_, err = h.approve("order", 5000, prep, redirect)
	require.NoError(t, err, "refusals changed nothing")
}

func TestApprove_ExpiredTID_Declined(t *testing.T) {
	t.Parallel()
	clk := &clock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	h := newHarness(t, false, kakaopaytest.Options{Now: clk.Now})
	prep := h.prepare("order", 5000)
	redirect := h.pay("order", 5000, pgtest.FaultNone)
	clk.Advance(kakaopaytest.DefaultTIDTTL + time.Second)

	_, err := h.approve("order", 5000, prep, redirect)
	pe := requireKind(t, err, pg.KindDeclined)
	assert.Equal(t, "-723", pe.Code)
	assert.Equal(t, pg.StatusFailed, h.lookup("order", prep).Status)
}

// clock is a test clock that moves only when told.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// Approving order B with the tid of order A (already approved) is refused
// as KakaoPay refuses it, before the tid's status is looked at: never -702
// "already approved", which would read as B's approval.
func TestApprove_TIDOfAnotherOrder_RefusedNotAlreadyApproved(t *testing.T) {
	t.Parallel()
	for _, legacy := range []bool{false, true} {
		h := newHarness(t, legacy, kakaopaytest.Options{})
		prepA := h.prepare("order-a", 3000)
		redirectA := h.pay("order-a", 3000, pgtest.FaultNone)
		paid, err := h.approve("order-a", 3000, prepA, redirectA)
		require.NoError(t, err)
		assert.Equal(t, "order-a", paid.OrderID)

		// Order B's stored data names A's tid (a mix-up in the host's
		// records): the adapter sends it, KakaoPay refuses it.
		forB := map[string]string{
			kakaopay.DataTID: prepA.Data[kakaopay.DataTID], kakaopay.DataCID: kakaopaytest.TestCID,
			kakaopay.DataPartnerOrderID: "order-b", kakaopay.DataPartnerUserID: "user-7",
		}
		_, err = h.gw.Approve(h.ctx, pg.ApproveRequest{PaymentID: "pay_b", OrderID: "order-b", Amount: pg.Won(3000), Redirect: redirectA, Prepared: forB})
		pe := requireKind(t, err, pg.KindInvalid)
		assert.Equal(t, "-706", pe.Code, "legacy %v", legacy)

		forB[kakaopay.DataPartnerOrderID], forB[kakaopay.DataPartnerUserID] = "order-a", "someone-else"
		_, err = h.gw.Approve(h.ctx, pg.ApproveRequest{PaymentID: "pay_b", OrderID: "order-a", Amount: pg.Won(3000), Redirect: redirectA, Prepared: forB})
		pe = requireKind(t, err, pg.KindInvalid)
		assert.Equal(t, "-707", pe.Code)

		_, err = h.gw.Lookup(h.ctx, pg.LookupRequest{OrderID: "order-b", Prepared: map[string]string{kakaopay.DataTID: prepA.Data[kakaopay.DataTID]}})
		pe = requireKind(t, err, pg.KindInvalid)
		assert.Equal(t, "ORDER_MISMATCH", pe.Code, "a lookup for B by A's tid is not B's payment")

		ledger := h.sb.Ledger()
		require.Len(t, ledger, 1)
		assert.Equal(t, 1, ledger[0].Approvals, "approved once, for A")
	}
}
