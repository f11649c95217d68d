package inicistest_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/paygate/paygate/inicis"
	"github.com/paygate/paygate/inicis/inicistest"
	"github.com/paygate/paygate/pg"
	"github.com/paygate/paygate/pg/pgtest"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

type env struct {
	srv   *inicistest.Server
	gw    *inicis.Gateway
	clock *clock
}

func newEnv(t *testing.T, mod ...func(*inicis.Config)) *env {
	t.Helper()
	c := &clock{t: time.Date(2024, 3, 1, 10, 0, 0, 0, time.UTC)}
	srv := inicistest.NewServer(inicistest.Config{Now: c.Now})
	t.Cleanup(srv.Close)
	cfg := srv.GatewayConfig()
	cfg.HTTPClient = &http.Client{Timeout: 30 * time.Second}
	cfg.Now = c.Now
	cfg.Logger = slog.New(slog.DiscardHandler)
	for _, m := range mod {
		m(&cfg)
	}
	gw, err := inicis.New(cfg)
	require.NoError(t, err)
	return &env{srv: srv, gw: gw, clock: c}
}

func (e *env) approve(t *testing.T, orderID string, amount int64, fault pgtest.Fault) (pg.ApproveRequest, *pg.Payment, error) {
	t.Helper()
	res, err := e.srv.Pay(context.Background(), pgtest.PayRequest{OrderID: orderID, Amount: pg.Won(amount), Fault: fault})
	require.NoError(t, err)
	req := pg.ApproveRequest{PaymentID: "pay_" + orderID, OrderID: orderID, Amount: pg.Won(amount), Redirect: res.Redirect}
	p, err := e.gw.Approve(context.Background(), req)
	return req, p, err
}

func ledgerOf(t *testing.T, sb *inicistest.Sandbox, orderID string) pgtest.LedgerEntry {
	t.Helper()
	var found []pgtest.LedgerEntry
	for _, e := range sb.Ledger() {
		if e.OrderID == orderID {
			found = append(found, e)
		}
	}
	require.Len(t, found, 1, "one payment attempt for %s", orderID)
	return found[0]
}

func TestFlow_PreparedFormApprovedThenPartiallyAndFullyRefunded(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	prep, err := e.gw.Prepare(ctx, pg.PrepareRequest{OrderID: "order-1", OrderName: "상품", Amount: pg.Won(10000), SuccessURL: "https://shop.example/return"})
	require.NoError(t, err)
	res, err := e.srv.PayForm(ctx, prep.Client, "Card", pgtest.FaultNone)
	require.NoError(t, err)

	approveReq := pg.ApproveRequest{PaymentID: "pay_1", OrderID: "order-1", Amount: pg.Won(10000), Redirect: res.Redirect, Prepared: prep.Data}
	p, err := e.gw.Approve(ctx, approveReq)
	require.NoError(t, err)
	assert.Equal(t, pg.StatusApproved, p.Status)
	assert.Len(t, p.PaymentKey, 40)

	stored := map[string]string{}
	for k, v := range prep.Data {
		stored[k] = v
	}
	for k, v := range p.Data {
		stored[k] = v
	}
	partial := pg.CancelRequest{CancelID: "c1", PaymentKey: p.PaymentKey, OrderID: "order-1", Amount: pg.Won(3000), Balance: pg.Won(10000), Reason: "부분 반품", Prepared: stored}
	after, err := e.gw.Cancel(ctx, partial)
	require.NoError(t, err)
	assert.Equal(t, pg.StatusPartialCanceled, after.Status)
	assert.Equal(t, int64(7000), after.Balance.Int64())

	// The same partial refund sent again (a retry after a lost answer)
	// trips the confirmPrice guard instead of refunding twice.
	_, err = e.gw.Cancel(ctx, partial)
	require.ErrorIs(t, err, pg.ErrAlreadyDone)

	got, err := e.gw.Lookup(ctx, pg.LookupRequest{OrderID: "order-1"})
	require.NoError(t, err)
	assert.Equal(t, pg.StatusPartialCanceled, got.Status)
	assert.Equal(t, int64(7000), got.Balance.Int64())
	require.Len(t, got.Cancels, 1)

	rest, err := e.gw.Cancel(ctx, pg.CancelRequest{CancelID: "c2", PaymentKey: p.PaymentKey, Amount: pg.Won(7000), Balance: pg.Won(7000), Prepared: stored})
	require.NoError(t, err)
	assert.Equal(t, pg.StatusCanceled, rest.Status)

	// A refund of the canceled tid is answered as Inicis does: the generic
	// refusal "01" with detailResultCode 512626 (기 취소 거래).
	_, err = e.gw.Cancel(ctx, pg.CancelRequest{CancelID: "c3", PaymentKey: p.PaymentKey, Prepared: stored})
	require.ErrorIs(t, err, pg.ErrAlreadyDone)
	var pe *pg.Error
	require.ErrorAs(t, err, &pe)
	assert.Equal(t, "01", pe.Code)
	assert.Contains(t, pe.Message, "기 취소 거래 (512626)")
	_, err = e.gw.Cancel(ctx, pg.CancelRequest{CancelID: "c4", PaymentKey: p.PaymentKey, Amount: pg.Won(1000), Balance: pg.Won(1000), Prepared: stored})
	require.ErrorIs(t, err, pg.ErrAlreadyDone, "a partial refund of the canceled tid too")

	l := ledgerOf(t, e.srv.Sandbox, "order-1")
	assert.Equal(t, 1, l.Approvals)
	assert.Equal(t, 2, l.Cancels)
	assert.Equal(t, int64(10000), l.Canceled.Int64())
	assert.Equal(t, pg.StatusCanceled, l.Status)
}

func TestPayForm_RefusesWhatTheWindowWould(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	prep, err := e.gw.Prepare(ctx, pg.PrepareRequest{OrderID: "order-1", OrderName: "상품", Amount: pg.Won(10000), SuccessURL: "https://shop.example/return"})
	require.NoError(t, err)
	for field, value := range map[string]string{"price": "100", "oid": "order-2", "signature": "00", "verification": "00", "mKey": "00", "mid": "other"} {
		form := map[string]string{}
		for k, v := range prep.Client {
			form[k] = v
		}
		form[field] = value
		_, err := e.srv.PayForm(ctx, form, "Card", pgtest.FaultNone)
		assert.ErrorIs(t, err, inicistest.ErrNotPrepared, field)
	}

	for _, oid := range []string{"inicis bad id 1", "주문1", "o&price=1", ""} {
		_, err := e.srv.Pay(ctx, pgtest.PayRequest{OrderID: oid, Amount: pg.Won(1000)})
		assert.ErrorIs(t, err, inicistest.ErrNotPrepared, oid)
	}

	wrongKey := newEnv(t, func(c *inicis.Config) { c.SignKey = "WRONGKEYWRONGKEYWRONGKEYWRONGKEY" })
	prep, err = wrongKey.gw.Prepare(ctx, pg.PrepareRequest{OrderID: "order-1", OrderName: "상품", Amount: pg.Won(10000), SuccessURL: "https://shop.example/return"})
	require.NoError(t, err)
	_, err = wrongKey.srv.PayForm(ctx, prep.Client, "Card", pgtest.FaultNone)
	assert.ErrorIs(t, err, inicistest.ErrNotPrepared)
}

func TestApprove_ScriptedFaultsResolveByLookup(t *testing.T) {
	t.Parallel()
	tests := []struct {
		fault        pgtest.Fault
		kind         pg.Kind
		lookup       pg.Status // "" means not found
		approvals    int
		ledgerStatus pg.Status
	}{
		{pgtest.FaultNone, 0, pg.StatusApproved, 1, pg.StatusApproved},
		{pgtest.FaultDecline, pg.KindDeclined, "", 0, pg.StatusFailed},
		{pgtest.FaultTimeout, pg.KindUnknown, pg.StatusApproved, 1, pg.StatusApproved},
		{pgtest.FaultTimeoutUnapproved, pg.KindUnknown, "", 0, pg.StatusPending},
		{pgtest.FaultError500, pg.KindUnknown, "", 0, pg.StatusPending},
	}
	for _, tc := range tests {
		t.Run(string(tc.fault)+"_", func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			_, p, err := e.approve(t, "order-f", 5000, tc.fault)
			if tc.fault == pgtest.FaultNone {
				require.NoError(t, err)
				assert.Equal(t, pg.StatusApproved, p.Status)
			} else {
				require.Error(t, err)
				assert.Equal(t, tc.kind, pg.KindOf(err), err.Error())
			}
			got, err := e.gw.Lookup(context.Background(), pg.LookupRequest{OrderID: "order-f"})
			if tc.lookup == "" {
				require.ErrorIs(t, err, pg.ErrNotFound)
			} else {
				require.NoError(t, err)
				assert.Equal(t, tc.lookup, got.Status)
				assert.Equal(t, int64(5000), got.Amount.Int64())
			}
			l := ledgerOf(t, e.srv.Sandbox, "order-f")
			assert.Equal(t, tc.approvals, l.Approvals)
			assert.Equal(t, tc.ledgerStatus, l.Status)
		})
	}
}

func TestApprove_TokenIsSingleUseAndExpires(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	req, _, err := e.approve(t, "order-1", 1000, pgtest.FaultNone)
	require.NoError(t, err)
	_, err = e.gw.Approve(context.Background(), req)
	assert.ErrorIs(t, err, pg.ErrDeclined, "a used authToken is refused")

	res, err := e.srv.Pay(context.Background(), pgtest.PayRequest{OrderID: "order-2", Amount: pg.Won(1000)})
	require.NoError(t, err)
	e.clock.Add(31 * time.Minute)
	_, err = e.gw.Approve(context.Background(), pg.ApproveRequest{OrderID: "order-2", Amount: pg.Won(1000), Redirect: res.Redirect})
	assert.ErrorIs(t, err, pg.ErrDeclined, "an expired authToken is refused")
}

func TestApprove_AmountOtherThanAuthenticatedIsRefused(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	res, err := e.srv.Pay(context.Background(), pgtest.PayRequest{OrderID: "order-1", Amount: pg.Won(1000)})
	require.NoError(t, err)
	_, err = e.gw.Approve(context.Background(), pg.ApproveRequest{OrderID: "order-1", Amount: pg.Won(2000), Redirect: res.Redirect})
	require.ErrorIs(t, err, pg.ErrDeclined)
	assert.Equal(t, 0, ledgerOf(t, e.srv.Sandbox, "order-1").Approvals)
}

func TestSandbox_VerifiesSignaturesAndHashes(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	res, err := e.srv.Pay(context.Background(), pgtest.PayRequest{OrderID: "order-1", Amount: pg.Won(1000)})
	require.NoError(t, err)

	cfg := e.srv.GatewayConfig()
	cfg.SignKey = "WRONGKEYWRONGKEYWRONGKEYWRONGKEY"
	cfg.Logger = slog.New(slog.DiscardHandler)
	wrong, err := inicis.New(cfg)
	require.NoError(t, err)
	_, err = wrong.Approve(context.Background(), pg.ApproveRequest{OrderID: "order-1", Amount: pg.Won(1000), Redirect: res.Redirect})
	require.ErrorIs(t, err, pg.ErrInvalid, "verification made with the wrong signKey")
	assert.Equal(t, 0, ledgerOf(t, e.srv.Sandbox, "order-1").Approvals)

	_, p, err := e.approve(t, "order-2", 1000, pgtest.FaultNone)
	require.NoError(t, err)
	cfg.SignKey = inicis.TestSignKey
	cfg.APIKey = "0000000000000000"
	wrongAPI, err := inicis.New(cfg)
	require.NoError(t, err)
	_, err = wrongAPI.Cancel(context.Background(), pg.CancelRequest{PaymentKey: p.PaymentKey})
	require.ErrorIs(t, err, pg.ErrInvalid, "hashData made with the wrong INIAPI key")
	assert.Equal(t, 0, ledgerOf(t, e.srv.Sandbox, "order-2").Cancels)
}

func TestCancel_LostAnswerIsResolvedByInquiryAndAppliedOnce(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	_, p, err := e.approve(t, "order-1", 10000, pgtest.FaultNone)
	require.NoError(t, err)
	ctx := context.Background()

	require.NoError(t, e.srv.FailNext(pgtest.OpCancel, "order-1", pgtest.FaultTimeout))
	req := pg.CancelRequest{PaymentKey: p.PaymentKey, Amount: pg.Won(4000), Balance: pg.Won(10000)}
	_, err = e.gw.Cancel(ctx, req)
	require.ErrorIs(t, err, pg.ErrUnknown)

	got, err := e.gw.Lookup(ctx, pg.LookupRequest{PaymentKey: p.PaymentKey})
	require.NoError(t, err)
	assert.Equal(t, int64(6000), got.Balance.Int64(), "the lost refund did happen")

	_, err = e.gw.Cancel(ctx, req)
	require.ErrorIs(t, err, pg.ErrAlreadyDone, "resending with the stale balance is refused")
	l := ledgerOf(t, e.srv.Sandbox, "order-1")
	assert.Equal(t, 1, l.Cancels)
	assert.Equal(t, int64(4000), l.Canceled.Int64())

	require.NoError(t, e.srv.FailNext(pgtest.OpCancel, "order-1", pgtest.FaultError500))
	_, err = e.gw.Cancel(ctx, pg.CancelRequest{PaymentKey: p.PaymentKey})
	require.ErrorIs(t, err, pg.ErrUnknown)
	require.NoError(t, e.srv.FailNext(pgtest.OpCancel, "order-1", pgtest.FaultDecline))
	_, err = e.gw.Cancel(ctx, pg.CancelRequest{PaymentKey: p.PaymentKey})
	require.ErrorIs(t, err, pg.ErrDeclined)
	assert.Equal(t, 1, ledgerOf(t, e.srv.Sandbox, "order-1").Cancels)
}

func TestNetCancel_UndoesTheApproval(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	req, _, err := e.approve(t, "order-1", 3000, pgtest.FaultNone)
	require.NoError(t, err)
	require.NoError(t, e.gw.NetCancel(context.Background(), req))
	l := ledgerOf(t, e.srv.Sandbox, "order-1")
	assert.Equal(t, pg.StatusCanceled, l.Status)
	assert.Equal(t, int64(3000), l.Canceled.Int64())
	got, err := e.gw.Lookup(context.Background(), pg.LookupRequest{OrderID: "order-1"})
	require.NoError(t, err)
	assert.Equal(t, pg.StatusCanceled, got.Status)
}

func TestLatency_CallerDeadlineIsUnknown(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	res, err := e.srv.Pay(context.Background(), pgtest.PayRequest{OrderID: "order-1", Amount: pg.Won(1000)})
	require.NoError(t, err)
	// Open a pooled connection first: on a loaded machine a fresh dial can
	// outlast the deadline, and a request that never got a connection is
	// rightly Unavailable, not Unknown.
	_, _ = e.gw.Lookup(context.Background(), pg.LookupRequest{OrderID: "order-1"})
	e.srv.SetLatency(time.Minute)
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_, err = e.gw.Approve(ctx, pg.ApproveRequest{OrderID: "order-1", Amount: pg.Won(1000), Redirect: res.Redirect})
	require.ErrorIs(t, err, pg.ErrUnknown)
	e.srv.SetLatency(0)
}

// webhookReceiver is the shop's notification endpoint: verify, then answer
// "OK" only once the event is stored.
type webhookReceiver struct {
	gw     *inicis.Gateway
	mu     sync.Mutex
	events map[string]*pg.WebhookEvent
	seen   int
}

func (h *webhookReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	ev, err := h.gw.ParseWebhook(r.Context(), pg.WebhookRequest{Header: r.Header, Body: body, RemoteAddr: r.RemoteAddr})
	if err != nil {
		http.Error(w, "FAIL", http.StatusBadRequest)
		return
	}
	h.mu.Lock()
	h.seen++
	if _, dup := h.events[ev.DedupKey]; !dup {
		h.events[ev.DedupKey] = ev
	}
	h.mu.Unlock()
	h.gw.AckWebhook(w)
}

func TestVirtualAccount_DepositNotifiedVerifiedOnceAndExpiry(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	recv := &webhookReceiver{gw: e.gw, events: map[string]*pg.WebhookEvent{}}
	hook := httptest.NewServer(recv)
	t.Cleanup(hook.Close)
	e.srv.SetWebhookURL(hook.URL)
	ctx := context.Background()

	res, err := e.srv.PayVirtualAccount(ctx, pgtest.PayRequest{OrderID: "order-v", Amount: pg.Won(25000)})
	require.NoError(t, err)
	p, err := e.gw.Approve(ctx, pg.ApproveRequest{OrderID: "order-v", Amount: pg.Won(25000), Redirect: res.Redirect})
	require.NoError(t, err)
	assert.Equal(t, pg.StatusWaitingForDeposit, p.Status)
	require.NotNil(t, p.VirtualAccount)
	assert.NotEmpty(t, p.VirtualAccount.AccountNumber)

	_, err = e.gw.Cancel(ctx, pg.CancelRequest{PaymentKey: p.PaymentKey, Amount: pg.Won(1000), Balance: pg.Won(25000)})
	require.ErrorIs(t, err, pg.ErrDeclined, "no partial cancel before the deposit")

	require.NoError(t, e.srv.Deposit(ctx, "order-v"))
	require.NoError(t, e.srv.Deposit(ctx, "order-v"), "redelivery")
	recv.mu.Lock()
	assert.Equal(t, 2, recv.seen)
	require.Len(t, recv.events, 1)
	for _, ev := range recv.events {
		assert.Equal(t, pg.WebhookDeposit, ev.Type)
		assert.Equal(t, p.PaymentKey, ev.PaymentKey)
		assert.Equal(t, int64(25000), ev.Amount.Int64())
		require.NotNil(t, ev.Payment)
		assert.Equal(t, pg.StatusApproved, ev.Payment.Status)
	}
	recv.mu.Unlock()

	// A deposit refund needs the buyer's account, encrypted.
	_, err = e.gw.Cancel(ctx, pg.CancelRequest{PaymentKey: p.PaymentKey})
	require.ErrorIs(t, err, pg.ErrInvalid)
	done, err := e.gw.Cancel(ctx, pg.CancelRequest{PaymentKey: p.PaymentKey, RefundAccount: &pg.RefundAccount{Bank: "04", AccountNumber: "123456789", HolderName: "홍길동"}})
	require.NoError(t, err)
	assert.Equal(t, pg.StatusCanceled, done.Status)

	res, err = e.srv.PayVirtualAccount(ctx, pgtest.PayRequest{OrderID: "order-late", Amount: pg.Won(5000)})
	require.NoError(t, err)
	_, err = e.gw.Approve(ctx, pg.ApproveRequest{OrderID: "order-late", Amount: pg.Won(5000), Redirect: res.Redirect})
	require.NoError(t, err)
	e.clock.Add(73 * time.Hour)
	require.ErrorIs(t, e.srv.Deposit(ctx, "order-late"), inicistest.ErrAccountExpired)
	got, err := e.gw.Lookup(ctx, pg.LookupRequest{OrderID: "order-late"})
	require.NoError(t, err)
	assert.Equal(t, pg.StatusExpired, got.Status)
}

func TestVirtualAccount_ForgedNotificationIsNotAcked(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *inicis.Config) { c.NotiSources = nil }) // production default list
	recv := &webhookReceiver{gw: e.gw, events: map[string]*pg.WebhookEvent{}}
	hook := httptest.NewServer(recv)
	t.Cleanup(hook.Close)
	e.srv.SetWebhookURL(hook.URL)
	ctx := context.Background()
	res, err := e.srv.PayVirtualAccount(ctx, pgtest.PayRequest{OrderID: "order-v", Amount: pg.Won(25000)})
	require.NoError(t, err)
	_, err = e.gw.Approve(ctx, pg.ApproveRequest{OrderID: "order-v", Amount: pg.Won(25000), Redirect: res.Redirect})
	require.NoError(t, err)
	require.ErrorIs(t, e.srv.Deposit(ctx, "order-v"), inicistest.ErrNotAcked, "loopback is not an Inicis address")
	assert.Empty(t, recv.events)
}

func TestHTTP_MountedUnderPrefix(t *testing.T) {
	t.Parallel()
	sb := inicistest.New(inicistest.Config{})
	mux := http.NewServeMux()
	mux.Handle("/sandbox/inicis/", sb)
	ts := httptest.NewServer(mux)
	t.Cleanup(ts.Close)
	sb.SetBaseURL(ts.URL + "/sandbox/inicis")

	resp, err := http.Post(ts.URL+"/sandbox/inicis/_sandbox/pay", "application/json", bytes.NewReader([]byte(`{"orderId":"order-1","amount":"1500"}`)))
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	var out struct {
		Redirect map[string]string `json:"redirect"`
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&out))
	assert.Equal(t, ts.URL+"/sandbox/inicis/api/payAuth", out.Redirect["authUrl"])

	cfg := sb.GatewayConfig()
	cfg.Logger = slog.New(slog.DiscardHandler)
	gw, err := inicis.New(cfg)
	require.NoError(t, err)
	p, err := gw.Approve(context.Background(), pg.ApproveRequest{OrderID: "order-1", Amount: pg.Won(1500), Redirect: out.Redirect})
	require.NoError(t, err)
	assert.Equal(t, pg.StatusApproved, p.Status)

	for _, body := range []string{`{"orderId":"o","amount":"1.5"}`, `{"orderId":"o","amount":100,"fault":"nope"}`, `{"orderId":""}`, `not json`} {
		resp, err := http.Post(ts.URL+"/sandbox/inicis/_sandbox/pay", "application/json", bytes.NewReader([]byte(body)))
		require.NoError(t, err)
		resp.Body.Close()
		assert.Equal(t, http.StatusBadRequest, resp.StatusCode, body)
	}
	resp2, err := http.Get(ts.URL + "/sandbox/inicis/_sandbox/pay")
	require.NoError(t, err)
	resp2.Body.Close()
	assert.Equal(t, http.StatusMethodNotAllowed, resp2.StatusCode)
}

func TestWebhooks_DepositDeliveriesAndForgeries(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	res, err := e.srv.PayVirtualAccount(ctx, pgtest.PayRequest{OrderID: "order-v", Amount: pg.Won(8000)})
	require.NoError(t, err)
	p, err := e.gw.Approve(ctx, pg.ApproveRequest{OrderID: "order-v", Amount: pg.Won(8000), Redirect: res.Redirect})
	require.NoError(t, err)

	_, _, err = e.srv.Webhooks(ctx, "order-v")
	require.ErrorIs(t, err, inicistest.ErrNoNotification, "no deposit yet")
	require.NoError(t, e.srv.Deposit(ctx, "order-v"), "no WebhookURL: recorded only")

	first, retry, err := e.srv.Webhooks(ctx, "order-v")
	require.NoError(t, err)
	ev1, err := e.gw.ParseWebhook(ctx, first.Request(nil))
	require.NoError(t, err)
	ev2, err := e.gw.ParseWebhook(ctx, retry.Request(nil))
	require.NoError(t, err)
	assert.Equal(t, ev1.DedupKey, ev2.DedupKey)
	assert.Equal(t, p.PaymentKey, ev1.PaymentKey)
	assert.Equal(t, pg.StatusApproved, ev1.Status)

	// The notification carries the deposit's own tid and the payment's
	// apart, as Inicis's do.
	form, err := url.ParseQuery(string(first.Body))
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(form.Get("no_tid"), "ININPGVBNK"), form.Get("no_tid"))
	assert.Len(t, form.Get("no_tid"), 40)
	assert.NotEqual(t, p.PaymentKey, form.Get("no_tid"))
	assert.Equal(t, p.PaymentKey, form.Get("no_req_tid"))
	assert.Equal(t, "0200", form.Get("type_msg"))
	assert.NotEmpty(t, form.Get("no_msgseq"))

	forged, err := e.srv.ForgedWebhooks(ctx, "order-v")
	require.NoError(t, err)
	require.NotEmpty(t, forged)
	for i, d := range forged {
		_, err := e.gw.ParseWebhook(ctx, d.Request(nil))
		assert.ErrorIs(t, err, pg.ErrWebhookRejected, "forgery %d", i)
	}

	_, _, err = e.approve(t, "order-c", 1000, pgtest.FaultNone)
	require.NoError(t, err)
	_, _, err = e.srv.Webhooks(ctx, "order-c")
	assert.ErrorIs(t, err, inicistest.ErrNoNotification, "card payments are not notified")
}

// The bank canceling a deposit: Inicis records the payment canceled and
// sends a 0400 notice for the same deposit tid under a new sequence; a
// further notice for it is a new message again. The shop's parser accepts
// each, with distinct dedup keys.
func TestVirtualAccount_DepositCanceledByTheBank(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	res, err := e.srv.PayVirtualAccount(ctx, pgtest.PayRequest{OrderID: "order-v", Amount: pg.Won(12000)})
	require.NoError(t, err)
	p, err := e.gw.Approve(ctx, pg.ApproveRequest{OrderID: "order-v", Amount: pg.Won(12000), Redirect: res.Redirect})
	require.NoError(t, err)
	require.ErrorIs(t, e.srv.CancelDeposit(ctx, "order-v"), inicistest.ErrNoDeposit, "nothing deposited yet")
	require.ErrorIs(t, e.srv.CancelDeposit(ctx, "order-none"), inicistest.ErrNoAccount)

	require.NoError(t, e.srv.Deposit(ctx, "order-v"))
	dep, _, err := e.srv.Webhooks(ctx, "order-v")
	require.NoError(t, err)
	deposit, err := e.gw.ParseWebhook(ctx, dep.Request(nil))
	require.NoError(t, err)

	require.NoError(t, e.srv.CancelDeposit(ctx, "order-v"))
	c1, _, err := e.srv.Webhooks(ctx, "order-v")
	require.NoError(t, err)
	require.NoError(t, e.srv.CancelDeposit(ctx, "order-v"))
	c2, _, err := e.srv.Webhooks(ctx, "order-v")
	require.NoError(t, err)

	depForm, _ := url.ParseQuery(string(dep.Body))
	keys := map[string]bool{deposit.DedupKey: true}
	for _, d := range []pgtest.WebhookDelivery{c1, c2} {
		form, err := url.ParseQuery(string(d.Body))
		require.NoError(t, err)
		assert.Equal(t, "0400", form.Get("type_msg"))
		assert.Equal(t, depForm.Get("no_tid"), form.Get("no_tid"), "the same deposit")
		assert.Equal(t, p.PaymentKey, form.Get("no_req_tid"))
		ev, err := e.gw.ParseWebhook(ctx, d.Request(nil))
		require.NoError(t, err)
		assert.Equal(t, pg.WebhookCancelStatus, ev.Type)
		assert.Equal(t, pg.StatusCanceled, ev.Status)
		assert.Equal(t, p.PaymentKey, ev.PaymentKey)
		keys[ev.DedupKey] = true
	}
	assert.Len(t, keys, 3, "three notices, three keys")

	got, err := e.gw.Lookup(ctx, pg.LookupRequest{PaymentKey: p.PaymentKey})
	require.NoError(t, err)
	assert.Equal(t, pg.StatusCanceled, got.Status)
	require.Len(t, got.Cancels, 1)
	assert.Equal(t, int64(12000), got.Cancels[0].Amount.Int64())
	l := ledgerOf(t, e.srv.Sandbox, "order-v")
	assert.Equal(t, int64(12000), l.Approved.Int64())
	assert.Equal(t, int64(12000), l.Canceled.Int64())
	assert.Equal(t, 1, l.Cancels, "one cancel, however often notified")
	assert.Equal(t, pg.StatusCanceled, l.Status)
}

// The sandbox signs its approval answers as Inicis does (the adapter
// verifies every one of them above); scripted to tamper with one, the
// adapter net-cancels it and the approval fails, with nothing captured.
func TestApprove_TamperedAnswerIsNetCanceled(t *testing.T) {
	t.Parallel()
	for _, method := range []string{"Card", "VBank"} {
		t.Run(method, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			ctx := context.Background()
			pay := e.srv.Pay
			if method == "VBank" {
				pay = e.srv.PayVirtualAccount
			}
			res, err := pay(ctx, pgtest.PayRequest{OrderID: "order-t", Amount: pg.Won(7000)})
			require.NoError(t, err)
			e.srv.TamperNextApproval()
			_, err = e.gw.Approve(ctx, pg.ApproveRequest{OrderID: "order-t", Amount: pg.Won(7000), Redirect: res.Redirect})
			require.ErrorIs(t, err, pg.ErrDeclined)
			var pe *pg.Error
			require.ErrorAs(t, err, &pe)
			assert.Equal(t, "AUTH_SIGNATURE_MISMATCH", pe.Code)

			l := ledgerOf(t, e.srv.Sandbox, "order-t")
			assert.Equal(t, 1, l.Approvals, "Inicis approved")
			assert.Equal(t, pg.StatusCanceled, l.Status, "and the approval was net-canceled")
			assert.Equal(t, l.Approved, l.Canceled)

			// Only the next answer was tampered with.
			_, p, err := e.approve(t, "order-u", 7000, pgtest.FaultNone)
			require.NoError(t, err)
			assert.Equal(t, pg.StatusApproved, p.Status)
		})
	}
}
