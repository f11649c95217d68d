package inicis_test

import (
	"context"
	"errors"
	"log/slog"
	"net/url"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/paygate/paygate/inicis"
	"github.com/paygate/paygate/inicis/inicistest"
	"github.com/paygate/paygate/pg"
	"github.com/paygate/paygate/pg/pgtest"
)

// mobileSandbox is an Inicis sandbox and an adapter talking to it.
func mobileSandbox(t *testing.T, cfg inicistest.Config) (*inicistest.Server, *inicis.Gateway) {
	t.Helper()
	srv := inicistest.NewServer(cfg)
	t.Cleanup(srv.Close)
	gc := srv.GatewayConfig()
	gc.Timeout = time.Second
	gc.Logger = slog.New(slog.DiscardHandler)
	gw, err := inicis.New(gc)
	require.NoError(t, err)
	return srv, gw
}

// payMobile prepares, pays (in the mobile window) and approves an order.
func payMobile(t *testing.T, srv *inicistest.Server, gw *inicis.Gateway, orderID string, method pg.Method) *pg.Payment {
	t.Helper()
	ctx := context.Background()
	prepared, err := gw.Prepare(ctx, pg.PrepareRequest{OrderID: orderID, OrderName: "모바일 주문", Amount: pg.Won(23000),
		Method: method, Device: pg.DeviceMobile, SuccessURL: "https://shop.example/return"})
	require.NoError(t, err)
	pay := srv.Pay
	if method == pg.MethodVirtualAccount {
		pay = srv.PayVirtualAccount
	}
	res, err := pay(ctx, pgtest.PayRequest{OrderID: orderID, Amount: pg.Won(23000), Device: pg.DeviceMobile})
	require.NoError(t, err)
	p, err := gw.Approve(ctx, pg.ApproveRequest{OrderID: orderID, Amount: pg.Won(23000), Redirect: res.Redirect, Prepared: prepared.Data})
	require.NoError(t, err)
	return p
}

// A mobile virtual account's deposit, notified to P_NOTI_URL with P_*
// fields in EUC-KR, is verified by inquiry and completes the payment as
// the standard deposit notification does; Inicis's redelivery collides.
func TestMobileNotification_Deposit_VerifiedAndDeduplicated(t *testing.T) {
	t.Parallel()
	srv, gw := mobileSandbox(t, inicistest.Config{})
	ctx := context.Background()
	p := payMobile(t, srv, gw, "m-vbank-1", pg.MethodVirtualAccount)
	require.Equal(t, pg.StatusWaitingForDeposit, p.Status)
	require.NotNil(t, p.VirtualAccount)

	_, _, err := srv.Webhooks(ctx, "m-vbank-1")
	require.ErrorIs(t, err, inicistest.ErrNoNotification, "nothing is notified before the deposit")

	// A deposit notice before Inicis recorded a deposit is not trusted, but
	// not refused for good either: Inicis delivers again.
	early := url.Values{"P_STATUS": {"00"}, "P_TID": {p.PaymentKey}, "P_TYPE": {"VBANK"}, "P_MID": {inicis.TestMID},
		"P_OID": {"m-vbank-1"}, "P_AMT": {"23000"}, "P_AUTH_DT": {"20231115071320"}}
	_, err = gw.ParseWebhook(ctx, pg.WebhookRequest{Body: []byte(early.Encode()), RemoteAddr: "127.0.0.1:5000"})
	require.Error(t, err)
	assert.False(t, errors.Is(err, pg.ErrWebhookRejected), "%v", err)

	// The account's issue (P_STATUS 02) carries no payment news.
	issued := url.Values{"P_STATUS": {"02"}, "P_TID": {p.PaymentKey}, "P_TYPE": {"VBANK"}, "P_MID": {inicis.TestMID},
		"P_OID": {"m-vbank-1"}, "P_AMT": {"23000"}}
	ev, err := gw.ParseWebhook(ctx, pg.WebhookRequest{Body: []byte(issued.Encode()), RemoteAddr: "127.0.0.1:5000"})
	require.NoError(t, err)
	assert.Nil(t, ev)

	require.NoError(t, srv.Deposit(ctx, "m-vbank-1"))
	first, retry, err := srv.Webhooks(ctx, "m-vbank-1")
	require.NoError(t, err)
	n, err := inicis.ParseMobileNotification(first.Body)
	require.NoError(t, err)
	assert.Equal(t, "국민은행", n.BankName, "EUC-KR text is decoded")
	assert.Equal(t, p.PaymentKey, n.TID, "P_TID is the payment's own tid")

	ev, err = gw.ParseWebhook(ctx, first.Request(nil))
	require.NoError(t, err)
	assert.Equal(t, pg.WebhookDeposit, ev.Type)
	assert.Equal(t, pg.StatusApproved, ev.Status)
	assert.Equal(t, p.PaymentKey, ev.PaymentKey)
	assert.Equal(t, "m-vbank-1", ev.OrderID)
	assert.True(t, ev.Amount.Equal(pg.Won(23000)))
	require.NotNil(t, ev.Payment)
	assert.Equal(t, pg.StatusApproved, ev.Payment.Status, "the inquiry's view: paid")

	again, err := gw.ParseWebhook(ctx, retry.Request(nil))
	require.NoError(t, err)
	assert.Equal(t, ev.DedupKey, again.DedupKey, "a redelivery collides")
	assert.NotEqual(t, "", ev.DedupKey)

	require.ErrorIs(t, srv.CancelDeposit(ctx, "m-vbank-1"), inicistest.ErrMobileDepositCancel)
}

// Forged P_* notices — from a foreign address, a tampered amount, an
// unknown tid, another merchant or order, the other kind of payment — are
// refused before anything is stored, for card results and deposits alike.
func TestMobileNotification_Forged_Refused(t *testing.T) {
	t.Parallel()
	srv, gw := mobileSandbox(t, inicistest.Config{UTF8Noti: true})
	ctx := context.Background()
	card := payMobile(t, srv, gw, "m-card-forged", pg.MethodCard)
	require.Equal(t, pg.StatusApproved, card.Status)
	vbank := payMobile(t, srv, gw, "m-vbank-forged", pg.MethodVirtualAccount)
	require.Equal(t, pg.StatusWaitingForDeposit, vbank.Status)
	require.NoError(t, srv.Deposit(ctx, "m-vbank-forged"))
	for _, order := range []string{"m-card-forged", "m-vbank-forged"} {
		forged, err := srv.ForgedWebhooks(ctx, order)
		require.NoError(t, err)
		require.Len(t, forged, 6)
		for i, d := range forged {
			ev, err := gw.ParseWebhook(ctx, d.Request(nil))
			require.Error(t, err, "%s: forged delivery %d accepted as %+v", order, i, ev)
			assert.ErrorIs(t, err, pg.ErrWebhookRejected, "%s: forged delivery %d", order, i)
		}
	}

	// The genuine card result is accepted as the payment's approval.
	first, _, err := srv.Webhooks(ctx, "m-card-forged")
	require.NoError(t, err)
	ev, err := gw.ParseWebhook(ctx, first.Request(nil))
	require.NoError(t, err)
	assert.Equal(t, pg.WebhookPaymentStatus, ev.Type)
	assert.Equal(t, pg.StatusApproved, ev.Status)
	assert.Equal(t, card.PaymentKey, ev.PaymentKey)
}

func TestParseMobileNotification_RefusesMalformed(t *testing.T) {
	t.Parallel()
	good := func() url.Values {
		return url.Values{"P_STATUS": {"00"}, "P_TID": {mobileTID}, "P_TYPE": {"CARD"}, "P_MID": {inicis.TestMID},
			"P_OID": {"order-1"}, "P_AMT": {"1000"}, "P_AUTH_DT": {"20231115071320"}}
	}
	n, err := inicis.ParseMobileNotification([]byte(good().Encode()))
	require.NoError(t, err)
	at, err := n.OccurredAt()
	require.NoError(t, err)
	assert.True(t, at.Equal(epoch))
	for name, change := range map[string]func(v url.Values){
		"no tid":          func(v url.Values) { v.Del("P_TID") },
		"no amount":       func(v url.Values) { v.Del("P_AMT") },
		"amount negative": func(v url.Values) { v.Set("P_AMT", "-1000") },
		"amount fraction": func(v url.Values) { v.Set("P_AMT", "1000.5") },
		"bad order id":    func(v url.Values) { v.Set("P_OID", "order 1") },
		"bad time":        func(v url.Values) { v.Set("P_AUTH_DT", "2023") },
		"tid twice":       func(v url.Values) { v.Add("P_TID", mobileTID) },
		"bad type":        func(v url.Values) { v.Set("P_TYPE", "CARD&x") },
		"long status":     func(v url.Values) { v.Set("P_STATUS", strconv.Itoa(123456)) },
	} {
		v := good()
		change(v)
		_, err := inicis.ParseMobileNotification([]byte(v.Encode()))
		assert.Error(t, err, name)
	}
	// From an address Inicis does not send from: refused before parsing.
	g := newGateway(t, failTransport{t})
	_, err = g.ParseWebhook(context.Background(), pg.WebhookRequest{Body: []byte(good().Encode()), RemoteAddr: "198.51.100.7:4000"})
	assert.ErrorIs(t, err, pg.ErrWebhookRejected)
}
