package tosspay_test

import (
	"context"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/jarcoal/httpmock"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/paygate/paygate/pg"
)

func TestApprove_Wire_RequestPinnedAndPaymentParsed(t *testing.T) {
	t.Parallel()
	gw, mt := mockGateway(t)
	rec := &recorder{}
	mt.RegisterResponder(http.MethodPost, api+"/v1/payments/confirm", rec.responder(200, golden(t, "payment_done.json")))

	p, err := gw.Approve(context.Background(), pg.ApproveRequest{PaymentID: "pay_01HQ", OrderID: orderID, Amount: pg.Won(1000), PaymentKey: paymentKey})
	require.NoError(t, err)

	r := rec.only(t)
	assert.Equal(t, http.MethodPost, r.Method)
	assert.Equal(t, api+"/v1/payments/confirm", r.URL)
	assert.Equal(t, docsAuth, r.Header.Get("Authorization"))
	assert.Equal(t, "application/json", r.Header.Get("Content-Type"))
	assert.Equal(t, "paygate-approve-pay_01HQ", r.Header.Get("Idempotency-Key"))
	assert.Empty(t, r.Header.Get("TossPayments-Test-Code"))
	assertBody(t, "request_confirm.json", r.Body)

	assert.Equal(t, "tosspay", p.PG)
	assert.Equal(t, paymentKey, p.PaymentKey)
	assert.Equal(t, orderID, p.OrderID)
	assert.Equal(t, pg.StatusApproved, p.Status)
	assert.Equal(t, "DONE", p.PGStatus)
	assert.Equal(t, pg.MethodCard, p.Method)
	assert.True(t, pg.Won(1000).Equal(p.Amount), "amount %s", p.Amount)
	assert.True(t, pg.Won(1000).Equal(p.Balance), "balance %s", p.Balance)
	assert.True(t, p.ApprovedAt.Equal(time.Date(2024, 2, 13, 12, 18, 14, 0, time.FixedZone("", 9*3600))), "approvedAt %s", p.ApprovedAt)
	assert.Equal(t, "ps_a4CWyWY5m89PNh7xJwhk1ZxW", p.Secret)
	assert.Equal(t, map[string]string{"lastTransactionKey": "9C62B18EEF0DE3EB7F4422EB6D14BC6E",
		"cardIssuerCode": "71", "cardAcquirerCode": "71", "easyPayProvider": "토스페이"}, p.Data)
	assert.Empty(t, p.Cancels)
	assert.Nil(t, p.VirtualAccount)
}

func TestApprove_5xxResentWithSameKey_ThenUnknown(t *testing.T) {
	t.Parallel()
	gw, mt := mockGateway(t)
	rec := &recorder{}
	mt.RegisterNoResponder(rec.responder(500, []byte(`{"code":"FAILED_INTERNAL_SYSTEM_PROCESSING","message":"내부 시스템 처리 작업이 실패했습니다"}`)))
	_, err := gw.Approve(context.Background(), pg.ApproveRequest{PaymentID: "pay_1", OrderID: orderID, Amount: pg.Won(1000), PaymentKey: paymentKey})
	assert.Equal(t, pg.KindUnknown, pg.KindOf(err), "%v", err)
	require.Len(t, rec.reqs, 3, "bounded resends")
	for _, r := range rec.reqs {
		assert.Equal(t, "paygate-approve-pay_1", r.Header.Get("Idempotency-Key"))
		assertBody(t, "request_confirm.json", r.Body)
	}
}

func TestApprove_409InFlight_ResentWithSameKeyUntilAnswered(t *testing.T) {
	t.Parallel()
	gw, mt := mockGateway(t)
	var mu sync.Mutex
	var keys []string
	mt.RegisterNoResponder(func(req *http.Request) (*http.Response, error) {
		mu.Lock()
		defer mu.Unlock()
		keys = append(keys, req.Header.Get("Idempotency-Key"))
		if len(keys) < 3 {
			return httpmock.NewStringResponse(409, `{"code":"IDEMPOTENT_REQUEST_PROCESSING","message":"이전 멱등 요청이 처리 중입니다."}`), nil
		}
		return httpmock.NewBytesResponse(200, golden(t, "payment_done.json")), nil
	})
	p, err := gw.Approve(context.Background(), pg.ApproveRequest{PaymentID: "pay_1", OrderID: orderID, Amount: pg.Won(1000), PaymentKey: paymentKey})
	require.NoError(t, err)
	assert.Equal(t, pg.StatusApproved, p.Status)
	assert.Equal(t, []string{"paygate-approve-pay_1", "paygate-approve-pay_1", "paygate-approve-pay_1"}, keys)
}

func TestApprove_409StillInFlight_Unknown(t *testing.T) {
	t.Parallel()
	gw, mt := mockGateway(t)
	mt.RegisterNoResponder(httpmock.NewStringResponder(409, `{"code":"IDEMPOTENT_REQUEST_PROCESSING","message":"처리 중"}`))
	_, err := gw.Approve(context.Background(), pg.ApproveRequest{PaymentID: "pay_1", OrderID: orderID, Amount: pg.Won(1000), PaymentKey: paymentKey})
	assert.Equal(t, pg.KindUnknown, pg.KindOf(err), "%v", err)
	assert.Equal(t, 3, mt.GetTotalCallCount())
}

func TestApprove_AnswerForAnotherOrder_Unknown(t *testing.T) {
	t.Parallel()
	gw, mt := mockGateway(t)
	mt.RegisterNoResponder(httpmock.NewBytesResponder(200, golden(t, "payment_done.json")))
	_, err := gw.Approve(context.Background(), pg.ApproveRequest{PaymentID: "pay_1", OrderID: "another-order", Amount: pg.Won(1000), PaymentKey: paymentKey})
	var pe *pg.Error
	require.ErrorAs(t, err, &pe)
	assert.Equal(t, pg.KindUnknown, pe.Kind)
	assert.Equal(t, "MISMATCHED_RESPONSE", pe.Code)
}

func TestApprove_UnreadableSuccess_Unknown(t *testing.T) {
	t.Parallel()
	for _, body := range []string{`{"paymentKey":"x","orderId":"` + orderID + `","status":"DONE","totalAmount":1000.5}`, `not json`, `{"paymentKey":"x","orderId":"y","status":"NEW_STATUS","totalAmount":1}`} {
		gw, mt := mockGateway(t)
		mt.RegisterNoResponder(httpmock.NewStringResponder(200, body))
		_, err := gw.Approve(context.Background(), pg.ApproveRequest{PaymentID: "pay_1", OrderID: orderID, Amount: pg.Won(1000), PaymentKey: paymentKey})
		assert.Equal(t, pg.KindUnknown, pg.KindOf(err), "%s: %v", body, err)
	}
}
