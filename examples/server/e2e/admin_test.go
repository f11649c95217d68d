package e2e_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/paygate/paygate/pg"
	"github.com/paygate/paygate/pg/pgtest"
	"github.com/paygate/paygate/settlement"
)

// consoleSession logs in to the console's page with the operator token
// (outside the API document: the login is a form) and returns the session
// cookie and its CSRF token.
func (s *server) consoleSession(t *testing.T) (cookie, csrf string) {
	t.Helper()
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := noRedirect.PostForm(s.url+"/admin/login", url.Values{"token": {operatorToken}})
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	require.Len(t, resp.Cookies(), 1)
	c := resp.Cookies()[0]
	req, err := http.NewRequest(http.MethodGet, s.url+"/admin/", nil)
	require.NoError(t, err)
	req.AddCookie(c)
	page, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	body, _ := io.ReadAll(page.Body)
	page.Body.Close()
	i := strings.Index(string(body), `data-csrf="`)
	require.Positive(t, i, "the page carries its CSRF token")
	rest := string(body[i+len(`data-csrf="`):])
	return c.Name + "=" + c.Value, rest[:strings.Index(rest, `"`)]
}

// The operators' console is mounted at /admin/ with the operator token:
// every /admin/api/ route answers as the API document says — search, a
// payment's story, a refund recorded with the operator, the queue's retry
// and resolve, the dashboard — and refuses strangers (401), a session's
// call without its CSRF token (403) and too many wrong tokens (429).
func TestE2E_AdminConsole_EveryRouteAsDocumented(t *testing.T) {
	eachDialect(t, func(t *testing.T, s *server) {
		// Inicis: its sandbox refuses one refund and takes the next.
		name := s.sandboxPGs()[0]
		if slices.Contains(s.sandboxPGs(), "inicis") {
			name = "inicis"
		}
		b := buyer{PG: name, OrderID: newOrderID("console"), Amount: 20000}
		id := approveResult(t, s.approve(t, s.prepareAndPay(t, b, "", nil), ""), http.StatusOK, "APPROVED")
		s.checkOrder(t, b, false)

		for _, path := range []string{"/admin/api/payments", "/admin/api/payments/" + id, "/admin/api/attention", "/admin/api/stats"} {
			resp := s.do(t, http.MethodGet, path, nil)
			expectStatus(t, http.StatusUnauthorized, resp, path)
			resp = s.do(t, http.MethodGet, path, nil, asOperator...)
			expectStatus(t, http.StatusOK, resp, path)
		}
		resp := s.do(t, http.MethodGet, "/admin/api/payments?orderId="+b.OrderID+"&limit=1", nil, asOperator...)
		var page struct {
			Items []struct{ PaymentID string }
		}
		require.NoError(t, json.Unmarshal(resp.Body, &page))
		require.Len(t, page.Items, 1)
		assert.Equal(t, id, page.Items[0].PaymentID)
		expectStatus(t, http.StatusBadRequest, s.do(t, http.MethodGet, "/admin/api/payments?limit=500", nil, asOperator...), "limit over 200")
		expectStatus(t, http.StatusNotFound, s.do(t, http.MethodGet, "/admin/api/payments/pay_none", nil, asOperator...), "unknown payment")

		// A refund by the console's session: refused without the CSRF
		// token, done with it, and recorded with the operator.
		cookie, csrf := s.consoleSession(t)
		refund := map[string]any{"amount": 5000, "reason": "one item returned"}
		path := "/admin/api/payments/" + id + "/refund"
		resp = s.do(t, http.MethodPost, path, refund, "Cookie", cookie, "Idempotency-Key", "console-1")
		expectStatus(t, http.StatusForbidden, resp, "no CSRF token")
		assert.Equal(t, "CSRF_TOKEN_INVALID", resp.errorCode(t))
		resp = s.do(t, http.MethodPost, path, refund, "Cookie", cookie, "Idempotency-Key", "console-1", "X-CSRF-Token", csrf)
		expectStatus(t, http.StatusOK, resp, "refund")
		var d struct {
			Status          string
			OperatorActions []struct{ Operator, Action string }
		}
		require.NoError(t, json.Unmarshal(resp.Body, &d))
		assert.Equal(t, "PARTIAL_CANCELED", d.Status)
		require.Len(t, d.OperatorActions, 1)
		assert.Equal(t, "operator", d.OperatorActions[0].Operator)
		replay := s.do(t, http.MethodPost, path, refund, append(asOperator, "Idempotency-Key", "console-1")...)
		expectStatus(t, http.StatusOK, replay, "the same key again")
		resp = s.do(t, http.MethodPost, path, map[string]any{"amount": 999999, "reason": "too much"}, append(asOperator, "Idempotency-Key", "console-2")...)
		expectStatus(t, http.StatusConflict, resp, "over-refund")
		assert.Equal(t, "OVER_REFUND", resp.errorCode(t))
		out := s.checkOrder(t, b, false)
		assert.Equal(t, 1, out.PG.Cancels, "refunded once")

		// The queue: a refund the PG refuses, retried from the console.
		s.armCancel(t, b, pgtest.FaultDecline)
		resp = s.do(t, http.MethodPost, path, map[string]any{"amount": 1000, "reason": "refused"}, append(asOperator, "Idempotency-Key", "console-3")...)
		require.Contains(t, []int{http.StatusBadGateway, http.StatusConflict}, resp.Status, "%s", resp)
		var queue struct {
			Items []struct{ Kind, ID, PaymentID, State string }
		}
		var item string
		eventually(t, "the refused refund in the queue", func() bool {
			resp := s.do(t, http.MethodGet, "/admin/api/attention", nil, asOperator...)
			require.NoError(t, json.Unmarshal(resp.Body, &queue))
			for _, it := range queue.Items {
				if it.PaymentID == id && it.Kind == "saga" && it.State == "NEEDS_ATTENTION" {
					item = it.ID
					return true
				}
			}
			return false
		})
		resp = s.do(t, http.MethodPost, "/admin/api/attention/saga/"+item+"/retry", nil, "Cookie", cookie)
		expectStatus(t, http.StatusForbidden, resp, "retry without the CSRF token")
		resp = s.do(t, http.MethodPost, "/admin/api/attention/saga/"+item+"/retry", nil, asOperator...)
		expectStatus(t, http.StatusOK, resp, "retry")
		eventually(t, "the retried refund", func() bool {
			return s.payment(t, id).CanceledAmount.String() == "6000"
		})
		expectStatus(t, http.StatusBadRequest, s.do(t, http.MethodPost, "/admin/api/attention/payment/"+id+"/resolve", map[string]any{"note": "x"}, asOperator...), "only sagas")
		expectStatus(t, http.StatusNotFound, s.do(t, http.MethodPost, "/admin/api/attention/saga/nope/resolve", map[string]any{"note": "x"}, asOperator...), "unknown saga")

		resp = s.do(t, http.MethodGet, "/admin/api/stats", nil, asOperator...)
		var st struct {
			Count          int64
			ApprovedAmount json.Number
		}
		require.NoError(t, json.Unmarshal(resp.Body, &st))
		assert.EqualValues(t, 1, st.Count)
		requireWon(t, 20000, st.ApprovedAmount, "approved")
		expectStatus(t, http.StatusBadRequest, s.do(t, http.MethodGet, "/admin/api/stats?from=yesterday", nil, asOperator...), "bad date")
		assert.Equal(t, string(pg.StatusPartialCanceled), s.payment(t, id).Status)

		// Too many wrong tokens from one address: 429, the right one too.
		for range 10 {
			expectStatus(t, http.StatusUnauthorized, s.do(t, http.MethodGet, "/admin/api/stats", nil, "Authorization", "Bearer wrong-wrong-wrong-wrong"), "wrong token")
		}
		resp = s.do(t, http.MethodGet, "/admin/api/stats", nil, asOperator...)
		expectStatus(t, http.StatusTooManyRequests, resp, "locked out")
		assert.NotEmpty(t, resp.Header.Get("Retry-After"))
	})
}

// The finance team's reports and reconciliation are served by the console,
// behind the operator's credential, as the API document describes.
func TestE2E_AdminConsole_SettlementReportsBehindTheOperator(t *testing.T) {
	eachDialect(t, func(t *testing.T, s *server) {
		b := buyer{PG: s.sandboxPGs()[0], OrderID: newOrderID("settle"), Amount: 12000}
		id := approveResult(t, s.approve(t, s.prepareAndPay(t, b, "", nil), ""), http.StatusOK, "APPROVED")
		s.settled(t, id)
		day := time.Now().In(settlement.Seoul).Format("2006-01-02")
		path := "/admin/api/settlements/daily?from=" + day + "&to=" + day

		resp := s.do(t, http.MethodGet, path, nil)
		expectStatus(t, http.StatusUnauthorized, resp, "without the operator")
		resp = s.do(t, http.MethodGet, path, nil, asOperator...)
		expectStatus(t, http.StatusOK, resp, "daily report")
		rows, _ := resp.json(t)["rows"].([]any)
		assert.NotEmpty(t, rows, "today's sale is in the report: %s", resp)
		resp = s.do(t, http.MethodGet, "/admin/api/settlements/daily?from=2025-01-01&to=2026-12-31", nil, asOperator...)
		expectStatus(t, http.StatusBadRequest, resp, "a daily range over 366 days")
		resp = s.do(t, http.MethodGet, "/admin/api/reconciliation?pg="+b.PG, nil, asOperator...)
		expectStatus(t, http.StatusOK, resp, "the runs")
	})
}
