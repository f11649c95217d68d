package kakaopay_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/jarcoal/httpmock"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/paygate/paygate/kakaopay"
	"github.com/paygate/paygate/kakaopay/kakaopaytest"
	"github.com/paygate/paygate/pg"
	"github.com/paygate/paygate/pg/pgtest"
)

func validatingGateway(t *testing.T, cfg kakaopay.Config) (*kakaopay.Gateway, *httpmock.MockTransport) {
	t.Helper()
	mt := httpmock.NewMockTransport()
	cfg.CID, cfg.SecretKey, cfg.HTTPClient = kakaopay.TestCID, testSecret, &http.Client{Transport: mt}
	if cfg.ApprovalURL == "" {
		cfg.ApprovalURL, cfg.CancelURL, cfg.FailURL = "https://shop.example/ok", "https://shop.example/cancel", "https://shop.example/fail"
	}
	gw, err := kakaopay.New(cfg)
	require.NoError(t, err)
	return gw, mt
}

// ValidatePrepare and Prepare apply one rule: every checkout the validator
// refuses, Prepare refuses with the same code before sending anything, and
// every checkout it accepts, Prepare sends.
func TestValidatePrepare_RefusesWhatReadyWould_AndPrepareAgrees(t *testing.T) {
	t.Parallel()
	ok := pg.PrepareRequest{OrderID: "order-1", OrderName: "초코파이", Amount: pg.Won(2200), CustomerID: "user-1"}
	with := func(f func(*pg.PrepareRequest)) pg.PrepareRequest { r := ok; f(&r); return r }
	hangul := func(n int) string { return strings.Repeat("가", n) }
	refused := []struct {
		name string
		req  pg.PrepareRequest
		code string
	}{
		{"no order id", with(func(r *pg.PrepareRequest) { r.OrderID = "" }), kakaopay.CodeInvalidPartnerOrderID},
		{"blank order id", with(func(r *pg.PrepareRequest) { r.OrderID = "   " }), kakaopay.CodeInvalidPartnerOrderID},
		{"101-character order id", with(func(r *pg.PrepareRequest) { r.OrderID = strings.Repeat("7", 101) }), kakaopay.CodeInvalidPartnerOrderID},
		{"101 Hangul order id", with(func(r *pg.PrepareRequest) { r.OrderID = hangul(101) }), kakaopay.CodeInvalidPartnerOrderID},
		{"order id with U+0085", with(func(r *pg.PrepareRequest) { r.OrderID = "order\u0085-1" }), kakaopay.CodeInvalidPartnerOrderID},
		{"order id not UTF-8", with(func(r *pg.PrepareRequest) { r.OrderID = "order-\xff" }), kakaopay.CodeInvalidPartnerOrderID},
		{"101-character customer id", with(func(r *pg.PrepareRequest) { r.CustomerID = strings.Repeat("u", 101) }), kakaopay.CodeInvalidPartnerUserID},
		{"101 Hangul customer id", with(func(r *pg.PrepareRequest) { r.CustomerID = hangul(101) }), kakaopay.CodeInvalidPartnerUserID},
		{"blank customer id", with(func(r *pg.PrepareRequest) { r.CustomerID = " \t " }), kakaopay.CodeInvalidPartnerUserID},
		{"customer id with U+009B", with(func(r *pg.PrepareRequest) { r.CustomerID = "user\u009b1" }), kakaopay.CodeInvalidPartnerUserID},
		{"101 Hangul order name", with(func(r *pg.PrepareRequest) { r.OrderName = hangul(101) }), kakaopay.CodeInvalidItemName},
		{"order name with a newline", with(func(r *pg.PrepareRequest) { r.OrderName = "초코\n파이" }), kakaopay.CodeInvalidItemName},
		{"no amount", with(func(r *pg.PrepareRequest) { r.Amount = pg.Money{} }), kakaopay.CodeInvalidTotalAmount},
		{"zero won", with(func(r *pg.PrepareRequest) { r.Amount = pg.Won(0) }), kakaopay.CodeInvalidTotalAmount},
		{"dollars", with(func(r *pg.PrepareRequest) { r.Amount = pg.MustMoney("10.00", pg.USD) }), kakaopay.CodeInvalidTotalAmount},
		{"tax free above the amount", with(func(r *pg.PrepareRequest) { r.TaxFree = pg.Won(2201) }), kakaopay.CodeInvalidTaxFreeAmount},
		{"virtual account", with(func(r *pg.PrepareRequest) { r.Method = pg.MethodVirtualAccount }), kakaopay.CodeInvalidMethod},
		{"relative success URL", with(func(r *pg.PrepareRequest) { r.SuccessURL = "/ok" }), kakaopay.CodeInvalidApprovalURL},
		{"256-character cancel URL", with(func(r *pg.PrepareRequest) { r.CancelURL = "https://shop.example/" + strings.Repeat("c", 235) }), kakaopay.CodeInvalidCancelURL},
		{"fail URL with Hangul, 256 characters", with(func(r *pg.PrepareRequest) { r.FailURL = "https://shop.example/" + hangul(235) }), kakaopay.CodeInvalidFailURL},
	}
	for _, tt := range refused {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			gw, mt := validatingGateway(t, kakaopay.Config{})
			var v pg.PrepareValidator = gw
			err := v.ValidatePrepare(tt.req)
			var pe *pg.Error
			require.ErrorAs(t, err, &pe)
			assert.Equal(t, pg.KindInvalid, pe.Kind)
			assert.Equal(t, tt.code, pe.Code)
			assert.True(t, errors.Is(err, pg.ErrInvalid))

			_, perr := gw.Prepare(context.Background(), tt.req)
			var ppe *pg.Error
			require.ErrorAs(t, perr, &ppe)
			assert.Equal(t, tt.code, ppe.Code, "Prepare refuses with the same code")
			assert.Zero(t, mt.GetTotalCallCount(), "nothing was sent")
		})
	}

	accepted := []struct {
		name string
		req  pg.PrepareRequest
	}{
		{"100 Hangul everywhere (300 bytes each)", with(func(r *pg.PrepareRequest) {
			r.OrderID, r.CustomerID, r.OrderName = hangul(100), hangul(100), hangul(100)
		})},
		{"no customer id: the order id stands in", with(func(r *pg.PrepareRequest) { r.CustomerID = "" })},
		{"blank order name: the order id stands in", with(func(r *pg.PrepareRequest) { r.OrderName = "  " })},
		{"255-character URL", with(func(r *pg.PrepareRequest) { r.SuccessURL = "https://shop.example/" + strings.Repeat("s", 234) })},
		{"card only", with(func(r *pg.PrepareRequest) { r.Method = pg.MethodCard })},
	}
	for _, tt := range accepted {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			gw, mt := validatingGateway(t, kakaopay.Config{})
			require.NoError(t, gw.ValidatePrepare(tt.req))
			sent := respond(mt, currentAPI+"ready", http.StatusOK, fixture(t, "ready.json"))
			_, err := gw.Prepare(context.Background(), tt.req)
			require.NoError(t, err)
			assert.Len(t, *sent, 1)
		})
	}

	// Configuration ready would refuse shows up the same way.
	gw, _ := validatingGateway(t, kakaopay.Config{CIDSecret: "NOT-A-SECRET"})
	var pe *pg.Error
	require.ErrorAs(t, gw.ValidatePrepare(ok), &pe)
	assert.Equal(t, kakaopay.CodeInvalidCID, pe.Code)
}

// Against the sandbox over real HTTP, on both API generations: what the
// validator accepts, ready accepts (100 Hangul characters in every text
// field); what it refuses (101), ready refuses too — lengths are
// characters on both sides.
func TestValidatePrepare_AgreesWithReady_Hangul(t *testing.T) {
	t.Parallel()
	for _, legacy := range []bool{false, true} {
		h := newHarness(t, legacy, kakaopaytest.Options{})
		hundred := strings.Repeat("결", 100)
		req := pg.PrepareRequest{OrderID: hundred, OrderName: hundred, CustomerID: hundred, Amount: pg.Won(1000)}
		require.NoError(t, h.gw.ValidatePrepare(req))
		prep, err := h.gw.Prepare(h.ctx, req)
		require.NoError(t, err, "legacy %v", legacy)
		assert.Equal(t, hundred, prep.Data[kakaopay.DataPartnerUserID])
		paid, err := h.sb.Pay(h.ctx, pgtest.PayRequest{OrderID: hundred, Amount: pg.Won(1000)})
		require.NoError(t, err)
		p, err := h.gw.Approve(h.ctx, pg.ApproveRequest{PaymentID: "pay_h", OrderID: hundred, Amount: pg.Won(1000), Redirect: paid.Redirect, Prepared: prep.Data})
		require.NoError(t, err, "legacy %v", legacy)
		assert.Equal(t, hundred, p.OrderID, "the order id comes back intact from KakaoPay's answer")

		long := req
		long.CustomerID = hundred + "결"
		assert.Error(t, h.gw.ValidatePrepare(long))
		before := len(h.sb.Ledger())
		_, err = h.gw.Prepare(h.ctx, long)
		assert.Error(t, err)
		assert.Len(t, h.sb.Ledger(), before, "nothing readied")
	}
}

func TestPrepare_ParsesReady(t *testing.T) {
	t.Parallel()
	gw, mt := mockGateway(t, false, nil)
	respond(mt, currentAPI+"ready", http.StatusOK, fixture(t, "ready.json"))
	p, err := gw.Prepare(context.Background(), pg.PrepareRequest{
		OrderID: "order-1", Amount: pg.Won(2200),
		SuccessURL: "https://s.example/ok", CancelURL: "https://s.example/c", FailURL: "https://s.example/f",
	})
	require.NoError(t, err)
	assert.Equal(t, map[string]string{
		"next_redirect_pc_url": "https://mockup-pg-web.kakao.com/v1/xxxxxxxxxx/info",
	}, p.Client, "a checkout without a device is a PC one")
	assert.Equal(t, map[string]string{
		"tid": testTID, "cid": "TC0ONETIME", "partner_order_id": "order-1", "partner_user_id": "order-1",
	}, p.Data, "partner_user_id defaults to the order id")
}

func TestPrepare_ClientByDevice(t *testing.T) {
	t.Parallel()
	for device, want := range map[pg.Device]map[string]string{
		pg.DevicePC:     {"next_redirect_pc_url": "https://mockup-pg-web.kakao.com/v1/xxxxxxxxxx/info"},
		pg.DeviceMobile: {"next_redirect_mobile_url": "https://mockup-pg-web.kakao.com/v1/xxxxxxxxxx/mInfo"},
		pg.DeviceApp: {
			"next_redirect_app_url": "https://mockup-pg-web.kakao.com/v1/xxxxxxxxxx/aInfo",
			"android_app_scheme":    "kakaotalk://kakaopay/pg?url=https://mockup-pg-web.kakao.com/v1/xxxxxxxxxx/order",
			"ios_app_scheme":        "kakaotalk://kakaopay/pg?url=https://mockup-pg-web.kakao.com/v1/xxxxxxxxxx/order",
		},
	} {
		gw, mt := mockGateway(t, false, nil)
		respond(mt, currentAPI+"ready", http.StatusOK, fixture(t, "ready.json"))
		p, err := gw.Prepare(context.Background(), pg.PrepareRequest{
			OrderID: "order-1", Amount: pg.Won(2200), Device: device,
			SuccessURL: "https://s.example/ok", CancelURL: "https://s.example/c", FailURL: "https://s.example/f",
		})
		require.NoError(t, err)
		assert.Equal(t, want, p.Client, "device %s", device)
	}
}

func TestPrepare_ReadyWithoutTheDevicesWindowIsRefused(t *testing.T) {
	t.Parallel()
	gw, mt := mockGateway(t, false, nil)
	respond(mt, currentAPI+"ready", http.StatusOK, []byte(`{"tid":"`+testTID+`","next_redirect_pc_url":"https://mockup-pg-web.kakao.com/v1/xxxxxxxxxx/info"}`))
	_, err := gw.Prepare(context.Background(), pg.PrepareRequest{
		OrderID: "order-1", Amount: pg.Won(2200), Device: pg.DeviceMobile,
		SuccessURL: "https://s.example/ok", CancelURL: "https://s.example/c", FailURL: "https://s.example/f",
	})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "next_redirect_mobile_url")
}
