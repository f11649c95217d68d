package tosspay_test

import (
	"bytes"
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/jarcoal/httpmock"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/paygate/paygate/pg"
)

func TestLookup_Wire_ByKeyAndByOrder(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, url string
		req       pg.LookupRequest
	}{
		{"by paymentKey", api + "/v1/payments/" + paymentKey, pg.LookupRequest{PaymentKey: paymentKey, OrderID: orderID}},
		{"by orderId", api + "/v1/payments/orders/" + orderID, pg.LookupRequest{OrderID: orderID}},
		{"key escaped into the path", api + "/v1/payments/a%2Fb%3Fc", pg.LookupRequest{PaymentKey: "a/b?c"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			gw, mt := mockGateway(t)
			rec := &recorder{}
			// Toss answers with the payment asked about.
			body := golden(t, "payment_done.json")
			if tt.req.PaymentKey != "" {
				body = bytes.ReplaceAll(body, []byte(paymentKey), []byte(tt.req.PaymentKey))
			}
			mt.RegisterNoResponder(rec.responder(200, body))
			_, err := gw.Lookup(context.Background(), tt.req)
			require.NoError(t, err)
			r := rec.only(t)
			assert.Equal(t, http.MethodGet, r.Method)
			assert.Equal(t, tt.url, r.URL)
			assert.Equal(t, docsAuth, r.Header.Get("Authorization"))
			assert.Empty(t, r.Header.Get("Idempotency-Key"), "GET carries no key")
			assert.Empty(t, r.Header.Get("Content-Type"))
			assert.Empty(t, r.Body)
		})
	}
}

func TestLookup_AnswerMustBeThePaymentAskedAbout(t *testing.T) {
	t.Parallel()
	t.Run("order id filled from Toss's answer", func(t *testing.T) {
		t.Parallel()
		gw, mt := mockGateway(t)
		mt.RegisterNoResponder(httpmock.NewBytesResponder(200, golden(t, "payment_done.json")))
		p, err := gw.Lookup(context.Background(), pg.LookupRequest{PaymentKey: paymentKey})
		require.NoError(t, err)
		assert.Equal(t, orderID, p.OrderID, "asked by key alone, the order is Toss's")
	})
	for name, req := range map[string]pg.LookupRequest{
		"key of another order":      {PaymentKey: paymentKey, OrderID: "order-of-someone-else"},
		"order answered by another": {OrderID: "order-of-someone-else"},
		"another key answered":      {PaymentKey: "another-payment-key"},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			gw, mt := mockGateway(t)
			mt.RegisterNoResponder(httpmock.NewBytesResponder(200, golden(t, "payment_done.json")))
			_, err := gw.Lookup(context.Background(), req)
			var pe *pg.Error
			require.ErrorAs(t, err, &pe)
			assert.Equal(t, pg.KindInvalid, pe.Kind)
			assert.Equal(t, "ORDER_MISMATCH", pe.Code)
		})
	}
}

// The looser rule for ids Toss made itself: what a checkout may not use, a
// lookup of a payment made elsewhere may.
func TestLookup_ShortOrderIDMadeOutsideCheckout(t *testing.T) {
	t.Parallel()
	gw, mt := mockGateway(t)
	rec := &recorder{}
	mt.RegisterResponder(http.MethodGet, api+"/v1/payments/orders/71", rec.responder(200, golden(t, "payment_virtual_account_short_order.json")))
	p, err := gw.Lookup(context.Background(), pg.LookupRequest{OrderID: "71"})
	require.NoError(t, err)
	assert.Equal(t, api+"/v1/payments/orders/71", rec.only(t).URL)
	assert.Equal(t, "71", p.OrderID)
	assert.Equal(t, "tviva20251130141719Qb7Xk", p.PaymentKey)
	assert.Equal(t, pg.StatusWaitingForDeposit, p.Status)
	assert.True(t, pg.Won(30000).Equal(p.Amount))
	require.NotNil(t, p.VirtualAccount)
	assert.Equal(t, "11", p.VirtualAccount.Bank)

	var pv pg.PrepareValidator = gw
	assert.Error(t, pv.ValidatePrepare(pg.PrepareRequest{OrderID: "71", OrderName: "x", Amount: pg.Won(1000)}),
		"a checkout still follows the 6-character rule")

	bad, mt2 := mockGateway(t)
	noCalls(t, mt2)
	for _, id := range []string{".", "..", "...", "a/b", "../71", strings.Repeat("7", 65), "주문", "7 1", "71\u0085"} {
		_, err := bad.Lookup(context.Background(), pg.LookupRequest{OrderID: id})
		assert.Equal(t, pg.KindInvalid, pg.KindOf(err), "%q: %v", id, err)
	}
}
