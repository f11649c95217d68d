package tosspaytest_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/paygate/paygate/pg"
	"github.com/paygate/paygate/pg/pgtest"
	"github.com/paygate/paygate/tosspay"
	"github.com/paygate/paygate/tosspay/tosspaytest"
)

// clock is a settable clock for expiries and settlement dates.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func newClock() *clock {
	return &clock{now: time.Date(2026, 3, 2, 10, 0, 0, 0, time.FixedZone("KST", 9*3600))}
}

func setup(t *testing.T, sbx tosspaytest.Config, gwMods ...func(*tosspay.Config)) (*tosspaytest.Server, *tosspay.Gateway) {
	t.Helper()
	if sbx.HoldMax == 0 {
		sbx.HoldMax = 10 * time.Second
	}
	srv := tosspaytest.NewServer(sbx)
	t.Cleanup(srv.Close)
	cfg := tosspay.Config{SecretKey: srv.SecretKey(), BaseURL: srv.URL, Timeout: 2 * time.Second,
		MaxAttempts: 3, BackoffMin: 5 * time.Millisecond, BackoffMax: 20 * time.Millisecond}
	for _, mod := range gwMods {
		mod(&cfg)
	}
	gw, err := tosspay.New(cfg)
	require.NoError(t, err)
	return srv, gw
}

func approveReq(orderID string, res pgtest.PayResult, amount pg.Money) pg.ApproveRequest {
	return pg.ApproveRequest{PaymentID: "pay_" + orderID, OrderID: orderID, Amount: amount, PaymentKey: res.PaymentKey}
}

// raw sends a Toss call by hand, to see the exact answer.
func raw(t *testing.T, srv *tosspaytest.Server, method, path, key, idem string, body string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(key+":")))
	req.Header.Set("Content-Type", "application/json")
	if idem != "" {
		req.Header.Set("Idempotency-Key", idem)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, b
}

func code(t *testing.T, body []byte) string {
	t.Helper()
	var e struct{ Code string }
	require.NoError(t, json.Unmarshal(body, &e), string(body))
	return e.Code
}

func TestConfirm_SameKey_ReplaysFirstAnswerByteForByte(t *testing.T) {
	t.Parallel()
	srv, _ := setup(t, tosspaytest.Config{})
	res, err := srv.Pay(context.Background(), pgtest.PayRequest{OrderID: "order-idem-1", Amount: pg.Won(15000)})
	require.NoError(t, err)
	body := `{"paymentKey":"` + res.PaymentKey + `","orderId":"order-idem-1","amount":15000}`

	st1, b1 := raw(t, srv, "POST", "/v1/payments/confirm", srv.SecretKey(), "k-1", body)
	st2, b2 := raw(t, srv, "POST", "/v1/payments/confirm", srv.SecretKey(), "k-1", body)
	assert.Equal(t, 200, st1)
	assert.Equal(t, 200, st2)
	assert.Equal(t, b1, b2)

	st3, b3 := raw(t, srv, "POST", "/v1/payments/confirm", srv.SecretKey(), "k-2", body)
	assert.Equal(t, 400, st3)
	assert.Equal(t, "ALREADY_PROCESSED_PAYMENT", code(t, b3), "a new key is a new request")

	// The same key on another URL is another request (key scope).
	st4, b4 := raw(t, srv, "POST", "/v1/payments/"+res.PaymentKey+"/cancel", srv.SecretKey(), "k-1", `{"cancelReason":"x","cancelAmount":1000}`)
	assert.Equal(t, 200, st4, string(b4))
	led := srv.Ledger()
	require.Len(t, led, 1)
	assert.Equal(t, 1, led[0].Approvals)
	assert.Equal(t, 1, led[0].Cancels)

	st5, b5 := raw(t, srv, "POST", "/v1/payments/confirm", srv.SecretKey(), strings.Repeat("k", 301), body)
	assert.Equal(t, 400, st5)
	assert.Equal(t, "INVALID_IDEMPOTENCY_KEY", code(t, b5))
}

func TestConfirm_SameKeyWhileInFlight_409ThenFirstCompletes(t *testing.T) {
	t.Parallel()
	srv, _ := setup(t, tosspaytest.Config{})
	res, err := srv.PayScripted(context.Background(), "order-inflight", pg.Won(15000), tosspaytest.Script{Latency: 5 * time.Second})
	require.NoError(t, err)
	body := `{"paymentKey":"` + res.PaymentKey + `","orderId":"order-inflight","amount":15000}`

	type answer struct {
		status int
		body   []byte
	}
	// Two clients send the same key at once; whichever arrives second while
	// the first is processing (5 s) must get 409, and the first completes.
	other := make(chan answer, 1)
	go func() {
		st, b := raw(t, srv, "POST", "/v1/payments/confirm", srv.SecretKey(), "k-1", body)
		other <- answer{st, b}
	}()
	st, b := raw(t, srv, "POST", "/v1/payments/confirm", srv.SecretKey(), "k-1", body)
	answers := []answer{{st, b}, <-other}
	var ok, conflicts []answer
	for _, a := range answers {
		switch a.status {
		case http.StatusOK:
			ok = append(ok, a)
		case http.StatusConflict:
			assert.Equal(t, "IDEMPOTENT_REQUEST_PROCESSING", code(t, a.body))
			conflicts = append(conflicts, a)
		default:
			t.Fatalf("unexpected answer %d %s", a.status, a.body)
		}
	}
	require.Len(t, ok, 1, "one call processed")
	require.NotEmpty(t, conflicts, "the concurrent call was told the first is in flight")
	st, b = raw(t, srv, "POST", "/v1/payments/confirm", srv.SecretKey(), "k-1", body)
	assert.Equal(t, 200, st)
	assert.Equal(t, ok[0].body, b, "afterwards the first answer is replayed")
	assert.Equal(t, 1, srv.Ledger()[0].Approvals)
}

func TestApprove_LostAnswerOnce_RecoveredByResendWithSameKey(t *testing.T) {
	t.Parallel()
	srv, gw := setup(t, tosspaytest.Config{}, func(c *tosspay.Config) { c.Timeout = 300 * time.Millisecond })
	res, err := srv.Pay(context.Background(), pgtest.PayRequest{OrderID: "order-lost-1", Amount: pg.Won(15000)})
	require.NoError(t, err)
	require.NoError(t, srv.FailNext(pgtest.OpApprove, "order-lost-1", pgtest.FaultTimeout))
	p, err := gw.Approve(context.Background(), approveReq("order-lost-1", res, pg.Won(15000)))
	require.NoError(t, err, "the resend with the same Idempotency-Key gets the first result")
	assert.Equal(t, pg.StatusApproved, p.Status)
	assert.Equal(t, 1, srv.Ledger()[0].Approvals)
}

func TestExpiry_TossTimeLimitsOnTheInjectedClock(t *testing.T) {
	t.Parallel()
	clk := newClock()
	srv, gw := setup(t, tosspaytest.Config{Now: clk.Now})
	ctx := context.Background()

	res, err := srv.Pay(ctx, pgtest.PayRequest{OrderID: "order-exp-1", Amount: pg.Won(5000)})
	require.NoError(t, err)
	clk.Advance(tosspaytest.ConfirmTTL)
	_, err = gw.Approve(ctx, approveReq("order-exp-1", res, pg.Won(5000)))
	var pe *pg.Error
	require.ErrorAs(t, err, &pe)
	assert.Equal(t, "NOT_FOUND_PAYMENT_SESSION", pe.Code)
	assert.Equal(t, pg.KindDeclined, pe.Kind)
	p, err := gw.Lookup(ctx, pg.LookupRequest{PaymentKey: res.PaymentKey})
	require.NoError(t, err)
	assert.Equal(t, pg.StatusExpired, p.Status)

	key, err := srv.Open("order-exp-2", pg.Won(5000))
	require.NoError(t, err)
	p, err = gw.Lookup(ctx, pg.LookupRequest{PaymentKey: key})
	require.NoError(t, err)
	assert.Equal(t, pg.StatusPending, p.Status, "READY is pending")
	clk.Advance(tosspaytest.WindowTTL - time.Second)
	p, err = gw.Lookup(ctx, pg.LookupRequest{OrderID: "order-exp-2"})
	require.NoError(t, err)
	assert.Equal(t, pg.StatusPending, p.Status)
	clk.Advance(time.Second)
	p, err = gw.Lookup(ctx, pg.LookupRequest{OrderID: "order-exp-2"})
	require.NoError(t, err)
	assert.Equal(t, "EXPIRED", p.PGStatus)

	// A failed or expired attempt leaves the order payable again.
	res2, err := srv.Pay(ctx, pgtest.PayRequest{OrderID: "order-exp-1", Amount: pg.Won(5000)})
	require.NoError(t, err)
	_, err = gw.Approve(ctx, pg.ApproveRequest{PaymentID: "pay_2", OrderID: "order-exp-1", Amount: pg.Won(5000), PaymentKey: res2.PaymentKey})
	require.NoError(t, err)
	_, err = srv.Pay(ctx, pgtest.PayRequest{OrderID: "order-exp-1", Amount: pg.Won(5000)})
	assert.ErrorIs(t, err, tosspaytest.ErrDuplicatedOrder)
}

func TestConfirm_ChecksAmountOrderAndKey(t *testing.T) {
	t.Parallel()
	srv, gw := setup(t, tosspaytest.Config{})
	ctx := context.Background()
	res, err := srv.Pay(ctx, pgtest.PayRequest{OrderID: "order-chk-1", Amount: pg.Won(15000)})
	require.NoError(t, err)
	for name, req := range map[string]pg.ApproveRequest{
		"amount differs": {PaymentID: "p1", OrderID: "order-chk-1", Amount: pg.Won(14000), PaymentKey: res.PaymentKey},
		"order differs":  {PaymentID: "p2", OrderID: "order-chk-2", Amount: pg.Won(15000), PaymentKey: res.PaymentKey},
		"unknown key":    {PaymentID: "p3", OrderID: "order-chk-1", Amount: pg.Won(15000), PaymentKey: "tsbx-unknown"},
	} {
		_, err := gw.Approve(ctx, req)
		require.Error(t, err, name)
		assert.Contains(t, []pg.Kind{pg.KindInvalid, pg.KindNotFound}, pg.KindOf(err), "%s: %v", name, err)
	}
	assert.Equal(t, 0, srv.Ledger()[0].Approvals)

	st, b := raw(t, srv, "POST", "/v1/payments/confirm", "test_sk_wrong", "", `{}`)
	assert.Equal(t, 401, st)
	assert.Equal(t, "UNAUTHORIZED_KEY", code(t, b))
	req, _ := http.NewRequest("GET", srv.URL+"/v1/payments/x", nil)
	req.Header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(srv.SecretKey())))
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	b, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.Equal(t, 403, resp.StatusCode)
	assert.Equal(t, "INCORRECT_BASIC_AUTH_FORMAT", code(t, b), "the trailing colon is required")
}

func TestCancel_TossRulesAndCodes(t *testing.T) {
	t.Parallel()
	srv, gw := setup(t, tosspaytest.Config{})
	ctx := context.Background()
	res, err := srv.Pay(ctx, pgtest.PayRequest{OrderID: "order-cnl-1", Amount: pg.Won(10000)})
	require.NoError(t, err)
	_, err = gw.Approve(ctx, approveReq("order-cnl-1", res, pg.Won(10000)))
	require.NoError(t, err)
	cancel := func(id string, amount, balance pg.Money) error {
		_, err := gw.Cancel(ctx, pg.CancelRequest{CancelID: id, PaymentKey: res.PaymentKey, Amount: amount, Balance: balance, Reason: "test"})
		return err
	}
	codeOf := func(err error) string {
		var pe *pg.Error
		require.ErrorAs(t, err, &pe)
		return pe.Code
	}
	assert.Equal(t, "NOT_MATCHES_REFUNDABLE_AMOUNT", codeOf(cancel("c1", pg.Won(1000), pg.Won(9000))))
	assert.Equal(t, "NOT_CANCELABLE_AMOUNT", codeOf(cancel("c2", pg.Won(10001), pg.Money{})))
	require.NoError(t, cancel("c3", pg.Won(4000), pg.Won(10000)))
	require.NoError(t, cancel("c4", pg.Money{}, pg.Won(6000)))
	err = cancel("c5", pg.Money{}, pg.Money{})
	assert.Equal(t, "ALREADY_CANCELED_PAYMENT", codeOf(err))
	assert.Equal(t, pg.KindAlreadyDone, pg.KindOf(err))

	p := srv.Payments()[0]
	assert.Equal(t, "CANCELED", p.Status)
	require.Len(t, p.Cancels, 2)
	assert.True(t, pg.Won(4000).Equal(p.Cancels[0].Amount))
	assert.True(t, pg.Won(6000).Equal(p.Cancels[1].Amount))
}

func TestTestCode_HonouredForTestKeysOnly(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	srv, gw := setup(t, tosspaytest.Config{})
	res, err := srv.Pay(ctx, pgtest.PayRequest{OrderID: "order-tc-1", Amount: pg.Won(10000)})
	require.NoError(t, err)
	_, err = gw.Approve(tosspay.ContextWithTestCode(ctx, "REJECT_CARD_PAYMENT"), approveReq("order-tc-1", res, pg.Won(10000)))
	var pe *pg.Error
	require.ErrorAs(t, err, &pe)
	assert.Equal(t, "REJECT_CARD_PAYMENT", pe.Code)
	assert.Equal(t, pg.KindDeclined, pe.Kind)
	_, err = gw.Approve(tosspay.ContextWithTestCode(ctx, "NO_SUCH_CODE"), approveReq("order-tc-1", res, pg.Won(10000)))
	require.ErrorAs(t, err, &pe)
	assert.Equal(t, "INVALID_TEST_CODE", pe.Code)
	assert.Equal(t, 0, srv.Ledger()[0].Approvals)

	live, liveGw := setup(t, tosspaytest.Config{SecretKey: "live_sk_sandbox"}, func(c *tosspay.Config) { c.TestCode = "REJECT_CARD_PAYMENT" })
	res, err = live.Pay(ctx, pgtest.PayRequest{OrderID: "order-tc-2", Amount: pg.Won(10000)})
	require.NoError(t, err)
	_, err = liveGw.Approve(ctx, approveReq("order-tc-2", res, pg.Won(10000)))
	require.NoError(t, err, "live keys ignore the header")
}

func TestWebhooks_DeliveredWithTossHeadersAndRetrySchedule(t *testing.T) {
	t.Parallel()
	var (
		mu       sync.Mutex
		received []*http.Request
		bodies   [][]byte
		answered atomic.Int32
	)
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		received = append(received, r)
		bodies = append(bodies, b)
		n := len(received)
		mu.Unlock()
		if n < 3 {
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		answered.Add(1)
	}))
	defer hook.Close()
	srv, gw := setup(t, tosspaytest.Config{WebhookURL: hook.URL,
		WebhookSchedule: []time.Duration{10 * time.Millisecond, 20 * time.Millisecond, 40 * time.Millisecond}})
	ctx := context.Background()
	res, err := srv.Pay(ctx, pgtest.PayRequest{OrderID: "order-wh-1", Amount: pg.Won(10000)})
	require.NoError(t, err)
	p, err := gw.Approve(ctx, approveReq("order-wh-1", res, pg.Won(10000)))
	require.NoError(t, err)

	require.Eventually(t, func() bool { return answered.Load() == 1 }, 20*time.Second, 10*time.Millisecond)
	mu.Lock()
	defer mu.Unlock()
	require.Len(t, received, 3, "first send and two retries until 200")
	ids := map[string]bool{}
	var keys []string
	for i, r := range received {
		assert.Equal(t, http.MethodPost, r.Method)
		assert.Equal(t, "application/json", r.Header.Get("Content-Type"))
		assert.NotEmpty(t, r.Header.Get(tosspay.HeaderTransmissionTime))
		assert.Equal(t, []string{"0", "1", "2"}[i], r.Header.Get(tosspay.HeaderTransmissionRetried))
		ids[r.Header.Get(tosspay.HeaderTransmissionID)] = true
		assert.Equal(t, bodies[0], bodies[i], "a retry carries the same body")
		ev, err := gw.ParseWebhook(ctx, pg.WebhookRequest{Header: r.Header, Body: bodies[i],
			Secret: func(context.Context, string, string) (string, bool) { return p.Secret, true }})
		require.NoError(t, err)
		assert.Equal(t, pg.StatusApproved, ev.Status)
		keys = append(keys, ev.DedupKey)
	}
	assert.Len(t, ids, 3, "every transmission has its own id")
	assert.Equal(t, keys[0], keys[1])
	assert.Equal(t, keys[0], keys[2])
	// The sandbox records a transmission once the receiver's answer is in.
	require.Eventually(t, func() bool { return len(srv.Deliveries()) == 3 }, 20*time.Second, 10*time.Millisecond)
	assert.Equal(t, http.StatusOK, srv.Deliveries()[2].Status)
}

func TestMountedUnderPrefix_ServesTheSameAPI(t *testing.T) {
	t.Parallel()
	mux := http.NewServeMux()
	host := httptest.NewServer(mux)
	defer host.Close()
	sb := tosspaytest.New(tosspaytest.Config{BaseURL: host.URL + "/sandbox/tosspay"})
	defer sb.Close()
	mux.Handle("/sandbox/tosspay/", sb)
	gw, err := tosspay.New(tosspay.Config{SecretKey: sb.SecretKey(), BaseURL: sb.BaseURL()})
	require.NoError(t, err)

	resp, err := http.Post(host.URL+"/sandbox/tosspay/_sandbox/pay", "application/json", strings.NewReader(`{"orderId":"order-mnt-1","amount":15000}`))
	require.NoError(t, err)
	var paid struct {
		PaymentKey string      `json:"paymentKey"`
		OrderID    string      `json:"orderId"`
		Amount     json.Number `json:"amount"`
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&paid))
	resp.Body.Close()
	assert.Equal(t, "order-mnt-1", paid.OrderID)
	assert.Equal(t, "15000", paid.Amount.String())

	p, err := gw.Approve(context.Background(), pg.ApproveRequest{PaymentID: "pay_m", OrderID: "order-mnt-1", Amount: pg.Won(15000), PaymentKey: paid.PaymentKey})
	require.NoError(t, err)
	assert.Equal(t, pg.StatusApproved, p.Status)

	resp, err = http.Get(host.URL + "/sandbox/tosspay/_sandbox/ledger")
	require.NoError(t, err)
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.JSONEq(t, `[{"orderId":"order-mnt-1","paymentKey":"`+paid.PaymentKey+`","approved":15000,"canceled":0,"currency":"KRW","approvals":1,"cancels":0,"status":"APPROVED"}]`, string(b))

	resp, err = http.Post(host.URL+"/sandbox/tosspay/_sandbox/pay", "application/json", strings.NewReader(`{"orderId":"x","amount":15000}`))
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusBadRequest, resp.StatusCode, "bad order id refused")
}

func TestReports_TransactionsNowSettlementsFromTheNextDay(t *testing.T) {
	t.Parallel()
	clk := newClock()
	srv, gw := setup(t, tosspaytest.Config{Now: clk.Now}, func(c *tosspay.Config) { c.ReportPageSize = 1 })
	ctx := context.Background()
	res, err := srv.Pay(ctx, pgtest.PayRequest{OrderID: "order-rep-1", Amount: pg.Won(10000)})
	require.NoError(t, err)
	p, err := gw.Approve(ctx, approveReq("order-rep-1", res, pg.Won(10000)))
	require.NoError(t, err)
	clk.Advance(time.Minute)
	_, err = gw.Cancel(ctx, pg.CancelRequest{CancelID: "c1", PaymentKey: p.PaymentKey, Amount: pg.Won(2500), Balance: pg.Won(10000), Reason: "r"})
	require.NoError(t, err)

	today := time.Date(2026, 3, 2, 0, 0, 0, 0, time.FixedZone("KST", 9*3600))
	q := pg.ReportQuery{From: today, To: today.Add(24*time.Hour - time.Second)}
	txs, err := gw.Transactions(ctx, q)
	require.NoError(t, err)
	require.Len(t, txs, 2, "paged one by one")
	want := srv.Transactions()
	require.Len(t, want, 2)
	for i := range want {
		assert.Equal(t, want[i].TransactionKey, txs[i].TransactionKey)
		assert.Equal(t, want[i].Cancel, txs[i].Cancel)
		assert.Equal(t, want[i].Status, txs[i].Status)
		assert.True(t, want[i].Amount.Equal(txs[i].Amount))
		assert.True(t, want[i].At.Equal(txs[i].At))
	}
	assert.False(t, txs[0].Cancel)
	assert.True(t, txs[1].Cancel)

	rows, err := gw.Settlements(ctx, q)
	require.NoError(t, err)
	assert.Empty(t, rows, "settlement records appear from the day after")
	clk.Advance(24 * time.Hour)
	rows, err = gw.Settlements(ctx, q)
	require.NoError(t, err)
	require.Len(t, rows, 2)
	assert.True(t, pg.Won(10000).Equal(rows[0].Amount))
	assert.True(t, pg.Won(320).Equal(rows[0].Fee))
	assert.True(t, pg.Won(9680).Equal(rows[0].Payout))
	assert.True(t, pg.Won(2500).Equal(rows[1].Amount))
}

func TestVirtualAccount_IssueDepositCallbacksAndRefundRules(t *testing.T) {
	t.Parallel()
	clk := newClock()
	srv, gw := setup(t, tosspaytest.Config{Now: clk.Now})
	ctx := context.Background()
	res, err := srv.PayVirtualAccount(ctx, pgtest.PayRequest{OrderID: "order-va-1", Amount: pg.Won(20000)})
	require.NoError(t, err)
	p, err := gw.Approve(ctx, approveReq("order-va-1", res, pg.Won(20000)))
	require.NoError(t, err)
	assert.Equal(t, pg.StatusWaitingForDeposit, p.Status)
	assert.Equal(t, pg.MethodVirtualAccount, p.Method)
	require.NotNil(t, p.VirtualAccount)
	assert.NotEmpty(t, p.VirtualAccount.AccountNumber)
	assert.True(t, p.VirtualAccount.DueDate.Equal(clk.Now().Add(tosspaytest.VirtualAccountTTL)))
	assert.Equal(t, 0, srv.Ledger()[0].Approvals, "nothing captured before the deposit")
	secret := func(context.Context, string, string) (string, bool) { return p.Secret, true }

	issued, err := srv.DepositCallback("order-va-1")
	require.NoError(t, err)
	ev, err := gw.ParseWebhook(ctx, issued.Request(secret))
	require.NoError(t, err)
	assert.Equal(t, pg.WebhookDeposit, ev.Type)
	assert.Equal(t, pg.StatusWaitingForDeposit, ev.Status)

	_, err = gw.Cancel(ctx, pg.CancelRequest{CancelID: "c0", PaymentKey: p.PaymentKey, Amount: pg.Won(1000), Reason: "r"})
	var pe *pg.Error
	require.ErrorAs(t, err, &pe)
	assert.Equal(t, "NOT_ALLOWED_PARTIAL_REFUND_WAITING_DEPOSIT", pe.Code)

	require.NoError(t, srv.Deposit(ctx, "order-va-1"))
	deposited, err := srv.DepositCallback("order-va-1")
	require.NoError(t, err)
	ev2, err := gw.ParseWebhook(ctx, deposited.Request(secret))
	require.NoError(t, err)
	assert.Equal(t, pg.StatusApproved, ev2.Status)
	assert.NotEqual(t, ev.DedupKey, ev2.DedupKey)
	l := srv.Ledger()[0]
	assert.Equal(t, 1, l.Approvals)
	assert.True(t, pg.Won(20000).Equal(l.Approved))

	_, err = gw.Cancel(ctx, pg.CancelRequest{CancelID: "c1", PaymentKey: p.PaymentKey, Amount: pg.Won(5000), Balance: pg.Won(20000), Reason: "r"})
	require.ErrorAs(t, err, &pe)
	assert.Equal(t, "INVALID_REFUND_ACCOUNT_INFO", pe.Code, "a deposited account refunds to an account")
	after, err := gw.Cancel(ctx, pg.CancelRequest{CancelID: "c2", PaymentKey: p.PaymentKey, Amount: pg.Won(5000), Balance: pg.Won(20000), Reason: "r",
		RefundAccount: &pg.RefundAccount{Bank: "88", AccountNumber: "12345678901234", HolderName: "박토스"}})
	require.NoError(t, err)
	assert.Equal(t, pg.StatusPartialCanceled, after.Status)
	assert.True(t, pg.Won(5000).Equal(srv.Ledger()[0].Canceled))
}

func TestVirtualAccount_CanceledBeforeDepositRefundsNothing_ExpiredRefusesDeposit(t *testing.T) {
	t.Parallel()
	clk := newClock()
	srv, gw := setup(t, tosspaytest.Config{Now: clk.Now})
	ctx := context.Background()
	for _, id := range []string{"order-va-2", "order-va-3"} {
		res, err := srv.PayVirtualAccount(ctx, pgtest.PayRequest{OrderID: id, Amount: pg.Won(20000)})
		require.NoError(t, err)
		_, err = gw.Approve(ctx, approveReq(id, res, pg.Won(20000)))
		require.NoError(t, err)
	}
	p, err := gw.Lookup(ctx, pg.LookupRequest{OrderID: "order-va-2"})
	require.NoError(t, err)
	canceled, err := gw.Cancel(ctx, pg.CancelRequest{CancelID: "c1", PaymentKey: p.PaymentKey, Reason: "r"})
	require.NoError(t, err)
	assert.Equal(t, pg.StatusCanceled, canceled.Status)
	l := srv.Ledger()
	assert.Equal(t, pg.StatusCanceled, l[0].Status)
	assert.True(t, l[0].Canceled.IsZero(), "nothing was captured, nothing refunded")
	assert.Equal(t, 0, l[0].Approvals)

	clk.Advance(tosspaytest.VirtualAccountTTL)
	assert.ErrorIs(t, srv.Deposit(ctx, "order-va-3"), tosspaytest.ErrDepositExpired)
	got, err := gw.Lookup(ctx, pg.LookupRequest{OrderID: "order-va-3"})
	require.NoError(t, err)
	assert.Equal(t, pg.StatusExpired, got.Status)
	assert.Equal(t, pg.StatusExpired, srv.Ledger()[1].Status)
}

func TestLostAnswer_ResetAtOnce_UnknownThenFoundByLookup(t *testing.T) {
	t.Parallel()
	srv, gw := setup(t, tosspaytest.Config{}, func(c *tosspay.Config) { c.Timeout = 30 * time.Second })
	ctx := context.Background()
	tests := []struct {
		fault         pgtest.Fault
		wantApprovals int
		wantStatus    pg.Status
	}{
		{pgtest.FaultTimeout, 1, pg.StatusApproved},
		{pgtest.FaultTimeoutUnapproved, 0, pg.StatusPending},
	}
	for i, tt := range tests {
		order := fmt.Sprintf("order-reset-%d", i)
		res, err := srv.PayScripted(ctx, order, pg.Won(7000), tosspaytest.Script{Fault: tt.fault, Reset: true})
		require.NoError(t, err)
		_, err = gw.Approve(ctx, approveReq(order, res, pg.Won(7000)))
		assert.Equal(t, pg.KindUnknown, pg.KindOf(err), "%s: a reset after sending is unknown: %v", tt.fault, err)
		p, err := gw.Lookup(ctx, pg.LookupRequest{OrderID: order})
		require.NoError(t, err)
		assert.Equal(t, tt.wantStatus, p.Status)
		assert.Equal(t, tt.wantApprovals, srv.Ledger()[i].Approvals)
	}
}
