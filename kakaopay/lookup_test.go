package kakaopay_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/paygate/paygate/kakaopay/kakaopaytest"
	"github.com/paygate/paygate/pg"
	"github.com/paygate/paygate/pg/pgtest"
)

func TestLookup_UnknownTID_NotFound(t *testing.T) {
	t.Parallel()
	h := newHarness(t, false, kakaopaytest.Options{})
	_, err := h.gw.Lookup(h.ctx, pg.LookupRequest{PaymentKey: "T0000000000000000000"})
	pe := requireKind(t, err, pg.KindNotFound)
	assert.Equal(t, "-721", pe.Code)
}

// Live order lookups can list actions without amount; the sandbox answers
// that way with OmitActionAmounts, and the adapter's lookups still work.
func TestLookup_ActionsWithoutAmount_AgainstTheSandbox(t *testing.T) {
	t.Parallel()
	for _, legacy := range []bool{false, true} {
		h := newHarness(t, legacy, kakaopaytest.Options{OmitActionAmounts: true})
		prep := h.prepare("order-noamt", 5000)
		p, err := h.approve("order-noamt", 5000, prep, h.pay("order-noamt", 5000, pgtest.FaultNone))
		require.NoError(t, err)
		assert.Equal(t, pg.StatusApproved, h.lookup("order-noamt", prep).Status)

		_, err = h.gw.Cancel(h.ctx, pg.CancelRequest{CancelID: "cxl_1", PaymentKey: p.PaymentKey, OrderID: "order-noamt", Amount: pg.Won(1200), Balance: pg.Won(5000), Prepared: prep.Data})
		require.NoError(t, err)
		got := h.lookup("order-noamt", prep)
		assert.Equal(t, pg.StatusPartialCanceled, got.Status)
		assert.True(t, pg.Won(3800).Equal(got.Balance), "%s", got.Balance)
		require.Len(t, got.Cancels, 1)
		assert.True(t, pg.Won(1200).Equal(got.Cancels[0].Amount), "the one cancel's amount is the canceled total")
		assert.Equal(t, "cxl_1", got.Cancels[0].Reason)

		_, err = h.gw.Cancel(h.ctx, pg.CancelRequest{CancelID: "cxl_2", PaymentKey: p.PaymentKey, OrderID: "order-noamt", Amount: pg.Won(800), Balance: pg.Won(3800), Prepared: prep.Data})
		require.NoError(t, err)
		got = h.lookup("order-noamt", prep)
		assert.True(t, pg.Won(3000).Equal(got.Balance))
		assert.Empty(t, got.Cancels, "two cancels without amounts cannot be told apart: left out, the balance still right")
	}
}

func TestLookup_OlderAnswerWithoutBalance_DerivesIt(t *testing.T) {
	t.Parallel()
	gw, mt := mockGateway(t, false, nil)
	respond(mt, currentAPI+"order", http.StatusOK, []byte(`{"tid":"`+testTID+`","partner_order_id":"order-1","status":"PART_CANCEL_PAYMENT","amount":{"total":2200},"canceled_amount":{"total":700}}`))
	p, err := gw.Lookup(context.Background(), pg.LookupRequest{Prepared: prepared})
	require.NoError(t, err)
	assert.True(t, pg.Won(1500).Equal(p.Balance), "%s", p.Balance)
}

func TestLookup_TIDOfAnotherOrder_Refused(t *testing.T) {
	t.Parallel()
	gw, mt := mockGateway(t, false, nil)
	respond(mt, currentAPI+"order", http.StatusOK, fixture(t, "order_success.json"))
	_, err := gw.Lookup(context.Background(), pg.LookupRequest{PaymentKey: testTID, OrderID: "order-2"})
	pe := requireKind(t, err, pg.KindInvalid)
	assert.Equal(t, "ORDER_MISMATCH", pe.Code)
}

// Entries of payment_action_details may lack amount: none of them fails
// the lookup; a cancel whose amount cannot be known is left out of Cancels.
func TestLookup_ActionsWithoutAmount_NeverFailTheLookup(t *testing.T) {
	t.Parallel()
	action := func(aid, typ, amount string) string {
		a := `{"aid":"` + aid + `","approved_at":"2023-07-16T09:00:01","payment_action_type":"` + typ + `","payload":"` + aid + `"`
		if amount != "" {
			a += `,"amount":` + amount
		}
		return a + "}"
	}
	order := func(status, canceled, available string, actions ...string) []byte {
		return []byte(`{"tid":"` + testTID + `","partner_order_id":"order-1","status":"` + status + `","amount":{"total":2200},` +
			canceled + `"cancel_available_amount":{"total":` + available + `},"payment_action_details":[` + strings.Join(actions, ",") + `]}`)
	}
	tests := []struct {
		name    string
		body    []byte
		balance pg.Money
		cancels map[string]pg.Money
	}{
		{"approval without amount", order("SUCCESS_PAYMENT", ``, "2200", action("A1", "PAYMENT", "")), pg.Won(2200), map[string]pg.Money{}},
		{"the only cancel without amount, no canceled_amount: amount minus balance", order("PART_CANCEL_PAYMENT", ``, "1500",
			action("A1", "PAYMENT", "2200"), action("A2", "CANCEL", "")), pg.Won(1500), map[string]pg.Money{"A2": pg.Won(700)}},
		{"two cancels without amount: left out", order("PART_CANCEL_PAYMENT", `"canceled_amount":{"total":1000},`, "1200",
			action("A1", "PAYMENT", "2200"), action("A2", "CANCEL", ""), action("A3", "CANCEL", ""), action("A4", "CANCEL", "300")),
			pg.Won(1200), map[string]pg.Money{"A4": pg.Won(300)}},
		{"totals that do not add up: left out", order("PART_CANCEL_PAYMENT", `"canceled_amount":{"total":700},`, "1500",
			action("A2", "CANCEL", "900"), action("A3", "CANCEL", "")), pg.Won(1500), map[string]pg.Money{"A2": pg.Won(900)}},
		{"null amount", order("CANCEL_PAYMENT", `"canceled_amount":{"total":2200},`, "0",
			action("A1", "PAYMENT", "null"), action("A2", "CANCEL", "null")), pg.Won(0), map[string]pg.Money{"A2": pg.Won(2200)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			gw, mt := mockGateway(t, false, nil)
			respond(mt, currentAPI+"order", http.StatusOK, tt.body)
			p, err := gw.Lookup(context.Background(), pg.LookupRequest{Prepared: prepared})
			require.NoError(t, err)
			assert.True(t, tt.balance.Equal(p.Balance), "balance %s", p.Balance)
			got := map[string]pg.Money{}
			for _, c := range p.Cancels {
				require.True(t, c.Amount.IsSet(), "a listed cancel has an amount")
				got[c.TransactionKey] = c.Amount
			}
			require.Len(t, got, len(tt.cancels))
			for k, want := range tt.cancels {
				assert.True(t, want.Equal(got[k]), "%s: %s, want %s", k, got[k], want)
			}
		})
	}
}
