package tosspay_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/jarcoal/httpmock"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/paygate/paygate/pg"
	"github.com/paygate/paygate/tosspay"
)

// The docs' test key and its documented Basic value (pg-apis.md 1.0).
const (
	docsSecretKey = "test_sk_zXLkKEypNArWmo50nX3lmeaxYG5R"
	docsAuth      = "Basic dGVzdF9za196WExrS0V5cE5BcldtbzUwblgzbG1lYXhZRzVSOg=="
	api           = "https://api.tosspayments.com"
	paymentKey    = "5EnNZRJGvaBX7zk2yd8ydw26XvwXkLrx9POLqKQjmAw4b0e1"
	orderID       = "a4CWyWY5m89PNh7xJwhk1"
)

func golden(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	require.NoError(t, err)
	return b
}

// seen is one request as it left the adapter.
type seen struct {
	Method string
	URL    string
	Header http.Header
	Body   []byte
}

// recorder answers every request with status and body and records it.
type recorder struct {
	mu   sync.Mutex
	reqs []seen
}

func (r *recorder) responder(status int, body []byte) httpmock.Responder {
	return func(req *http.Request) (*http.Response, error) {
		var b []byte
		if req.Body != nil {
			b, _ = io.ReadAll(req.Body)
		}
		r.mu.Lock()
		r.reqs = append(r.reqs, seen{req.Method, req.URL.String(), req.Header.Clone(), b})
		r.mu.Unlock()
		resp := httpmock.NewBytesResponse(status, body)
		resp.Header.Set("Content-Type", "application/json")
		return resp, nil
	}
}

func (r *recorder) only(t *testing.T) seen {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	require.Len(t, r.reqs, 1)
	return r.reqs[0]
}

func mockGateway(t *testing.T, opts ...tosspay.Option) (*tosspay.Gateway, *httpmock.MockTransport) {
	t.Helper()
	mt := httpmock.NewMockTransport()
	opts = append([]tosspay.Option{tosspay.WithHTTPClient(&http.Client{Transport: mt}),
		tosspay.WithRetry(3, time.Millisecond, 5*time.Millisecond)}, opts...)
	gw, err := tosspay.New(docsSecretKey, opts...)
	require.NoError(t, err)
	return gw, mt
}

func assertBody(t *testing.T, goldenName string, got []byte) {
	t.Helper()
	assert.Equal(t, string(bytes.TrimSpace(golden(t, goldenName))), string(got), "request body must match testdata/%s byte for byte", goldenName)
}

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

func TestDecode_EveryPaymentShape(t *testing.T) {
	t.Parallel()
	kst := time.FixedZone("KST", 9*3600)
	tests := []struct {
		file     string
		status   pg.Status
		pgStatus string
		method   pg.Method
		amount   pg.Money
		balance  pg.Money
		cancels  []pg.CancelRecord
		check    func(t *testing.T, p *pg.Payment)
	}{
		{"payment_done.json", pg.StatusApproved, "DONE", pg.MethodCard, pg.Won(1000), pg.Won(1000), nil, nil},
		{"payment_in_progress.json", pg.StatusPending, "IN_PROGRESS", "", pg.Won(1000), pg.Won(1000), nil, func(t *testing.T, p *pg.Payment) {
			assert.True(t, p.ApprovedAt.IsZero())
		}},
		{"payment_aborted.json", pg.StatusFailed, "ABORTED", pg.MethodCard, pg.Won(1000), pg.Won(1000), nil, func(t *testing.T, p *pg.Payment) {
			assert.Equal(t, "COMMON_ERROR", p.Data["failureCode"])
		}},
		{"payment_partial_canceled.json", pg.StatusPartialCanceled, "PARTIAL_CANCELED", pg.MethodCard, pg.Won(1000), pg.Won(700),
			[]pg.CancelRecord{{TransactionKey: "B7103F204998813B889C77C043D09502", Amount: pg.Won(300), Reason: "고객 변심", CanceledAt: time.Date(2024, 2, 13, 12, 20, 23, 0, kst)}}, nil},
		{"payment_canceled.json", pg.StatusCanceled, "CANCELED", pg.MethodCard, pg.Won(1000), pg.Won(0),
			[]pg.CancelRecord{
				{TransactionKey: "B7103F204998813B889C77C043D09502", Amount: pg.Won(300), Reason: "고객 변심", CanceledAt: time.Date(2024, 2, 13, 12, 20, 23, 0, kst)},
				{TransactionKey: "C1", Amount: pg.Won(700), Reason: "고객 변심", CanceledAt: time.Date(2024, 2, 13, 12, 25, 0, 0, kst)},
			}, nil},
		{"payment_waiting_for_deposit.json", pg.StatusWaitingForDeposit, "WAITING_FOR_DEPOSIT", pg.MethodVirtualAccount, pg.Won(1000), pg.Won(1000), nil, func(t *testing.T, p *pg.Payment) {
			require.NotNil(t, p.VirtualAccount)
			assert.Equal(t, "20", p.VirtualAccount.Bank)
			assert.Equal(t, "X6505636518308", p.VirtualAccount.AccountNumber)
			assert.Equal(t, "박토스", p.VirtualAccount.HolderName)
			assert.True(t, p.VirtualAccount.DueDate.Equal(time.Date(2024, 2, 20, 23, 59, 59, 0, kst)))
			assert.Equal(t, "ps_Z1aOwX7K8m2qjeLAw4b0e1gl", p.Secret)
		}},
		{"payment_usd.json", pg.StatusApproved, "DONE", pg.MethodEasyPay, pg.MustMoney("10.25", pg.USD), pg.MustMoney("10.25", pg.USD), nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			t.Parallel()
			gw, mt := mockGateway(t)
			mt.RegisterResponder(http.MethodGet, api+"/v1/payments/"+paymentKey, httpmock.NewBytesResponder(200, golden(t, tt.file)))
			p, err := gw.Lookup(context.Background(), pg.LookupRequest{PaymentKey: paymentKey})
			require.NoError(t, err)
			assert.Equal(t, tt.status, p.Status)
			assert.Equal(t, tt.pgStatus, p.PGStatus)
			assert.Equal(t, tt.method, p.Method)
			assert.True(t, tt.amount.Equal(p.Amount), "amount %s", p.Amount)
			assert.True(t, tt.balance.Equal(p.Balance), "balance %s", p.Balance)
			require.Len(t, p.Cancels, len(tt.cancels), "only applied (DONE) cancels are reported")
			for i, c := range tt.cancels {
				assert.Equal(t, c.TransactionKey, p.Cancels[i].TransactionKey)
				assert.True(t, c.Amount.Equal(p.Cancels[i].Amount))
				assert.Equal(t, c.Reason, p.Cancels[i].Reason)
				assert.True(t, c.CanceledAt.Equal(p.Cancels[i].CanceledAt))
			}
			if tt.check != nil {
				tt.check(t, p)
			}
		})
	}
}

func TestErrors_Wire_BodiesMappedToKinds(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		status    int
		body      []byte
		wantKind  pg.Kind
		wantCode  string
		retryable bool
	}{
		{"card company refusal", 403, golden(t, "error_reject_card_company.json"), pg.KindDeclined, "REJECT_CARD_COMPANY", false},
		{"v2 nested error body", 404, golden(t, "error_v2.json"), pg.KindNotFound, "NOT_FOUND_PAYMENT", false},
		{"already processed: look it up", 400, []byte(`{"code":"ALREADY_PROCESSED_PAYMENT","message":"이미 처리된 결제 입니다"}`), pg.KindAlreadyDone, "ALREADY_PROCESSED_PAYMENT", false},
		{"provider error: declined, retryable", 400, []byte(`{"code":"PROVIDER_ERROR","message":"일시적인 오류가 발생했습니다. 잠시 후 다시 시도해주세요."}`), pg.KindDeclined, "PROVIDER_ERROR", true},
		{"session expired", 404, []byte(`{"code":"NOT_FOUND_PAYMENT_SESSION","message":"결제 시간이 만료되어"}`), pg.KindDeclined, "NOT_FOUND_PAYMENT_SESSION", false},
		{"bad key", 401, []byte(`{"code":"UNAUTHORIZED_KEY","message":"인증되지 않은 시크릿 키"}`), pg.KindInvalid, "UNAUTHORIZED_KEY", false},
		{"consecutive requests: not processed", 403, []byte(`{"code":"FORBIDDEN_CONSECUTIVE_REQUEST","message":"반복적인 요청은 허용되지 않습니다."}`), pg.KindUnavailable, "FORBIDDEN_CONSECUTIVE_REQUEST", true},
		{"code Toss added later: status fallback", 400, []byte(`{"code":"SOMETHING_NEW","message":"새 에러"}`), pg.KindInvalid, "SOMETHING_NEW", false},
		{"no JSON at all: status fallback", 429, []byte(`Too Many Requests`), pg.KindUnavailable, "", false},
		{"unknown fields ignored", 403, []byte(`{"code":"REJECT_CARD_PAYMENT","message":"한도초과","traceId":"x","extra":{"a":1}}`), pg.KindDeclined, "REJECT_CARD_PAYMENT", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			gw, mt := mockGateway(t, tosspay.WithRetry(1, time.Millisecond, time.Millisecond))
			mt.RegisterNoResponder(httpmock.NewBytesResponder(tt.status, tt.body))
			_, err := gw.Approve(context.Background(), pg.ApproveRequest{PaymentID: "pay_1", OrderID: orderID, Amount: pg.Won(1000), PaymentKey: paymentKey})
			require.Error(t, err)
			var pe *pg.Error
			require.ErrorAs(t, err, &pe)
			assert.Equal(t, tt.wantKind, pe.Kind)
			assert.Equal(t, tt.wantCode, pe.Code)
			assert.Equal(t, tt.status, pe.HTTPStatus)
			assert.Equal(t, tt.retryable, pe.Retryable)
			assert.Equal(t, "tosspay", pe.PG)
			assert.Equal(t, "approve", pe.Op)
			assert.True(t, errors.Is(err, pe.Kind))
		})
	}
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

func TestTestCode_SentPerGatewayAndPerCall(t *testing.T) {
	t.Parallel()
	gw, mt := mockGateway(t, tosspay.WithTestCode("REJECT_CARD_COMPANY"), tosspay.WithAcceptLanguage("en-US"))
	rec := &recorder{}
	mt.RegisterNoResponder(rec.responder(200, golden(t, "payment_done.json")))
	_, err := gw.Lookup(context.Background(), pg.LookupRequest{PaymentKey: paymentKey})
	require.NoError(t, err)
	_, err = gw.Lookup(tosspay.ContextWithTestCode(context.Background(), "NOT_FOUND_PAYMENT"), pg.LookupRequest{PaymentKey: paymentKey})
	require.NoError(t, err)
	require.Len(t, rec.reqs, 2)
	assert.Equal(t, "REJECT_CARD_COMPANY", rec.reqs[0].Header.Get("TossPayments-Test-Code"))
	assert.Equal(t, "NOT_FOUND_PAYMENT", rec.reqs[1].Header.Get("TossPayments-Test-Code"))
	assert.Equal(t, "en-US", rec.reqs[0].Header.Get("Accept-Language"))
}

func TestBadInput_RefusedBeforeSending(t *testing.T) {
	t.Parallel()
	ok := pg.ApproveRequest{PaymentID: "pay_1", OrderID: orderID, Amount: pg.Won(1000), PaymentKey: paymentKey}
	okCancel := pg.CancelRequest{CancelID: "cnl_1", PaymentKey: paymentKey, Reason: "r"}
	with := func(f func(*pg.ApproveRequest)) pg.ApproveRequest { r := ok; f(&r); return r }
	withC := func(f func(*pg.CancelRequest)) pg.CancelRequest { r := okCancel; f(&r); return r }
	approves := map[string]pg.ApproveRequest{
		"no payment id":         with(func(r *pg.ApproveRequest) { r.PaymentID = "" }),
		"no payment key":        with(func(r *pg.ApproveRequest) { r.PaymentKey = "" }),
		"payment key too long":  with(func(r *pg.ApproveRequest) { r.PaymentKey = string(bytes.Repeat([]byte("k"), 201)) }),
		"order id too short":    with(func(r *pg.ApproveRequest) { r.OrderID = "abc" }),
		"order id bad chars":    with(func(r *pg.ApproveRequest) { r.OrderID = "order 0001!" }),
		"no amount":             with(func(r *pg.ApproveRequest) { r.Amount = pg.Money{} }),
		"zero amount":           with(func(r *pg.ApproveRequest) { r.Amount = pg.Won(0) }),
		"currency Toss refuses": with(func(r *pg.ApproveRequest) { r.Amount = pg.MustMoney("10", pg.EUR) }),
	}
	cancels := map[string]pg.CancelRequest{
		"no cancel id":              withC(func(r *pg.CancelRequest) { r.CancelID = "" }),
		"no reason":                 withC(func(r *pg.CancelRequest) { r.Reason = " " }),
		"no payment key":            withC(func(r *pg.CancelRequest) { r.PaymentKey = "" }),
		"amount over the balance":   withC(func(r *pg.CancelRequest) { r.Amount, r.Balance = pg.Won(2000), pg.Won(1000) }),
		"currencies differ":         withC(func(r *pg.CancelRequest) { r.Amount, r.Balance = pg.Won(10), pg.MustMoney("10", pg.USD) }),
		"tax-free over the amount":  withC(func(r *pg.CancelRequest) { r.Amount, r.TaxFree = pg.Won(10), pg.Won(20) }),
		"refund account incomplete": withC(func(r *pg.CancelRequest) { r.RefundAccount = &pg.RefundAccount{Bank: "88"} }),
		"refund account not digits": withC(func(r *pg.CancelRequest) {
			r.RefundAccount = &pg.RefundAccount{Bank: "88", AccountNumber: "123-456", HolderName: "a"}
		}),
		"zero partial amount": withC(func(r *pg.CancelRequest) { r.Amount = pg.Won(0) }),
	}
	gw, mt := mockGateway(t)
	mt.RegisterNoResponder(func(*http.Request) (*http.Response, error) {
		t.Error("a request left the adapter for bad input")
		return nil, errors.New("must not be called")
	})
	for name, req := range approves {
		_, err := gw.Approve(context.Background(), req)
		assert.Equal(t, pg.KindInvalid, pg.KindOf(err), "approve %s: %v", name, err)
	}
	for name, req := range cancels {
		_, err := gw.Cancel(context.Background(), req)
		assert.Equal(t, pg.KindInvalid, pg.KindOf(err), "cancel %s: %v", name, err)
	}
	_, err := gw.Lookup(context.Background(), pg.LookupRequest{})
	assert.Equal(t, pg.KindInvalid, pg.KindOf(err))
	assert.Zero(t, mt.GetTotalCallCount())
}

func TestNew_RefusesBadConfig(t *testing.T) {
	t.Parallel()
	_, err := tosspay.New("")
	assert.Error(t, err)
	_, err = tosspay.New(docsSecretKey, tosspay.WithBaseURL("ftp://x"))
	assert.Error(t, err)
	_, err = tosspay.New(docsSecretKey, tosspay.WithReportPageSize(5001))
	assert.Error(t, err)
}

func TestIdempotencyKeys_StableAndWithinTossLimit(t *testing.T) {
	t.Parallel()
	assert.Equal(t, tosspay.ApproveIdempotencyKey("pay_1"), tosspay.ApproveIdempotencyKey("pay_1"))
	assert.NotEqual(t, tosspay.ApproveIdempotencyKey("pay_1"), tosspay.CancelIdempotencyKey("pay_1"))
	long := string(bytes.Repeat([]byte("x"), 400))
	assert.LessOrEqual(t, len(tosspay.ApproveIdempotencyKey(long)), 300)
	assert.Equal(t, tosspay.ApproveIdempotencyKey(long), tosspay.ApproveIdempotencyKey(long))
	assert.NotEqual(t, tosspay.ApproveIdempotencyKey(long), tosspay.ApproveIdempotencyKey(long+"y"))
}

func TestGateway_NeverPrintsItsKey(t *testing.T) {
	t.Parallel()
	gw, _ := mockGateway(t)
	var buf bytes.Buffer
	slog.New(slog.NewTextHandler(&buf, nil)).Info("gw", "gateway", gw)
	out := buf.String() + fmt.Sprintf("%v %+v %#v %s", gw, gw, gw, gw)
	assert.NotContains(t, out, docsSecretKey)
	assert.NotContains(t, out, docsAuth[len("Basic "):])
	assert.Contains(t, out, "api.tosspayments.com")
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
