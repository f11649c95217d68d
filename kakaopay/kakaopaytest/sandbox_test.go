package kakaopaytest_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/paygate/paygate/kakaopay/kakaopaytest"
	"github.com/paygate/paygate/pg"
	"github.com/paygate/paygate/pg/pgtest"
)

// client speaks the sandbox's wire format directly, so these tests pin the
// sandbox independently of the adapter.
type client struct {
	t      *testing.T
	base   string
	legacy bool
	key    string
	hc     *http.Client
}

func newClient(t *testing.T, base string, legacy bool) *client {
	key := kakaopaytest.DefaultSecretKey
	if legacy {
		key = kakaopaytest.DefaultAdminKey
	}
	return &client{t: t, base: base, legacy: legacy, key: key, hc: &http.Client{Timeout: time.Minute}}
}

// call posts params to the op and returns the status and the decoded body.
func (c *client) call(op string, params map[string]any) (int, map[string]any) {
	c.t.Helper()
	status, body, err := c.try(op, params)
	require.NoError(c.t, err)
	var m map[string]any
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	require.NoError(c.t, dec.Decode(&m), "body %s", body)
	return status, m
}

func (c *client) try(op string, params map[string]any) (int, []byte, error) {
	var req *http.Request
	var err error
	if c.legacy {
		v := url.Values{}
		for k, p := range params {
			v.Set(k, fmt.Sprint(p))
		}
		req, err = http.NewRequest(http.MethodPost, c.base+"/v1/payment/"+op, strings.NewReader(v.Encode()))
		require.NoError(c.t, err)
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded;charset=utf-8")
		req.Header.Set("Authorization", "KakaoAK "+c.key)
	} else {
		b, _ := json.Marshal(params)
		req, err = http.NewRequest(http.MethodPost, c.base+"/online/v1/payment/"+op, bytes.NewReader(b))
		require.NoError(c.t, err)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "SECRET_KEY "+c.key)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp.StatusCode, body, err
}

func readyParams(orderID string, total int) map[string]any {
	return map[string]any{
		"cid": kakaopaytest.TestCID, "partner_order_id": orderID, "partner_user_id": "user-1",
		"item_name": "초코파이", "quantity": 1, "total_amount": total, "tax_free_amount": 0,
		"approval_url": "https://shop.example/kakao/ok", "cancel_url": "https://shop.example/kakao/cancel",
		"fail_url": "https://shop.example/kakao/fail",
	}
}

// ready readies an order and returns its tid.
func (c *client) ready(orderID string, total int) string {
	c.t.Helper()
	status, body := c.call("ready", readyParams(orderID, total))
	require.Equal(c.t, http.StatusOK, status, "%v", body)
	return body["tid"].(string)
}

func (c *client) approveParams(tid, orderID, token string) map[string]any {
	return map[string]any{
		"cid": kakaopaytest.TestCID, "tid": tid, "partner_order_id": orderID,
		"partner_user_id": "user-1", "pg_token": token,
	}
}

func pay(t *testing.T, sb pgtest.Sandbox, orderID string, total int64, f pgtest.Fault) string {
	t.Helper()
	res, err := sb.Pay(context.Background(), pgtest.PayRequest{OrderID: orderID, Amount: pg.Won(total), Fault: f})
	require.NoError(t, err)
	require.NotEmpty(t, res.Redirect["pg_token"])
	return res.Redirect["pg_token"]
}

// errorCode reads the code of either error shape.
func errorCode(body map[string]any) string {
	if c, ok := body["error_code"]; ok {
		return fmt.Sprint(c)
	}
	return fmt.Sprint(body["code"])
}

func TestPaymentLifecycle_BothAPIs(t *testing.T) {
	t.Parallel()
	for _, legacy := range []bool{false, true} {
		t.Run(fmt.Sprintf("legacy=%v", legacy), func(t *testing.T) {
			t.Parallel()
			srv := kakaopaytest.NewServer(kakaopaytest.Config{})
			defer srv.Close()
			c := newClient(t, srv.URL, legacy)

			tid := c.ready("order-1", 10000)
			assert.Len(t, tid, 20)
			assert.True(t, strings.HasPrefix(tid, "T"))

			status, body := c.call("order", map[string]any{"cid": kakaopaytest.TestCID, "tid": tid})
			require.Equal(t, http.StatusOK, status)
			assert.Equal(t, "READY", body["status"])

			token := pay(t, srv, "order-1", 10000, pgtest.FaultNone)
			status, body = c.call("approve", c.approveParams(tid, "order-1", token))
			require.Equal(t, http.StatusOK, status, "%v", body)
			assert.Equal(t, tid, body["tid"])
			assert.Equal(t, "CARD", body["payment_method_type"])
			amount := body["amount"].(map[string]any)
			assert.Equal(t, json.Number("10000"), amount["total"])
			assert.Equal(t, json.Number("909"), amount["vat"], "(10000-0)/11 rounded")
			assert.NotNil(t, body["card_info"])
			assert.Regexp(t, `^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d$`, body["approved_at"])

			status, body = c.call("cancel", map[string]any{
				"cid": kakaopaytest.TestCID, "tid": tid, "cancel_amount": 3000,
				"cancel_tax_free_amount": 0, "cancel_available_amount": 10000, "payload": "cancel-1",
			})
			require.Equal(t, http.StatusOK, status, "%v", body)
			assert.Equal(t, "PART_CANCEL_PAYMENT", body["status"])
			assert.Equal(t, json.Number("3000"), body["approved_cancel_amount"].(map[string]any)["total"])
			assert.Equal(t, json.Number("7000"), body["cancel_available_amount"].(map[string]any)["total"])

			status, body = c.call("cancel", map[string]any{
				"cid": kakaopaytest.TestCID, "tid": tid, "cancel_amount": 7000,
				"cancel_tax_free_amount": 0, "cancel_available_amount": 7000,
			})
			require.Equal(t, http.StatusOK, status, "%v", body)
			assert.Equal(t, "CANCEL_PAYMENT", body["status"])

			status, body = c.call("order", map[string]any{"cid": kakaopaytest.TestCID, "tid": tid})
			require.Equal(t, http.StatusOK, status)
			assert.Equal(t, "CANCEL_PAYMENT", body["status"])
			assert.Equal(t, json.Number("10000"), body["canceled_amount"].(map[string]any)["total"])
			actions := body["payment_action_details"].([]any)
			require.Len(t, actions, 3)
			kinds := []string{}
			for _, a := range actions {
				kinds = append(kinds, a.(map[string]any)["payment_action_type"].(string))
			}
			assert.Equal(t, []string{"PAYMENT", "CANCEL", "CANCEL"}, kinds)
			assert.Equal(t, "cancel-1", actions[1].(map[string]any)["payload"])

			ledger := srv.Ledger()
			require.Len(t, ledger, 1)
			assert.Equal(t, pgtest.LedgerEntry{
				OrderID: "order-1", PaymentKey: tid, Approved: pg.Won(10000), Canceled: pg.Won(10000),
				Approvals: 1, Cancels: 2, Status: pg.StatusCanceled,
			}, ledger[0])
		})
	}
}

func TestRefusals_CarryKakaoPayErrorBodies(t *testing.T) {
	t.Parallel()
	srv := kakaopaytest.NewServer(kakaopaytest.Config{})
	defer srv.Close()
	c := newClient(t, srv.URL, false)

	approved := c.ready("approved", 5000)
	tok := pay(t, srv, "approved", 5000, pgtest.FaultNone)
	status, _ := c.call("approve", c.approveParams(approved, "approved", tok))
	require.Equal(t, http.StatusOK, status)

	unpaid := c.ready("unpaid", 5000)
	paid := c.ready("paid", 5000)
	paidTok := pay(t, srv, "paid", 5000, pgtest.FaultNone)

	canceled := c.ready("canceled", 1000)
	canTok := pay(t, srv, "canceled", 1000, pgtest.FaultNone)
	status, _ = c.call("approve", c.approveParams(canceled, "canceled", canTok))
	require.Equal(t, http.StatusOK, status)
	status, _ = c.call("cancel", map[string]any{"cid": kakaopaytest.TestCID, "tid": canceled, "cancel_amount": 1000, "cancel_tax_free_amount": 0})
	require.Equal(t, http.StatusOK, status)

	with := func(m map[string]any, k string, v any) map[string]any {
		out := map[string]any{}
		for a, b := range m {
			out[a] = b
		}
		if v == nil {
			delete(out, k)
		} else {
			out[k] = v
		}
		return out
	}
	cancel := func(tid string, amount, guard int) map[string]any {
		m := map[string]any{"cid": kakaopaytest.TestCID, "tid": tid, "cancel_amount": amount, "cancel_tax_free_amount": 0}
		if guard >= 0 {
			m["cancel_available_amount"] = guard
		}
		return m
	}
	tests := []struct {
		name   string
		op     string
		params map[string]any
		status int
		code   string
	}{
		{"wrong pg_token", "approve", c.approveParams(paid, "paid", "not-the-token"), 400, "-708"},
		{"amount mismatch", "approve", with(c.approveParams(paid, "paid", paidTok), "total_amount", 4999), 400, "-722"},
		{"buyer has not paid", "approve", c.approveParams(unpaid, "unpaid", "whatever"), 400, "-701"},
		{"second approval", "approve", c.approveParams(approved, "approved", tok), 400, "-702"},
		{"unknown tid", "approve", c.approveParams("T0000000000000000000", "x", "y"), 400, "-721"},
		{"partner_user_id differs", "approve", with(c.approveParams(paid, "paid", paidTok), "partner_user_id", "someone-else"), 400, "-707"},
		{"partner_order_id differs", "approve", c.approveParams(paid, "unpaid", paidTok), 400, "-706"},
		{"approved tid of another order", "approve", c.approveParams(approved, "paid", tok), 400, "-706"},
		{"missing pg_token", "approve", with(c.approveParams(paid, "paid", paidTok), "pg_token", nil), 400, "-2"},
		{"unknown cid", "order", map[string]any{"cid": "CXXXXXXXXX", "tid": approved}, 400, "-731"},
		{"over-cancel", "cancel", cancel(approved, 5001, -1), 400, "-710"},
		{"stale balance guard", "cancel", cancel(approved, 1000, 4000), 400, "-710"},
		{"already canceled", "cancel", cancel(canceled, 1000, -1), 400, "-710"},
		{"cancel before approval", "cancel", cancel(unpaid, 1000, -1), 400, "-781"},
		{"cancel of nothing", "cancel", cancel(approved, 0, -1), 400, "-2"},
		{"ready without amount", "ready", with(readyParams("o", 1), "total_amount", nil), 400, "-2"},
		{"ready with relative URL", "ready", with(readyParams("o", 1), "approval_url", "/ok"), 400, "-2"},
		{"ready with fractional amount", "ready", with(readyParams("o", 1), "total_amount", "10.5"), 400, "-2"},
		{"ready with 101 Hangul characters of partner_user_id", "ready", with(readyParams("o", 1), "partner_user_id", strings.Repeat("가", 101)), 400, "-2"},
		{"ready with 101 Hangul characters of item_name", "ready", with(readyParams("o", 1), "item_name", strings.Repeat("가", 101)), 400, "-2"},
		{"ready with 256-character approval_url", "ready", with(readyParams("o", 1), "approval_url", "https://s.example/"+strings.Repeat("a", 238)), 400, "-2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body := c.call(tt.op, tt.params)
			assert.Equal(t, tt.status, status)
			assert.Equal(t, tt.code, errorCode(body))
			assert.NotEmpty(t, body["error_message"])
		})
	}

	// Lengths are characters: 100 Hangul syllables (300 bytes) are taken.
	status, body := c.call("ready", with(with(readyParams("hangul", 1), "partner_user_id", strings.Repeat("가", 100)), "item_name", strings.Repeat("나", 100)))
	assert.Equal(t, http.StatusOK, status, "%v", body)

	// Nothing above moved money.
	for _, e := range srv.Ledger() {
		switch e.OrderID {
		case "approved":
			assert.Equal(t, 1, e.Approvals)
			assert.Equal(t, 0, e.Cancels)
		case "canceled":
			assert.Equal(t, 1, e.Cancels)
		default:
			assert.Zero(t, e.Approvals, e.OrderID)
		}
	}
}

func TestAuthorization_KeyAndSchemePerAPI(t *testing.T) {
	t.Parallel()
	srv := kakaopaytest.NewServer(kakaopaytest.Config{SecretKey: "right", AdminKey: "admin"})
	defer srv.Close()
	tests := []struct {
		name   string
		legacy bool
		key    string
		want   int
	}{
		{"current with its key", false, "right", 200},
		{"current with a wrong key", false, "wrong", 401},
		{"current with the admin key", false, "admin", 401},
		{"legacy with its key", true, "admin", 200},
		{"legacy with the secret key", true, "right", 401},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newClient(t, srv.URL, tt.legacy)
			c.key = tt.key
			status, body := c.call("ready", readyParams("o-"+tt.name, 1000))
			assert.Equal(t, tt.want, status)
			if tt.want == 401 {
				assert.Equal(t, "-401", errorCode(body))
				if tt.legacy {
					assert.Contains(t, body, "msg", "legacy error shape")
				} else {
					assert.Contains(t, body, "error_message", "current error shape")
				}
			}
		})
	}
}

func TestCurrentAPI_RefusesFormBodies(t *testing.T) {
	t.Parallel()
	srv := kakaopaytest.NewServer(kakaopaytest.Config{})
	defer srv.Close()
	req, err := http.NewRequest(http.MethodPost, srv.URL+"/online/v1/payment/ready", strings.NewReader("cid=TC0ONETIME"))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Authorization", "SECRET_KEY "+kakaopaytest.DefaultSecretKey)
	resp, err := srv.Client().Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	assert.Equal(t, http.StatusBadRequest, resp.StatusCode)
}

func TestApproveFaults(t *testing.T) {
	t.Parallel()
	tests := []struct {
		fault        pgtest.Fault
		wantDropped  bool
		wantStatus   int
		wantCode     string
		wantPGStatus string // order status after the faulted approval
		retryStatus  int    // a second approval of the same tid
	}{
		{pgtest.FaultNone, false, 200, "", "SUCCESS_PAYMENT", 400},
		{pgtest.FaultDecline, false, 400, "-780", "FAIL_PAYMENT", 400},
		{pgtest.FaultError500, false, 500, "-1", "AUTH_PASSWORD", 200},
		{pgtest.FaultTimeout, true, 0, "", "SUCCESS_PAYMENT", 400},
		{pgtest.FaultTimeoutUnapproved, true, 0, "", "AUTH_PASSWORD", 200},
	}
	for _, tt := range tests {
		name := string(tt.fault)
		if name == "" {
			name = "none"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			srv := kakaopaytest.NewServer(kakaopaytest.Config{})
			defer srv.Close()
			c := newClient(t, srv.URL, false)
			tid := c.ready("order", 2000)
			tok := pay(t, srv, "order", 2000, tt.fault)

			status, raw, err := c.try("approve", c.approveParams(tid, "order", tok))
			if tt.wantDropped {
				require.Error(t, err, "the response must be lost")
			} else {
				require.NoError(t, err)
				assert.Equal(t, tt.wantStatus, status)
				if tt.wantCode != "" {
					var body map[string]any
					require.NoError(t, json.Unmarshal(raw, &body))
					assert.Equal(t, tt.wantCode, errorCode(body))
				}
				if tt.fault == pgtest.FaultDecline {
					assert.Contains(t, string(raw), "method_result_code")
				}
			}
			_, order := c.call("order", map[string]any{"cid": kakaopaytest.TestCID, "tid": tid})
			assert.Equal(t, tt.wantPGStatus, order["status"])

			status, _ = c.call("approve", c.approveParams(tid, "order", tok))
			assert.Equal(t, tt.retryStatus, status, "the fault fires once")
			approvals := srv.Ledger()[0].Approvals
			assert.LessOrEqual(t, approvals, 1, "never approved twice")
		})
	}
}

func TestFailNext_CancelFaults(t *testing.T) {
	t.Parallel()
	tests := []struct {
		fault       pgtest.Fault
		dropped     bool
		status      int
		wantApplied bool
	}{
		{pgtest.FaultTimeout, true, 0, true},
		{pgtest.FaultTimeoutUnapproved, true, 0, false},
		{pgtest.FaultError500, false, 500, false},
		{pgtest.FaultDecline, false, 400, false},
	}
	for _, tt := range tests {
		t.Run(string(tt.fault), func(t *testing.T) {
			t.Parallel()
			srv := kakaopaytest.NewServer(kakaopaytest.Config{})
			defer srv.Close()
			c := newClient(t, srv.URL, false)
			tid := c.ready("order", 2000)
			tok := pay(t, srv, "order", 2000, pgtest.FaultNone)
			status, _ := c.call("approve", c.approveParams(tid, "order", tok))
			require.Equal(t, 200, status)
			require.NoError(t, srv.FailNext(pgtest.OpCancel, "order", tt.fault))

			params := map[string]any{"cid": kakaopaytest.TestCID, "tid": tid, "cancel_amount": 500, "cancel_tax_free_amount": 0, "cancel_available_amount": 2000}
			status, _, err := c.try("cancel", params)
			if tt.dropped {
				require.Error(t, err)
			} else {
				require.NoError(t, err)
				assert.Equal(t, tt.status, status)
			}
			e := srv.Ledger()[0]
			if tt.wantApplied {
				assert.Equal(t, 1, e.Cancels)
				assert.True(t, pg.Won(500).Equal(e.Canceled))
			} else {
				assert.Equal(t, 0, e.Cancels)
			}
			// The retry with the same guard is applied at most once overall.
			status, _ = c.call("cancel", params)
			if tt.wantApplied {
				assert.Equal(t, 400, status, "stale guard refuses the second application")
			} else {
				assert.Equal(t, 200, status)
			}
			assert.Equal(t, 1, srv.Ledger()[0].Cancels)
		})
	}
	sb := kakaopaytest.New(kakaopaytest.Config{})
	assert.Error(t, sb.FailNext(pgtest.OpCancel, "o", "bogus"))
}

// clock is a test clock that moves only when told.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func TestTIDExpiry_FollowsTheClock(t *testing.T) {
	t.Parallel()
	clk := &clock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
	srv := kakaopaytest.NewServer(kakaopaytest.Config{Now: clk.Now, TIDTTL: 10 * time.Minute})
	defer srv.Close()
	c := newClient(t, srv.URL, false)

	neverPaid := c.ready("never-paid", 1000)
	paidLate := c.ready("paid-late", 1000)
	tok := pay(t, srv, "paid-late", 1000, pgtest.FaultNone)

	_, body := c.call("ready", readyParams("stamp", 1000))
	assert.Equal(t, "2026-03-01T21:00:00", body["created_at"], "Seoul time without offset")

	clk.Advance(10*time.Minute + time.Second)
	_, err := srv.Pay(context.Background(), pgtest.PayRequest{OrderID: "never-paid"})
	assert.ErrorIs(t, err, kakaopaytest.ErrExpired)

	status, body := c.call("approve", c.approveParams(paidLate, "paid-late", tok))
	assert.Equal(t, 400, status)
	assert.Equal(t, "-723", errorCode(body))

	_, body = c.call("order", map[string]any{"cid": kakaopaytest.TestCID, "tid": neverPaid})
	assert.Equal(t, "QUIT_PAYMENT", body["status"])
	_, body = c.call("order", map[string]any{"cid": kakaopaytest.TestCID, "tid": paidLate})
	assert.Equal(t, "FAIL_PAYMENT", body["status"])
	for _, e := range srv.Ledger() {
		if e.OrderID != "stamp" {
			assert.Equal(t, pg.StatusFailed, e.Status)
		}
	}
}

func TestPay_Refusals(t *testing.T) {
	t.Parallel()
	srv := kakaopaytest.NewServer(kakaopaytest.Config{})
	defer srv.Close()
	c := newClient(t, srv.URL, false)
	c.ready("order", 1000)
	ctx := context.Background()

	_, err := srv.Pay(ctx, pgtest.PayRequest{OrderID: "other"})
	assert.ErrorIs(t, err, kakaopaytest.ErrNoPayment)
	_, err = srv.Pay(ctx, pgtest.PayRequest{OrderID: "order", Amount: pg.Won(999)})
	assert.ErrorIs(t, err, kakaopaytest.ErrAmount)
	_, err = srv.Pay(ctx, pgtest.PayRequest{OrderID: "order", Fault: "bogus"})
	assert.ErrorIs(t, err, kakaopaytest.ErrUnknownFault)

	_, err = srv.Pay(ctx, pgtest.PayRequest{OrderID: "order"})
	require.NoError(t, err)
	_, err = srv.Pay(ctx, pgtest.PayRequest{OrderID: "order"})
	assert.ErrorIs(t, err, kakaopaytest.ErrNoPayment, "a tid is paid once")
}

func TestMountedUnderPrefix_RedirectsIntoTheSandbox(t *testing.T) {
	t.Parallel()
	for _, strip := range []bool{false, true} {
		t.Run(fmt.Sprintf("strip=%v", strip), func(t *testing.T) {
			t.Parallel()
			mux := http.NewServeMux()
			ts := httptest.NewServer(mux)
			defer ts.Close()
			base := ts.URL + "/sandbox/kakaopay"
			sb := kakaopaytest.New(kakaopaytest.Config{BaseURL: base})
			if strip {
				mux.Handle("/sandbox/kakaopay/", http.StripPrefix("/sandbox/kakaopay", sb))
			} else {
				mux.Handle("/sandbox/kakaopay/", sb)
			}
			c := newClient(t, base, false)
			status, body := c.call("ready", readyParams("order-9", 3000))
			require.Equal(t, 200, status, "%v", body)
			pcURL := body["next_redirect_pc_url"].(string)
			assert.True(t, strings.HasPrefix(pcURL, base+"/"), pcURL)
			assert.True(t, strings.HasPrefix(body["next_redirect_mobile_url"].(string), base+"/"))
			assert.True(t, strings.HasPrefix(body["next_redirect_app_url"].(string), base+"/"))

			// The browser opens the window and pays.
			resp, err := http.Get(pcURL)
			require.NoError(t, err)
			page, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			require.Equal(t, 200, resp.StatusCode)
			assert.Contains(t, string(page), "3000")

			noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
			resp, err = noFollow.PostForm(strings.TrimSuffix(pcURL, "/info")+"/pay", url.Values{"action": {"pay"}, "method": {"MONEY"}})
			require.NoError(t, err)
			resp.Body.Close()
			require.Equal(t, http.StatusSeeOther, resp.StatusCode)
			loc, err := url.Parse(resp.Header.Get("Location"))
			require.NoError(t, err)
			assert.Equal(t, "shop.example", loc.Host)
			assert.Equal(t, "/kakao/ok", loc.Path)
			token := loc.Query().Get("pg_token")
			require.NotEmpty(t, token)

			status, body = c.call("approve", c.approveParams(body["tid"].(string), "order-9", token))
			require.Equal(t, 200, status, "%v", body)
			assert.Equal(t, "MONEY", body["payment_method_type"])
			assert.Nil(t, body["card_info"], "no card info for money")
		})
	}
}

func TestWindowQuit_RedirectsToCancelURL(t *testing.T) {
	t.Parallel()
	srv := kakaopaytest.NewServer(kakaopaytest.Config{})
	defer srv.Close()
	c := newClient(t, srv.URL, false)
	_, body := c.call("ready", readyParams("order", 1000))
	pcURL := body["next_redirect_pc_url"].(string)

	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := noFollow.PostForm(strings.TrimSuffix(pcURL, "/info")+"/pay", url.Values{"action": {"quit"}})
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, "https://shop.example/kakao/cancel", resp.Header.Get("Location"))
	_, body = c.call("order", map[string]any{"cid": kakaopaytest.TestCID, "tid": body["tid"]})
	assert.Equal(t, "QUIT_PAYMENT", body["status"])

	resp, err = noFollow.PostForm(strings.TrimSuffix(pcURL, "/info")+"/pay", url.Values{"action": {"pay"}})
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusConflict, resp.StatusCode, "a quit payment cannot be paid")
}

func TestPayEndpoint_PlaysTheBuyerOverHTTP(t *testing.T) {
	t.Parallel()
	srv := kakaopaytest.NewServer(kakaopaytest.Config{})
	defer srv.Close()
	c := newClient(t, srv.URL, false)
	tid := c.ready("order-7", 4000)

	post := func(body string) (int, map[string]any) {
		resp, err := http.Post(srv.URL+"/_sandbox/pay", "application/json", strings.NewReader(body))
		require.NoError(t, err)
		defer resp.Body.Close()
		var m map[string]any
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&m))
		return resp.StatusCode, m
	}
	tests := []struct {
		name, body string
		status     int
	}{
		{"unknown order", `{"orderId":"nope"}`, 404},
		{"wrong amount", `{"orderId":"order-7","amount":3999}`, 422},
		{"fractional won", `{"orderId":"order-7","amount":"4000.5"}`, 400},
		{"unknown fault", `{"orderId":"order-7","fault":"meteor"}`, 400},
		{"unknown field", `{"orderId":"order-7","tip":1}`, 400},
		{"not JSON", `order-7`, 400},
	}
	for _, tt := range tests {
		status, body := post(tt.body)
		assert.Equal(t, tt.status, status, tt.name)
		assert.Equal(t, false, body["success"], tt.name)
	}
	status, body := post(`{"orderId":"order-7","amount":"4000","fault":"decline"}`)
	require.Equal(t, 200, status, "%v", body)
	token := body["redirect"].(map[string]any)["pg_token"].(string)
	assert.Contains(t, body["redirectUrl"], "pg_token="+token)

	status, body = c.call("approve", c.approveParams(tid, "order-7", token))
	assert.Equal(t, 400, status)
	assert.Equal(t, "-780", errorCode(body), "the scripted decline applies")
}

func TestConcurrentApprovals_ApproveOnce(t *testing.T) {
	t.Parallel()
	srv := kakaopaytest.NewServer(kakaopaytest.Config{})
	defer srv.Close()
	c := newClient(t, srv.URL, false)
	tid := c.ready("order", 1000)
	tok := pay(t, srv, "order", 1000, pgtest.FaultNone)

	const n = 16
	var wg sync.WaitGroup
	statuses := make([]int, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, _, err := c.try("approve", c.approveParams(tid, "order", tok))
			if err == nil {
				statuses[i] = s
			}
		}()
	}
	wg.Wait()
	ok := 0
	for _, s := range statuses {
		if s == 200 {
			ok++
		}
	}
	assert.Equal(t, 1, ok)
	assert.Equal(t, 1, srv.Ledger()[0].Approvals)
}

func TestLatency_DelaysEveryCall(t *testing.T) {
	t.Parallel()
	srv := kakaopaytest.NewServer(kakaopaytest.Config{})
	defer srv.Close()
	srv.SetLatency(100 * time.Millisecond)
	c := newClient(t, srv.URL, false)
	start := time.Now()
	c.ready("order", 1000)
	assert.GreaterOrEqual(t, time.Since(start), 100*time.Millisecond)

	// A client that gives up first gets no answer, and nothing is readied.
	c.hc = &http.Client{Timeout: 20 * time.Millisecond}
	srv.SetLatency(time.Minute)
	_, _, err := c.try("ready", readyParams("late", 1000))
	var ue *url.Error
	require.True(t, errors.As(err, &ue) && ue.Timeout(), "%v", err)
	srv.SetLatency(0)
	assert.Len(t, srv.Ledger(), 1)
}
