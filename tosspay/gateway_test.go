package tosspay_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"testing"
	"time"

	"github.com/jarcoal/httpmock"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/paygate/paygate/pg"
	"github.com/paygate/paygate/tosspay"
)

// mockGateway is the adapter with the docs' key on a mock transport; mods
// change its Config.
func mockGateway(t *testing.T, mods ...func(*tosspay.Config)) (*tosspay.Gateway, *httpmock.MockTransport) {
	t.Helper()
	mt := httpmock.NewMockTransport()
	cfg := tosspay.Config{
		SecretKey: docsSecretKey, HTTPClient: &http.Client{Transport: mt},
		MaxAttempts: 3, BackoffMin: time.Millisecond, BackoffMax: 5 * time.Millisecond,
	}
	for _, mod := range mods {
		mod(&cfg)
	}
	gw, err := tosspay.New(cfg)
	require.NoError(t, err)
	return gw, mt
}

// sendOnce is a Config change: no resends.
func sendOnce(c *tosspay.Config) { c.MaxAttempts = 1 }

func TestTestCode_SentPerGatewayAndPerCall(t *testing.T) {
	t.Parallel()
	gw, mt := mockGateway(t, func(c *tosspay.Config) { c.TestCode, c.AcceptLanguage = "REJECT_CARD_COMPANY", "en-US" })
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

func TestNew_RefusesBadConfig_NamingTheField(t *testing.T) {
	t.Parallel()
	ok := tosspay.Config{SecretKey: docsSecretKey}
	tests := []struct {
		field string
		mod   func(*tosspay.Config)
	}{
		{"Config.SecretKey", func(c *tosspay.Config) { c.SecretKey = "" }},
		{"Config.SecretKey", func(c *tosspay.Config) { c.SecretKey = "  " }},
		{"Config.BaseURL", func(c *tosspay.Config) { c.BaseURL = "ftp://x" }},
		{"Config.BaseURL", func(c *tosspay.Config) { c.BaseURL = "api.tosspayments.com" }},
		{"Config.ReportPageSize", func(c *tosspay.Config) { c.ReportPageSize = 5001 }},
		{"Config.ReportPageSize", func(c *tosspay.Config) { c.ReportPageSize = -1 }},
		{"Config.ReportTimeout", func(c *tosspay.Config) { c.ReportTimeout = -time.Second }},
		{"Config.Timeout", func(c *tosspay.Config) { c.Timeout = -time.Second }},
		{"Config.MaxAttempts", func(c *tosspay.Config) { c.MaxAttempts = -1 }},
		{"Config.BackoffMin", func(c *tosspay.Config) { c.BackoffMin = -time.Millisecond }},
		{"Config.BackoffMax", func(c *tosspay.Config) { c.BackoffMax = -time.Millisecond }},
		{"Config.BackoffMax", func(c *tosspay.Config) { c.BackoffMin, c.BackoffMax = time.Second, time.Millisecond }},
	}
	for _, tt := range tests {
		cfg := ok
		tt.mod(&cfg)
		gw, err := tosspay.New(cfg)
		require.Error(t, err, "%s", tt.field)
		assert.Nil(t, gw)
		assert.Contains(t, err.Error(), tt.field)
	}
	// Everything else has a default.
	gw, err := tosspay.New(ok)
	require.NoError(t, err)
	assert.Equal(t, "tosspay.Gateway("+tosspay.DefaultBaseURL+")", gw.String())
}

// Config.MaxAttempts bounds the sends of a call Toss makes safe to resend,
// and 1 sends it once.
func TestConfig_MaxAttemptsBoundsResends(t *testing.T) {
	t.Parallel()
	for _, attempts := range []int{1, 2} {
		gw, mt := mockGateway(t, func(c *tosspay.Config) { c.MaxAttempts = attempts })
		rec := &recorder{}
		mt.RegisterResponder("POST", api+"/v1/payments/confirm", rec.responder(500, []byte(`{"code":"FAILED_INTERNAL_SYSTEM_PROCESSING","message":"x"}`)))
		_, err := gw.Approve(context.Background(), pg.ApproveRequest{PaymentID: "pay_1", OrderID: orderID, Amount: pg.Won(1000), PaymentKey: paymentKey})
		require.ErrorIs(t, err, pg.ErrUnknown)
		assert.Len(t, rec.reqs, attempts)
	}
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
