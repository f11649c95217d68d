package kakaopay_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/paygate/paygate/kakaopay/kakaopaytest"
	"github.com/paygate/paygate/pg"
	"github.com/paygate/paygate/pg/pgtest"
)

func TestCancel_RetryAfterUnknownOutcome_AppliedOnce(t *testing.T) {
	t.Parallel()
	h := newHarness(t, false, kakaopaytest.Options{})
	prep := h.prepare("order", 10000)
	_, err := h.approve("order", 10000, prep, h.pay("order", 10000, pgtest.FaultNone))
	require.NoError(t, err)

	require.NoError(t, h.sb.ScriptCancel("order", pgtest.FaultTimeout))
	req := pg.CancelRequest{CancelID: "cxl_9", OrderID: "order", Amount: pg.Won(2500), Balance: pg.Won(10000), Prepared: prep.Data}
	_, err = h.gw.Cancel(h.ctx, req)
	requireKind(t, err, pg.KindUnknown)

	// The same cancel sent again carries the same guard: refused, not applied.
	_, err = h.gw.Cancel(h.ctx, req)
	pe := requireKind(t, err, pg.KindAlreadyDone)
	assert.Equal(t, "-710", pe.Code)

	// Without a guard, asking for more than is left is plainly wrong.
	_, err = h.gw.Cancel(h.ctx, pg.CancelRequest{CancelID: "cxl_10", OrderID: "order", Amount: pg.Won(7501), Prepared: prep.Data})
	pe = requireKind(t, err, pg.KindInvalid)
	assert.Equal(t, "-710", pe.Code)

	got := h.lookup("order", prep)
	assert.Equal(t, pg.StatusPartialCanceled, got.Status)
	assert.True(t, pg.Won(7500).Equal(got.Balance))
	require.Len(t, got.Cancels, 1)
	assert.Equal(t, "cxl_9", got.Cancels[0].Reason, "the lookup shows which cancel was applied")
	assert.Equal(t, 1, h.sb.Ledger()[0].Cancels)
}

func TestCancel_Faults(t *testing.T) {
	t.Parallel()
	tests := []struct {
		fault pgtest.Fault
		kind  pg.Kind
	}{
		{pgtest.FaultTimeoutUnapproved, pg.KindUnknown},
		{pgtest.FaultError500, pg.KindUnknown},
		{pgtest.FaultDecline, pg.KindDeclined},
	}
	for _, tt := range tests {
		t.Run(string(tt.fault), func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, false, kakaopaytest.Options{})
			prep := h.prepare("order", 3000)
			_, err := h.approve("order", 3000, prep, h.pay("order", 3000, pgtest.FaultNone))
			require.NoError(t, err)
			require.NoError(t, h.sb.ScriptCancel("order", tt.fault))
			_, err = h.gw.Cancel(h.ctx, pg.CancelRequest{CancelID: "c", OrderID: "order", Amount: pg.Won(3000), Balance: pg.Won(3000), Prepared: prep.Data})
			requireKind(t, err, tt.kind)
			assert.Zero(t, h.sb.Ledger()[0].Cancels)
		})
	}
}

func TestCancel_FullWithoutBalance_LooksUpAndGuards(t *testing.T) {
	t.Parallel()
	gw, mt := mockGateway(t, false, nil)
	orders := respond(mt, currentAPI+"order", http.StatusOK, fixture(t, "order_part_cancel.json"))
	cancels := respond(mt, currentAPI+"cancel", http.StatusOK, fixture(t, "cancel_full.json"))
	p, err := gw.Cancel(context.Background(), pg.CancelRequest{CancelID: "cxl_2", OrderID: "order-1", Prepared: prepared})
	require.NoError(t, err)
	assert.Equal(t, pg.StatusCanceled, p.Status)
	require.Len(t, *orders, 1)
	require.Len(t, *cancels, 1)
	golden(t, "cancel_full_after_lookup.json", (*cancels)[0].body)
}
