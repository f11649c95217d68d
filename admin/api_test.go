package admin_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/paygate/paygate"
	"github.com/paygate/paygate/admin"
	"github.com/paygate/paygate/pg"
	"github.com/paygate/paygate/store"
	"github.com/paygate/paygate/store/storetest"
)

// routes are every API route, with a body where it takes one.
var routes = []struct{ method, path, body string }{
	{"GET", "/admin/api/payments", ""},
	{"GET", "/admin/api/payments/pay_x", ""},
	{"POST", "/admin/api/payments/pay_x/refund", `{"reason":"x"}`},
	{"GET", "/admin/api/attention", ""},
	{"POST", "/admin/api/attention/saga/x/retry", `{}`},
	{"POST", "/admin/api/attention/saga/x/resolve", `{"note":"x"}`},
	{"GET", "/admin/api/stats", ""},
}

// Without an operator every route is 401 and runs nothing; failed
// credentials from one address are limited (429 with Retry-After, the right
// token included) until the window ends; a session's state-changing calls
// need its CSRF token (403), and an expired or forged session is no session.
func TestAuth_401_403_429(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		c := newConsole(t, db)
		id := c.paid("inicis", "ord-auth-1", "auth order", 10000)

		for _, cred := range []*client{c.bearer(""), c.bearer("")} {
			for _, r := range routes {
				resp := cred.do(t, r.method, r.path, r.body, "Idempotency-Key", "k1")
				assert.Equal(t, http.StatusUnauthorized, resp.Status, "%s %s", r.method, r.path)
				assert.Equal(t, "UNAUTHORIZED", resp.code(t))
				assert.Contains(t, resp.Header.Get("WWW-Authenticate"), "Bearer")
			}
		}
		for _, h := range [][]string{{"Authorization", "Basic " + operatorToken}, {"Authorization", "Bearer"},
			{"Cookie", "paygate_admin=" + operatorToken}, {"Cookie", "paygate_admin=e30.e30"}} {
			resp := c.bearer("").do(t, "GET", "/admin/api/attention", nil, h...)
			assert.Equal(t, http.StatusUnauthorized, resp.Status, "%v", h)
		}
		c.clock.advance(61 * time.Second) // a fresh window for the limit below

		// Four wrong tokens, then the limit of five is reached on the
		// fifth; from then on even the right token waits.
		wrong := c.bearer(operatorToken + "x")
		for i := range 3 {
			assert.Equal(t, http.StatusUnauthorized, wrong.do(t, "GET", "/admin/api/stats", nil).Status, "attempt %d", i)
		}
		// A failed login form counts against the same address.
		resp, err := http.PostForm(c.url+"/admin/login", url.Values{"token": {"not-the-token-at-all"}})
		require.NoError(t, err)
		resp.Body.Close()
		assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)
		assert.Equal(t, http.StatusUnauthorized, wrong.do(t, "GET", "/admin/api/stats", nil).Status)
		limited := c.bearer(operatorToken).do(t, "GET", "/admin/api/stats", nil)
		assert.Equal(t, http.StatusTooManyRequests, limited.Status)
		assert.Equal(t, "TOO_MANY_ATTEMPTS", limited.code(t))
		assert.NotEmpty(t, limited.Header.Get("Retry-After"))
		resp, err = http.PostForm(c.url+"/admin/login", url.Values{"token": {operatorToken}})
		require.NoError(t, err)
		resp.Body.Close()
		assert.Equal(t, http.StatusTooManyRequests, resp.StatusCode, "the login form is limited too")
		assert.NotEmpty(t, resp.Header.Get("Retry-After"))
		c.clock.advance(61 * time.Second)
		assert.Equal(t, http.StatusOK, c.bearer(operatorToken).do(t, "GET", "/admin/api/stats", nil).Status, "the window ended")

		// A session: the cookie is HttpOnly, SameSite=Strict, scoped to
		// the console.
		jarless := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		resp, err = jarless.PostForm(c.url+"/admin/login", url.Values{"token": {operatorToken}})
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, http.StatusSeeOther, resp.StatusCode)
		cookies := resp.Cookies()
		require.Len(t, cookies, 1)
		assert.True(t, cookies[0].HttpOnly)
		assert.Equal(t, http.SameSiteStrictMode, cookies[0].SameSite)
		assert.Equal(t, "/admin/", cookies[0].Path)
		assert.False(t, cookies[0].Secure, "plain HTTP here; Secure when served over TLS")

		s := c.session(t)
		assert.Equal(t, http.StatusOK, s.do(t, "GET", "/admin/api/payments/"+id, nil).Status, "a session reads")
		refund := map[string]any{"amount": 1000, "reason": "no csrf"}
		for _, h := range [][]string{nil, {"X-CSRF-Token", "forged"}, {"X-CSRF-Token", s.csrf + "x"}} {
			resp := s.do(t, "POST", "/admin/api/payments/"+id+"/refund", refund, append([]string{"Idempotency-Key", "no-csrf"}, h...)...)
			assert.Equal(t, http.StatusForbidden, resp.Status, "%v", h)
			assert.Equal(t, "CSRF_TOKEN_INVALID", resp.code(t))
		}
		for _, r := range routes[4:6] {
			assert.Equal(t, http.StatusForbidden, s.do(t, r.method, r.path, r.body).Status, "%s", r.path)
		}
		v, err := c.pay.Payment(context.Background(), id)
		require.NoError(t, err)
		assert.Empty(t, v.Cancels, "nothing was refunded")
		ok := s.do(t, "POST", "/admin/api/payments/"+id+"/refund", refund, "Idempotency-Key", "no-csrf", "X-CSRF-Token", s.csrf)
		assert.Equal(t, http.StatusOK, ok.Status, "with its token the refund runs, the refused key claimed nothing: %s", ok.Body)

		// Another session's token is not this one's.
		other := c.session(t)
		assert.NotEqual(t, s.csrf, other.csrf)
		assert.Equal(t, http.StatusForbidden, s.do(t, "POST", routes[4].path, "{}", "X-CSRF-Token", other.csrf).Status)

		// Logout needs the token too.
		resp, err = s.hc.PostForm(c.url+"/admin/logout", url.Values{"csrf": {"nope"}})
		require.NoError(t, err)
		resp.Body.Close()
		assert.Equal(t, http.StatusForbidden, resp.StatusCode)

		c.clock.advance(9 * time.Hour)
		assert.Equal(t, http.StatusUnauthorized, s.do(t, "GET", "/admin/api/stats", nil).Status, "the session expired")
	})
}

// Every route answers on SQLite and MariaDB: search with filters and
// keyset pages, a payment's whole story, a refund (once per key, with the
// operator), the queue's retry and resolve, the dashboard.
func TestAPI_EveryRoute(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		c := newConsole(t, db)
		op := c.bearer(operatorToken)
		toss := c.paid("tosspay", "ord-api-toss", "린넨 셔츠 <b>bold</b>", 30000)
		ini := c.paid("inicis", "ord-api-ini", "Wool socks", 12000)
		for i := range 3 {
			c.paid("inicis", fmt.Sprintf("ord-api-more-%d", i), "more", int64(1000*(i+1)))
		}

		// Search.
		resp := op.do(t, "GET", "/admin/api/payments?limit=2", nil)
		require.Equal(t, http.StatusOK, resp.Status, "%s", resp.Body)
		var page struct {
			Items []struct {
				PaymentID, OrderID, OrderName, PG, Status string
				Amount                                    json.Number
				CreatedAt                                 time.Time
			}
			NextCursor string
		}
		var seen []string
		next := "/admin/api/payments?limit=2"
		for next != "" {
			resp = op.do(t, "GET", next, nil)
			require.Equal(t, http.StatusOK, resp.Status, "%s", resp.Body)
			page.NextCursor = ""
			require.NoError(t, json.Unmarshal(resp.Body, &page))
			for _, it := range page.Items {
				seen = append(seen, it.PaymentID)
			}
			next = ""
			if page.NextCursor != "" {
				next = "/admin/api/payments?limit=2&cursor=" + page.NextCursor
			}
		}
		require.Len(t, seen, 5, "every payment once over the pages")
		assert.Equal(t, ini, seen[3])
		assert.Equal(t, toss, seen[4], "newest first")

		resp = op.do(t, "GET", "/admin/api/payments?orderId=ord-api-toss", nil)
		require.NoError(t, json.Unmarshal(resp.Body, &page))
		require.Len(t, page.Items, 1)
		assert.Equal(t, "린넨 셔츠 <b>bold</b>", page.Items[0].OrderName)
		assert.Equal(t, "30000", page.Items[0].Amount.String(), "money as a number in won")
		today := time.Now().In(admin.Seoul).Format("2006-01-02")
		for q, want := range map[string]int{
			"q=" + url.QueryEscape("린넨"): 1, "pg=inicis": 4, "minAmount=2000&maxAmount=12000": 3, "status=FAILED": 0,
			"from=" + today + "&to=" + today: 5, "from=2020-01-01&to=2020-01-02": 0, "paymentId=" + ini: 1, "method=CARD&pg=tosspay": 1,
		} {
			resp = op.do(t, "GET", "/admin/api/payments?"+q, nil)
			require.Equal(t, http.StatusOK, resp.Status, "%s: %s", q, resp.Body)
			require.NoError(t, json.Unmarshal(resp.Body, &page))
			assert.Len(t, page.Items, want, q)
		}
		for _, q := range []string{"limit=0", "limit=201", "from=2024-13-01", "status=DONE", "cursor=@@", "minAmount=1.5", "minAmount=-1", "nope=1", "from=2024-02-02&to=2024-02-01"} {
			resp = op.do(t, "GET", "/admin/api/payments?"+q, nil)
			assert.Equal(t, http.StatusBadRequest, resp.Status, q)
			assert.Equal(t, "INVALID_REQUEST", resp.code(t), q)
		}

		// Detail of the Toss payment: events, saga, ledger, webhook.
		var d struct {
			PaymentID, Status, OrderName string
			BalanceAmount                json.Number
			Events                       []struct{ EventType string }
			Sagas                        []struct {
				Definition, State string
				Steps             []struct{ Step, Status string }
			}
			Ledger          []struct{ Type string }
			Webhooks        []struct{ PG, Body string }
			Cancels         []struct{ CancelID, Reason string }
			OperatorActions []struct {
				Operator, Action, Reason, CancelID string
				Amount                             json.Number
			}
		}
		resp = op.do(t, "GET", "/admin/api/payments/"+toss, nil)
		require.Equal(t, http.StatusOK, resp.Status, "%s", resp.Body)
		require.NoError(t, json.Unmarshal(resp.Body, &d))
		assert.Equal(t, "APPROVED", d.Status)
		assert.NotEmpty(t, d.Events)
		require.NotEmpty(t, d.Sagas)
		assert.Equal(t, "payment", d.Sagas[0].Definition)
		assert.NotEmpty(t, d.Sagas[0].Steps)
		require.Len(t, d.Ledger, 1)
		assert.Equal(t, "SALE", d.Ledger[0].Type)
		require.NotEmpty(t, d.Webhooks, "the Toss notification is shown")
		assert.Equal(t, "tosspay", d.Webhooks[0].PG)
		assert.Equal(t, http.StatusNotFound, op.do(t, "GET", "/admin/api/payments/pay_nope", nil).Status)
		assert.Equal(t, http.StatusNotFound, op.do(t, "GET", "/admin/api/payments/"+strings.Repeat("x", 100), nil).Status)

		// Refund: a double click (the same key twice at once) refunds once.
		var wg sync.WaitGroup
		answers := make([]response, 2)
		for i := range answers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				answers[i] = op.do(t, "POST", "/admin/api/payments/"+toss+"/refund", map[string]any{"amount": 5000, "reason": "damaged"}, "Idempotency-Key", "dbl-1")
			}()
		}
		wg.Wait()
		okCount := 0
		for _, a := range answers {
			switch a.Status {
			case http.StatusOK:
				okCount++
			case http.StatusConflict:
				assert.Equal(t, "IDEMPOTENCY_KEY_IN_USE", a.code(t))
			default:
				t.Errorf("double click: %d %s", a.Status, a.Body)
			}
		}
		assert.GreaterOrEqual(t, okCount, 1)
		again := op.do(t, "POST", "/admin/api/payments/"+toss+"/refund", map[string]any{"amount": 5000, "reason": "damaged"}, "Idempotency-Key", "dbl-1")
		require.Equal(t, http.StatusOK, again.Status, "%s", again.Body)
		assert.Equal(t, "true", again.Header.Get("Idempotent-Replayed"))
		require.NoError(t, json.Unmarshal(again.Body, &d))
		require.Len(t, d.Cancels, 1, "refunded once")
		assert.Equal(t, "25000", d.BalanceAmount.String())
		require.Len(t, d.OperatorActions, 1)
		assert.Equal(t, "ops-1", d.OperatorActions[0].Operator)
		assert.Equal(t, paygate.ActionRefund, d.OperatorActions[0].Action)
		assert.Equal(t, "damaged", d.OperatorActions[0].Reason)
		assert.Equal(t, "5000", d.OperatorActions[0].Amount.String())
		assert.Equal(t, d.Cancels[0].CancelID, d.OperatorActions[0].CancelID)

		// Refusals in an operator's words.
		for _, c := range []struct {
			body   any
			key    string
			status int
			code   string
		}{
			{map[string]any{"amount": 999999, "reason": "too much"}, "r1", http.StatusConflict, "OVER_REFUND"},
			{map[string]any{"amount": 10}, "r2", http.StatusBadRequest, "REASON_REQUIRED"},
			{map[string]any{"amount": 10.5, "reason": "fraction"}, "r3", http.StatusBadRequest, "INVALID_AMOUNT"},
			{map[string]any{"amount": -5, "reason": "negative"}, "r4", http.StatusBadRequest, "INVALID_AMOUNT"},
			{map[string]any{"amount": "100", "reason": "text"}, "r5", http.StatusBadRequest, "INVALID_REQUEST"},
			{map[string]any{"reason": "x", "extra": 1}, "r6", http.StatusBadRequest, "INVALID_REQUEST"},
			{map[string]any{"amount": 1000, "reason": "no key"}, "", http.StatusBadRequest, "IDEMPOTENCY_KEY_MISSING"},
		} {
			var h []string
			if c.key != "" {
				h = []string{"Idempotency-Key", c.key}
			}
			resp := op.do(t, "POST", "/admin/api/payments/"+toss+"/refund", c.body, h...)
			assert.Equal(t, c.status, resp.Status, "%v: %s", c.body, resp.Body)
			assert.Equal(t, c.code, resp.code(t), "%v", c.body)
		}
		resp = op.do(t, "POST", "/admin/api/payments/"+toss+"/refund", "reason=x", "Idempotency-Key", "r7", "Content-Type", "text/plain")
		assert.Equal(t, http.StatusUnsupportedMediaType, resp.Status)
		resp = op.do(t, "POST", "/admin/api/payments/pay_nope/refund", map[string]any{"reason": "x"}, "Idempotency-Key", "r8")
		assert.Equal(t, http.StatusNotFound, resp.Status)
		full := op.do(t, "POST", "/admin/api/payments/"+toss+"/refund", map[string]any{"reason": "all of it"}, "Idempotency-Key", "r9")
		require.Equal(t, http.StatusOK, full.Status, "%s", full.Body)
		resp = op.do(t, "POST", "/admin/api/payments/"+toss+"/refund", map[string]any{"reason": "again"}, "Idempotency-Key", "r10")
		assert.Equal(t, http.StatusConflict, resp.Status)
		assert.Equal(t, "NOT_REFUNDABLE", resp.code(t))

		// The queue: a refund the PG refuses for good waits there; retry
		// and resolve are recorded with the operator.
		item := c.refused(ini, 2000)
		var queue struct {
			Items []struct {
				Kind, ID, PaymentID, State, Reason string
				Since                              time.Time
				Attempts                           int
			}
		}
		// With olderThan 0 every saga not yet done is listed: the full
		// refund's saga may still be finishing its last steps in the
		// background. Once it has, the refused refund is all there is.
		eventually(t, "the queue to hold only the refused refund", func() bool {
			resp = op.do(t, "GET", "/admin/api/attention", nil)
			require.Equal(t, http.StatusOK, resp.Status)
			queue.Items = nil
			require.NoError(t, json.Unmarshal(resp.Body, &queue))
			return len(queue.Items) == 1
		})
		require.Len(t, queue.Items, 1)
		assert.Equal(t, item.ID, queue.Items[0].ID)
		assert.Equal(t, ini, queue.Items[0].PaymentID)
		assert.NotEmpty(t, queue.Items[0].Reason)
		assert.GreaterOrEqual(t, queue.Items[0].Attempts, 1)
		assert.Equal(t, http.StatusBadRequest, op.do(t, "GET", "/admin/api/attention?olderThan=soon", nil).Status)

		resp = op.do(t, "POST", "/admin/api/attention/payment/"+ini+"/retry", nil)
		assert.Equal(t, http.StatusBadRequest, resp.Status)
		assert.Equal(t, "NOT_ACTIONABLE", resp.code(t))
		resp = op.do(t, "POST", "/admin/api/attention/saga/nope/retry", nil)
		assert.Equal(t, http.StatusNotFound, resp.Status)
		resp = op.do(t, "POST", "/admin/api/attention/saga/"+item.ID+"/resolve", map[string]any{"note": " "})
		assert.Equal(t, "NOTE_REQUIRED", resp.code(t))

		resp = op.do(t, "POST", "/admin/api/attention/saga/"+item.ID+"/retry", nil)
		require.Equal(t, http.StatusOK, resp.Status, "%s", resp.Body)
		eventually(t, "the retried refund to go through", func() bool {
			v, err := c.pay.Payment(context.Background(), ini)
			require.NoError(t, err)
			return v.Status == pg.StatusPartialCanceled && v.CanceledAmount.Equal(pg.Won(2000))
		})
		resp = op.do(t, "POST", "/admin/api/attention/saga/"+item.ID+"/retry", nil)
		assert.Equal(t, http.StatusConflict, resp.Status, "nothing left to retry: %s", resp.Body)

		item = c.refused(ini, 3000)
		eventually(t, "the resolve", func() bool {
			resp = op.do(t, "POST", "/admin/api/attention/saga/"+item.ID+"/resolve", map[string]any{"note": "paid back by transfer"})
			return resp.Status == http.StatusOK
		})
		resp = op.do(t, "GET", "/admin/api/payments/"+ini, nil)
		require.NoError(t, json.Unmarshal(resp.Body, &d))
		require.Len(t, d.OperatorActions, 2)
		assert.Equal(t, paygate.ActionRetry, d.OperatorActions[0].Action)
		assert.Equal(t, paygate.ActionResolve, d.OperatorActions[1].Action)
		assert.Equal(t, "paid back by transfer", d.OperatorActions[1].Reason)

		// The dashboard.
		resp = op.do(t, "GET", "/admin/api/stats", nil)
		require.Equal(t, http.StatusOK, resp.Status, "%s", resp.Body)
		var st struct {
			Count, Captured, OpenUnknown   int64
			ApprovedAmount, RefundedAmount json.Number
			ApprovalRate, RefundRate       float64
			ByPG                           []struct {
				PG    string
				Count int64
			}
			ByDay []struct {
				Date  string
				Count int64
			}
		}
		require.NoError(t, json.Unmarshal(resp.Body, &st))
		assert.EqualValues(t, 5, st.Count)
		assert.EqualValues(t, 5, st.Captured)
		assert.Equal(t, "48000", st.ApprovedAmount.String())
		assert.Equal(t, "32000", st.RefundedAmount.String(), "30,000 from Toss, 2,000 from Inicis")
		assert.InDelta(t, 1.0, st.ApprovalRate, 1e-9)
		assert.InDelta(t, 0.6667, st.RefundRate, 1e-9)
		require.Len(t, st.ByPG, 2)
		require.Len(t, st.ByDay, 1)
		assert.Equal(t, today, st.ByDay[0].Date)
		for _, q := range []string{"from=2024-01-01&to=2026-12-31", "from=x", "from=2024-02-02&to=2024-02-01"} {
			assert.Equal(t, http.StatusBadRequest, op.do(t, "GET", "/admin/api/stats?"+q, nil).Status, q)
		}
		assert.Equal(t, http.StatusNotFound, op.do(t, "GET", "/admin/api/nope", nil).Status)
		assert.Equal(t, http.StatusMethodNotAllowed, op.do(t, "DELETE", "/admin/api/stats", nil).Status)
	})
}

// What a buyer or a PG wrote is shown as text: an order name of <script>
// in the list, the detail and the dashboard, and a webhook body.
func TestPages_EscapeWhatBuyersAndPGsWrote(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		c := newConsole(t, db)
		const evil = `<script>alert(1)</script>`
		id := c.paid("tosspay", "ord-xss-1", evil, 10000)
		s := c.session(t)
		for _, path := range []string{"/admin/payments?orderId=ord-xss-1", "/admin/payments/" + id, "/admin/", "/admin/attention"} {
			resp := s.do(t, "GET", path, nil)
			require.Equal(t, http.StatusOK, resp.Status, path)
			body := string(resp.Body)
			assert.NotContains(t, body, evil, path)
			csp := resp.Header.Get("Content-Security-Policy")
			assert.Contains(t, csp, "script-src 'nonce-", path)
			assert.NotContains(t, csp, "unsafe-inline", path)
			assert.Contains(t, csp, "frame-ancestors 'none'", path)
			assert.Equal(t, "nosniff", resp.Header.Get("X-Content-Type-Options"), path)
			// Every script on the page is the page's, by nonce.
			nonce := csp[strings.Index(csp, "'nonce-")+7:]
			nonce = nonce[:strings.Index(nonce, "'")]
			assert.Equal(t, strings.Count(body, "<script"), strings.Count(body, `nonce="`+nonce+`"></script>`)+strings.Count(body, `nonce="`+nonce+`" defer></script>`), path)
		}
		detail := string(s.do(t, "GET", "/admin/payments/"+id, nil).Body)
		assert.Contains(t, detail, "&lt;script&gt;alert(1)&lt;/script&gt;")
		assert.Contains(t, detail, "<pre>", "the webhook's body is shown")
		resp := s.do(t, "GET", "/admin/api/payments/"+id, nil)
		assert.Equal(t, "application/json", resp.Header.Get("Content-Type"))
		assert.Equal(t, "nosniff", resp.Header.Get("X-Content-Type-Options"))
		assert.NotContains(t, string(resp.Body), "<script>", "JSON escapes it too")

		// Without a session the pages send the browser to the login page.
		noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		for _, path := range []string{"/admin/", "/admin/payments", "/admin/payments/" + id, "/admin/attention"} {
			r, err := noRedirect.Get(c.url + path)
			require.NoError(t, err)
			r.Body.Close()
			assert.Equal(t, http.StatusSeeOther, r.StatusCode, path)
			assert.Equal(t, "/admin/login", r.Header.Get("Location"), path)
		}
	})
}

// Behind a proxy that ends TLS the request looks like plain HTTP: with
// SecureCookies the session cookie is Secure all the same.
func TestSessionCookie_SecureWhenConfigured(t *testing.T) {
	c := newConsole(t, storetest.Open(t, store.SQLite), func(cfg *admin.Config) { cfg.SecureCookies = true })
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := noRedirect.PostForm(c.url+"/admin/login", url.Values{"token": {operatorToken}})
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	require.Len(t, resp.Cookies(), 1)
	assert.True(t, resp.Cookies()[0].Secure)
	assert.True(t, resp.Cookies()[0].HttpOnly)
}
