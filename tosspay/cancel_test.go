package tosspay_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/jarcoal/httpmock"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/paygate/paygate/pg"
)

func TestCancel_Wire_RequestsPinned(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, golden string
		req          pg.CancelRequest
	}{
		{"partial with balance guard", "request_cancel_partial.json", pg.CancelRequest{
			CancelID: "cnl_1", PaymentKey: paymentKey, Amount: pg.Won(300), Balance: pg.Won(1000), Reason: "고객 변심"}},
		{"full of the rest, guarded", "request_cancel_full.json", pg.CancelRequest{
			CancelID: "cnl_1", PaymentKey: paymentKey, Amount: pg.Won(700), Balance: pg.Won(700), Reason: "ORDER_FAILED"}},
		{"full, no amount known", "request_cancel_full_unguarded.json", pg.CancelRequest{
			CancelID: "cnl_1", PaymentKey: paymentKey, Reason: "ORDER_FAILED"}},
		{"deposited virtual account with tax-free part", "request_cancel_virtual_account.json", pg.CancelRequest{
			CancelID: "cnl_1", PaymentKey: paymentKey, Amount: pg.Won(5000), Balance: pg.Won(20000), TaxFree: pg.Won(1000),
			Reason: "단순 변심", Method: pg.MethodVirtualAccount,
			RefundAccount: &pg.RefundAccount{Bank: "88", AccountNumber: "12345678901234", HolderName: "박토스"}}},
		{"USD, fractional", "request_cancel_usd.json", pg.CancelRequest{
			CancelID: "cnl_1", PaymentKey: paymentKey, Amount: pg.MustMoney("2.50", pg.USD), Balance: pg.MustMoney("10.25", pg.USD), Reason: "refund"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			gw, mt := mockGateway(t)
			rec := &recorder{}
			mt.RegisterResponder(http.MethodPost, api+"/v1/payments/"+paymentKey+"/cancel", rec.responder(200, golden(t, "payment_partial_canceled.json")))
			_, err := gw.Cancel(context.Background(), tt.req)
			require.NoError(t, err)
			r := rec.only(t)
			assert.Equal(t, http.MethodPost, r.Method)
			assert.Equal(t, docsAuth, r.Header.Get("Authorization"))
			assert.Equal(t, "application/json", r.Header.Get("Content-Type"))
			assert.Equal(t, "paygate-cancel-cnl_1", r.Header.Get("Idempotency-Key"))
			assertBody(t, tt.golden, r.Body)
		})
	}
}

func TestCancel_AnswerForAnotherPayment_Unknown(t *testing.T) {
	t.Parallel()
	for name, req := range map[string]pg.CancelRequest{
		"another key":   {CancelID: "cnl_1", PaymentKey: "another-payment-key", Reason: "r"},
		"another order": {CancelID: "cnl_1", PaymentKey: paymentKey, OrderID: "order-of-someone-else", Reason: "r"},
	} {
		gw, mt := mockGateway(t)
		mt.RegisterNoResponder(httpmock.NewBytesResponder(200, golden(t, "payment_partial_canceled.json")))
		_, err := gw.Cancel(context.Background(), req)
		var pe *pg.Error
		require.ErrorAs(t, err, &pe, name)
		assert.Equal(t, pg.KindUnknown, pe.Kind, name)
		assert.Equal(t, "MISMATCHED_RESPONSE", pe.Code, name)
	}
}
