package kakaopay_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jarcoal/httpmock"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/paygate/paygate/kakaopay"
	"github.com/paygate/paygate/kakaopay/kakaopaytest"
	"github.com/paygate/paygate/pg"
	"github.com/paygate/paygate/pg/pgtest"
)

// These tests run the adapter against the sandbox over real HTTP.

type harness struct {
	t   *testing.T
	sb  *kakaopaytest.Server
	gw  *kakaopay.Gateway
	ctx context.Context
}

func newHarness(t *testing.T, legacy bool, opts kakaopaytest.Options) *harness {
	t.Helper()
	sb := kakaopaytest.NewServer(opts)
	t.Cleanup(sb.Close)
	key := kakaopaytest.DefaultSecretKey
	if legacy {
		key = kakaopaytest.DefaultAdminKey
	}
	gw, err := kakaopay.New(kakaopay.Config{
		CID: kakaopaytest.TestCID, SecretKey: key, Legacy: legacy, BaseURL: sb.URL,
		ApprovalURL: "https://shop.example/pay/kakao/ok",
		CancelURL:   "https://shop.example/pay/kakao/cancel",
		FailURL:     "https://shop.example/pay/kakao/fail",
		HTTPClient:  sb.Client(),
	})
	require.NoError(t, err)
	return &harness{t: t, sb: sb, gw: gw, ctx: context.Background()}
}

func (h *harness) prepare(orderID string, amount int64) *pg.Prepared {
	h.t.Helper()
	p, err := h.gw.Prepare(h.ctx, pg.PrepareRequest{OrderID: orderID, OrderName: "초코파이 외 1건", Amount: pg.Won(amount), CustomerID: "user-7"})
	require.NoError(h.t, err)
	return p
}

func (h *harness) pay(orderID string, amount int64, f pgtest.Fault) map[string]string {
	h.t.Helper()
	res, err := h.sb.Pay(h.ctx, pgtest.PayRequest{OrderID: orderID, Amount: pg.Won(amount), Fault: f})
	require.NoError(h.t, err)
	return res.Redirect
}

func (h *harness) approve(orderID string, amount int64, prep *pg.Prepared, redirect map[string]string) (*pg.Payment, error) {
	return h.gw.Approve(h.ctx, pg.ApproveRequest{
		PaymentID: "pay_" + orderID, OrderID: orderID, Amount: pg.Won(amount),
		Redirect: redirect, Prepared: prep.Data,
	})
}

func (h *harness) lookup(orderID string, prep *pg.Prepared) *pg.Payment {
	h.t.Helper()
	p, err := h.gw.Lookup(h.ctx, pg.LookupRequest{OrderID: orderID, Prepared: prep.Data})
	require.NoError(h.t, err)
	return p
}

func requireKind(t *testing.T, err error, kind pg.Kind) *pg.Error {
	t.Helper()
	require.Error(t, err)
	var pe *pg.Error
	require.True(t, errors.As(err, &pe), "not a *pg.Error: %v", err)
	require.Equal(t, kind, pe.Kind, "%v", err)
	require.True(t, errors.Is(err, kind))
	return pe
}

func TestFullFlow_BothAPIs(t *testing.T) {
	t.Parallel()
	for _, legacy := range []bool{false, true} {
		t.Run(fmt.Sprintf("legacy=%v", legacy), func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, legacy, kakaopaytest.Options{})
			prep := h.prepare("order-1", 15000)
			assert.Len(t, prep.Data[kakaopay.DataTID], 20)
			assert.Equal(t, kakaopaytest.TestCID, prep.Data[kakaopay.DataCID])
			assert.Equal(t, "order-1", prep.Data[kakaopay.DataPartnerOrderID])
			assert.Equal(t, "user-7", prep.Data[kakaopay.DataPartnerUserID])
			assert.Contains(t, prep.Client[kakaopay.ClientRedirectPC], h.sb.URL+"/v1/")
			assert.NotContains(t, prep.Client, kakaopay.ClientRedirectMobile, "a PC checkout gets the PC window")
			assert.NotContains(t, prep.Client, kakaopay.DataTID, "the client map is for the browser")

			before := h.lookup("order-1", prep)
			assert.Equal(t, pg.StatusPending, before.Status)
			assert.Equal(t, "READY", before.PGStatus)

			pay, err := h.approve("order-1", 15000, prep, h.pay("order-1", 15000, pgtest.FaultNone))
			require.NoError(t, err)
			assert.Equal(t, pg.StatusApproved, pay.Status)
			assert.Equal(t, prep.Data[kakaopay.DataTID], pay.PaymentKey)
			assert.Equal(t, "order-1", pay.OrderID)
			assert.True(t, pg.Won(15000).Equal(pay.Amount))
			assert.True(t, pg.Won(15000).Equal(pay.Balance))
			assert.Equal(t, pg.MethodCard, pay.Method)
			assert.False(t, pay.ApprovedAt.IsZero())
			assert.WithinDuration(t, time.Now(), pay.ApprovedAt, time.Minute, "Seoul time read as Seoul time")
			assert.NotEmpty(t, pay.Data[kakaopay.DataAID])

			got := h.lookup("order-1", prep)
			assert.Equal(t, pg.StatusApproved, got.Status)
			assert.Equal(t, "SUCCESS_PAYMENT", got.PGStatus)

			part, err := h.gw.Cancel(h.ctx, pg.CancelRequest{
				CancelID: "cxl_1", OrderID: "order-1", Amount: pg.Won(4000), Balance: pg.Won(15000),
				Reason: "size swap", Prepared: prep.Data,
			})
			require.NoError(t, err)
			assert.Equal(t, pg.StatusPartialCanceled, part.Status)
			assert.True(t, pg.Won(11000).Equal(part.Balance))
			require.Len(t, part.Cancels, 1)
			assert.True(t, pg.Won(4000).Equal(part.Cancels[0].Amount))

			full, err := h.gw.Cancel(h.ctx, pg.CancelRequest{CancelID: "cxl_2", OrderID: "order-1", Prepared: prep.Data})
			require.NoError(t, err, "a full cancel without a known balance looks it up")
			assert.Equal(t, pg.StatusCanceled, full.Status)
			assert.True(t, full.Balance.IsZero())

			after := h.lookup("order-1", prep)
			assert.Equal(t, pg.StatusCanceled, after.Status)
			require.Len(t, after.Cancels, 2)
			assert.Equal(t, "cxl_1", after.Cancels[0].Reason, "the cancel id comes back as payload")
			assert.True(t, pg.Won(11000).Equal(after.Cancels[1].Amount))

			_, err = h.gw.Cancel(h.ctx, pg.CancelRequest{CancelID: "cxl_3", OrderID: "order-1", Prepared: prep.Data})
			requireKind(t, err, pg.KindAlreadyDone)

			ledger := h.sb.Ledger()
			require.Len(t, ledger, 1)
			assert.Equal(t, 1, ledger[0].Approvals)
			assert.Equal(t, 2, ledger[0].Cancels)
			assert.True(t, pg.Won(15000).Equal(ledger[0].Canceled))
		})
	}
}

func TestBadInput_RefusedBeforeSending(t *testing.T) {
	t.Parallel()
	h := newHarness(t, false, kakaopaytest.Options{})
	prep := h.prepare("order", 3000)
	redirect := h.pay("order", 3000, pgtest.FaultNone)
	tests := []struct {
		name string
		call func() error
	}{
		{"prepare without order id", func() error {
			_, err := h.gw.Prepare(h.ctx, pg.PrepareRequest{Amount: pg.Won(1000)})
			return err
		}},
		{"prepare without amount", func() error {
			_, err := h.gw.Prepare(h.ctx, pg.PrepareRequest{OrderID: "x"})
			return err
		}},
		{"prepare in dollars", func() error {
			_, err := h.gw.Prepare(h.ctx, pg.PrepareRequest{OrderID: "x", Amount: pg.MustMoney("10.00", pg.USD)})
			return err
		}},
		{"prepare of zero won", func() error {
			_, err := h.gw.Prepare(h.ctx, pg.PrepareRequest{OrderID: "x", Amount: pg.Won(0)})
			return err
		}},
		{"prepare with tax free above the amount", func() error {
			_, err := h.gw.Prepare(h.ctx, pg.PrepareRequest{OrderID: "x", Amount: pg.Won(1000), TaxFree: pg.Won(1001)})
			return err
		}},
		{"prepare with a 101-character order id", func() error {
			_, err := h.gw.Prepare(h.ctx, pg.PrepareRequest{OrderID: fmt.Sprintf("%0101d", 7), Amount: pg.Won(1000)})
			return err
		}},
		{"prepare with a relative success URL", func() error {
			_, err := h.gw.Prepare(h.ctx, pg.PrepareRequest{OrderID: "x", Amount: pg.Won(1000), SuccessURL: "/ok"})
			return err
		}},
		{"prepare by virtual account", func() error {
			_, err := h.gw.Prepare(h.ctx, pg.PrepareRequest{OrderID: "x", Amount: pg.Won(1000), Method: pg.MethodVirtualAccount})
			return err
		}},
		{"approve without pg_token", func() error {
			_, err := h.approve("order", 3000, prep, nil)
			return err
		}},
		{"approve without prepared data", func() error {
			_, err := h.gw.Approve(h.ctx, pg.ApproveRequest{OrderID: "order", Amount: pg.Won(3000), Redirect: redirect})
			return err
		}},
		{"approve of another order's tid", func() error {
			_, err := h.approve("other-order", 3000, prep, redirect)
			return err
		}},
		{"approve with a payment key that is not the tid", func() error {
			_, err := h.gw.Approve(h.ctx, pg.ApproveRequest{OrderID: "order", PaymentKey: "T1", Amount: pg.Won(3000), Redirect: redirect, Prepared: prep.Data})
			return err
		}},
		{"approve without amount", func() error {
			_, err := h.gw.Approve(h.ctx, pg.ApproveRequest{OrderID: "order", Redirect: redirect, Prepared: prep.Data})
			return err
		}},
		{"cancel above the balance", func() error {
			_, err := h.gw.Cancel(h.ctx, pg.CancelRequest{OrderID: "order", Amount: pg.Won(3001), Balance: pg.Won(3000), Prepared: prep.Data})
			return err
		}},
		{"cancel of zero", func() error {
			_, err := h.gw.Cancel(h.ctx, pg.CancelRequest{OrderID: "order", Amount: pg.Won(0), Prepared: prep.Data})
			return err
		}},
		{"cancel in dollars", func() error {
			_, err := h.gw.Cancel(h.ctx, pg.CancelRequest{OrderID: "order", Amount: pg.MustMoney("1.00", pg.USD), Prepared: prep.Data})
			return err
		}},
		{"cancel with tax free above the amount", func() error {
			_, err := h.gw.Cancel(h.ctx, pg.CancelRequest{OrderID: "order", Amount: pg.Won(100), TaxFree: pg.Won(101), Prepared: prep.Data})
			return err
		}},
		{"lookup by order id alone", func() error {
			_, err := h.gw.Lookup(h.ctx, pg.LookupRequest{OrderID: "order"})
			return err
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			requireKind(t, tt.call(), pg.KindInvalid)
		})
	}
	ledger := h.sb.Ledger()
	require.Len(t, ledger, 1, "nothing was readied")
	assert.Zero(t, ledger[0].Approvals)
	assert.Zero(t, ledger[0].Cancels)
	assert.Equal(t, pg.StatusPending, h.lookup("order", prep).Status, "the buyer's authentication is intact")
}

func TestWrongKey_Invalid(t *testing.T) {
	t.Parallel()
	sb := kakaopaytest.NewServer(kakaopaytest.Options{})
	defer sb.Close()
	gw, err := kakaopay.New(kakaopay.Config{CID: kakaopaytest.TestCID, SecretKey: "DEVWRONG", BaseURL: sb.URL,
		ApprovalURL: "https://s.example/ok", CancelURL: "https://s.example/c", FailURL: "https://s.example/f"})
	require.NoError(t, err)
	_, err = gw.Prepare(context.Background(), pg.PrepareRequest{OrderID: "o", Amount: pg.Won(1000)})
	pe := requireKind(t, err, pg.KindInvalid)
	assert.Equal(t, 401, pe.HTTPStatus)
	assert.NotContains(t, err.Error(), "DEVWRONG")
}

func mockGateway(t *testing.T, legacy bool, logger *slog.Logger) (*kakaopay.Gateway, *httpmock.MockTransport) {
	t.Helper()
	mt := httpmock.NewMockTransport()
	gw, err := kakaopay.New(kakaopay.Config{
		CID: kakaopay.TestCID, SecretKey: testSecret, Legacy: legacy,
		HTTPClient: &http.Client{Transport: mt}, Logger: logger,
	})
	require.NoError(t, err)
	return gw, mt
}

func TestTransportFailures(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	reset := &net.OpError{Op: "read", Net: "tcp", Err: syscall.ECONNRESET}
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}
	tests := []struct {
		name     string
		path     string
		err      error
		call     func(*kakaopay.Gateway) error
		kind     pg.Kind
		attempts int
	}{
		{"approve reset after sending: unknown, never resent", "approve", reset, func(g *kakaopay.Gateway) error {
			_, err := g.Approve(ctx, pg.ApproveRequest{OrderID: "order-1", Amount: pg.Won(2200), Redirect: map[string]string{"pg_token": "t"}, Prepared: prepared})
			return err
		}, pg.KindUnknown, 1},
		{"cancel reset after sending: unknown, never resent", "cancel", reset, func(g *kakaopay.Gateway) error {
			_, err := g.Cancel(ctx, pg.CancelRequest{Amount: pg.Won(700), Balance: pg.Won(2200), Prepared: prepared})
			return err
		}, pg.KindUnknown, 1},
		{"lookup reset: a read, resent", "order", reset, func(g *kakaopay.Gateway) error {
			_, err := g.Lookup(ctx, pg.LookupRequest{Prepared: prepared})
			return err
		}, pg.KindUnknown, 3},
		{"approve refused connection: never reached KakaoPay, resent", "approve", refused, func(g *kakaopay.Gateway) error {
			_, err := g.Approve(ctx, pg.ApproveRequest{OrderID: "order-1", Amount: pg.Won(2200), Redirect: map[string]string{"pg_token": "t"}, Prepared: prepared})
			return err
		}, pg.KindUnavailable, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			gw, mt := mockGateway(t, false, nil)
			mt.RegisterResponder(http.MethodPost, currentAPI+tt.path, httpmock.NewErrorResponder(tt.err))
			requireKind(t, tt.call(gw), tt.kind)
			assert.Equal(t, tt.attempts, mt.GetTotalCallCount())
		})
	}
}

func TestLogs_NeverCarryTheKey(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	for _, legacy := range []bool{false, true} {
		gw, mt := mockGateway(t, legacy, logger)
		mt.RegisterNoResponder(httpmock.NewErrorResponder(errors.New("refused " + testSecret)))
		_, err := gw.Lookup(context.Background(), pg.LookupRequest{Prepared: prepared})
		require.Error(t, err)
		assert.NotContains(t, err.Error(), testSecret)
	}
	require.NotEmpty(t, buf.String(), "calls are logged")
	assert.NotContains(t, buf.String(), testSecret)

	buf.Reset()
	logger.Info("config", "cfg", kakaopay.Config{CID: "TC0ONETIME", SecretKey: testSecret})
	assert.NotContains(t, buf.String(), testSecret)
	assert.Contains(t, buf.String(), "TC0ONETIME")
}

func TestNew_RefusesBadConfig_NamingTheField(t *testing.T) {
	t.Parallel()
	ok := kakaopay.Config{CID: kakaopay.TestCID, SecretKey: "k"}
	tests := []struct {
		field string
		mod   func(*kakaopay.Config)
	}{
		{"Config.CID", func(c *kakaopay.Config) { c.CID = "" }},
		{"Config.SecretKey", func(c *kakaopay.Config) { c.SecretKey = "" }},
		{"Config.BaseURL", func(c *kakaopay.Config) { c.BaseURL = "/kakao" }},
		{"Config.ApprovalURL", func(c *kakaopay.Config) { c.ApprovalURL = "ftp://x/ok" }},
		{"Config.CancelURL", func(c *kakaopay.Config) { c.CancelURL = "shop.example/cancel" }},
		{"Config.FailURL", func(c *kakaopay.Config) { c.FailURL = "https://shop.example/" + strings.Repeat("f", 250) }},
		{"Config.Timeout", func(c *kakaopay.Config) { c.Timeout = -time.Second }},
		{"Config.MaxAttempts", func(c *kakaopay.Config) { c.MaxAttempts = -1 }},
		{"Config.BackoffMin", func(c *kakaopay.Config) { c.BackoffMin = -time.Millisecond }},
		{"Config.BackoffMax", func(c *kakaopay.Config) { c.BackoffMax = -time.Millisecond }},
		{"Config.BackoffMax", func(c *kakaopay.Config) { c.BackoffMin, c.BackoffMax = time.Second, time.Millisecond }},
	}
	for _, tt := range tests {
		cfg := ok
		tt.mod(&cfg)
		gw, err := kakaopay.New(cfg)
		require.Error(t, err, "%s", tt.field)
		assert.Nil(t, gw)
		assert.Contains(t, err.Error(), tt.field)
	}
	// Everything else has a default: the current API, or the legacy one.
	gw, err := kakaopay.New(ok)
	require.NoError(t, err)
	assert.Equal(t, "kakaopay.Gateway("+kakaopay.DefaultBaseURL+")", gw.String())
	ok.Legacy = true
	gw, err = kakaopay.New(ok)
	require.NoError(t, err)
	assert.Equal(t, "kakaopay.Gateway("+kakaopay.LegacyBaseURL+")", gw.String())
}

// The Gateway holds the keys; no way of printing or logging it shows them.
func TestGateway_NeverPrintsItsKeys(t *testing.T) {
	t.Parallel()
	const cidSecret = "0123456789abcdefghijklmn"
	gw, err := kakaopay.New(kakaopay.Config{CID: kakaopay.TestCID, CIDSecret: cidSecret, SecretKey: testSecret})
	require.NoError(t, err)
	var buf bytes.Buffer
	slog.New(slog.NewTextHandler(&buf, nil)).Info("gw", "gateway", gw)
	for _, out := range []string{fmt.Sprint(gw), fmt.Sprintf("%v %+v %#v", gw, gw, gw), buf.String()} {
		assert.NotContains(t, out, testSecret)
		assert.NotContains(t, out, cidSecret)
	}
	assert.Contains(t, buf.String(), kakaopay.TestCID)
}

// Config.MaxAttempts bounds the sends of a lookup, the one call resent
// after a 5xx, and 1 sends it once.
func TestConfig_MaxAttemptsBoundsResends(t *testing.T) {
	t.Parallel()
	for _, attempts := range []int{1, 2} {
		mt := httpmock.NewMockTransport()
		gw, err := kakaopay.New(kakaopay.Config{
			CID: kakaopay.TestCID, SecretKey: testSecret, HTTPClient: &http.Client{Transport: mt},
			MaxAttempts: attempts, BackoffMin: time.Millisecond, BackoffMax: time.Millisecond,
		})
		require.NoError(t, err)
		mt.RegisterResponder(http.MethodPost, currentAPI+"order", httpmock.NewStringResponder(500, `{"error_code":-1,"error_message":"internal"}`))
		_, err = gw.Lookup(context.Background(), pg.LookupRequest{Prepared: prepared})
		require.Error(t, err)
		assert.Equal(t, attempts, mt.GetTotalCallCount())
	}
}

func TestCapabilities_Declared(t *testing.T) {
	t.Parallel()
	gw, _ := mockGateway(t, false, nil)
	c := gw.Capabilities()
	assert.Equal(t, "kakaopay", gw.Name())
	assert.True(t, c.PartialCancel)
	assert.False(t, c.IdempotencyKeys, "KakaoPay has no idempotency key")
	assert.False(t, c.LookupByOrderID, "lookup needs the tid")
	assert.False(t, c.Webhooks)
	assert.False(t, c.VirtualAccounts)
	assert.True(t, c.SupportsCurrency(pg.KRW))
	assert.False(t, c.SupportsCurrency(pg.USD))
	assert.True(t, c.SupportsMethod(pg.MethodEasyPay))
	assert.False(t, c.SupportsMethod(pg.MethodVirtualAccount))
}

// TestPrepare_DeviceWindows prepares a checkout for each device, checks the
// client gets that device's window (and, in an app, the app schemes), and
// pays in that window over HTTP: the approval is the same whichever window
// the buyer used.
func TestPrepare_DeviceWindows(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		device pg.Device
		key    string
		view   string
		keys   []string
	}{
		{"", kakaopay.ClientRedirectPC, "/info", []string{kakaopay.ClientRedirectPC}},
		{pg.DevicePC, kakaopay.ClientRedirectPC, "/info", []string{kakaopay.ClientRedirectPC}},
		{pg.DeviceMobile, kakaopay.ClientRedirectMobile, "/mInfo", []string{kakaopay.ClientRedirectMobile}},
		{pg.DeviceApp, kakaopay.ClientRedirectApp, "/aInfo", []string{kakaopay.ClientRedirectApp, kakaopay.ClientAndroidScheme, kakaopay.ClientIOSScheme}},
	} {
		t.Run(fmt.Sprintf("device=%q", tc.device), func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, false, kakaopaytest.Options{})
			orderID := "order-dev-" + string(tc.device)
			prep, err := h.gw.Prepare(h.ctx, pg.PrepareRequest{OrderID: orderID, OrderName: "초코파이", Amount: pg.Won(9900), Device: tc.device})
			require.NoError(t, err)
			var keys []string
			for k := range prep.Client {
				keys = append(keys, k)
			}
			assert.ElementsMatch(t, tc.keys, keys)
			window := prep.Client[tc.key]
			require.True(t, strings.HasPrefix(window, h.sb.URL+"/v1/") && strings.HasSuffix(window, tc.view), window)

			// The buyer opens the window and pays there.
			resp, err := http.Get(window)
			require.NoError(t, err)
			resp.Body.Close()
			require.Equal(t, http.StatusOK, resp.StatusCode)
			noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
			resp, err = noFollow.PostForm(strings.TrimSuffix(window, tc.view)+"/pay", url.Values{"action": {"pay"}, "method": {"CARD"}})
			require.NoError(t, err)
			resp.Body.Close()
			require.Equal(t, http.StatusSeeOther, resp.StatusCode)
			back, err := url.Parse(resp.Header.Get("Location"))
			require.NoError(t, err)
			token := back.Query().Get("pg_token")
			require.NotEmpty(t, token)

			pay, err := h.approve(orderID, 9900, prep, map[string]string{"pg_token": token})
			require.NoError(t, err)
			assert.Equal(t, pg.StatusApproved, pay.Status)
			assert.True(t, pay.Amount.Equal(pg.Won(9900)))
		})
	}
}
