package e2e_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/paygate/paygate/inicis"
)

// hostile is one request a client should never send.
type hostile struct {
	name    string
	method  string
	path    string
	body    any
	headers []string
	status  int
	code    string // error.code, when the answer is the API's error shape
}

// rowCounts counts the rows of every table a request could write.
func (s *server) rowCounts(t *testing.T) map[string]int {
	t.Helper()
	out := map[string]int{}
	for _, table := range []string{"checkouts", "payments", "payment_order_mapping", "payment_cancels", "payment_events",
		"webhook_deliveries", "saga_instances", "settlement_entries", "example_orders"} {
		var n int
		require.NoError(t, s.app.DB().SQL().QueryRowContext(context.Background(), "SELECT COUNT(*) FROM "+table).Scan(&n), table)
		out[table] = n
	}
	return out
}

// F27: malformed, mistyped, oversized and hostile input on every endpoint
// gets a clear 4xx in the API's error shape, stores nothing and panics
// nothing.
func TestE2E_HostileInput_Clear4xxAndNothingStored(t *testing.T) {
	eachDialect(t, func(t *testing.T, s *server) {
		names := s.sandboxPGs()
		pgName := names[0]
		huge := `{"orderId":"x","pg":"` + pgName + `","orderName":"` + strings.Repeat("a", 1<<20) + `","amount":1000}`
		long := strings.Repeat("o", 65)
		okCheckout := func(change func(m map[string]any)) map[string]any {
			m := map[string]any{"orderId": newOrderID("f27"), "amount": 15000, "pg": pgName, "orderName": "hostile"}
			change(m)
			return m
		}
		okApprove := func(change func(m map[string]any)) map[string]any {
			m := map[string]any{"orderId": newOrderID("f27"), "amount": 15000, "pg": pgName, "authToken": "x", "pgToken": "x"}
			change(m)
			return m
		}

		cases := []hostile{
			{name: "checkout: malformed JSON", method: "POST", path: "/checkouts", body: `{"orderId":`, status: 400, code: "INVALID_REQUEST"},
			{name: "checkout: empty body", method: "POST", path: "/checkouts", body: "", status: 400, code: "INVALID_REQUEST"},
			{name: "checkout: trailing data", method: "POST", path: "/checkouts", body: `{"orderId":"a"} {"x":1}`, status: 400, code: "INVALID_REQUEST"},
			{name: "checkout: amount is text", method: "POST", path: "/checkouts", body: okCheckout(func(m map[string]any) { m["amount"] = "lots" }), status: 400, code: "INVALID_REQUEST"},
			{name: "checkout: amount is an object", method: "POST", path: "/checkouts", body: okCheckout(func(m map[string]any) { m["amount"] = map[string]int{"won": 1} }), status: 400, code: "INVALID_REQUEST"},
			{name: "checkout: orderId is a number", method: "POST", path: "/checkouts", body: okCheckout(func(m map[string]any) { m["orderId"] = 12 }), status: 400, code: "INVALID_REQUEST"},
			{name: "checkout: fractional won", method: "POST", path: "/checkouts", body: okCheckout(func(m map[string]any) { m["amount"] = 15000.5 }), status: 400, code: "INVALID_REQUEST"},
			{name: "checkout: negative amount", method: "POST", path: "/checkouts", body: okCheckout(func(m map[string]any) { m["amount"] = -15000 }), status: 400, code: "INVALID_REQUEST"},
			{name: "checkout: zero amount", method: "POST", path: "/checkouts", body: okCheckout(func(m map[string]any) { m["amount"] = 0 }), status: 400, code: "INVALID_REQUEST"},
			{name: "checkout: amount beyond int64", method: "POST", path: "/checkouts", body: `{"orderId":"big","pg":"` + pgName + `","orderName":"x","amount":1e300}`, status: 400, code: "INVALID_REQUEST"},
			{name: "checkout: unknown currency", method: "POST", path: "/checkouts", body: okCheckout(func(m map[string]any) { m["currency"] = "XYZ" }), status: 400, code: "INVALID_REQUEST"},
			{name: "checkout: unknown PG", method: "POST", path: "/checkouts", body: okCheckout(func(m map[string]any) { m["pg"] = "nopay" }), status: 400, code: "INVALID_REQUEST"},
			{name: "checkout: over-long orderId", method: "POST", path: "/checkouts", body: okCheckout(func(m map[string]any) { m["orderId"] = long }), status: 400, code: "INVALID_REQUEST"},
			{name: "checkout: control characters in orderId", method: "POST", path: "/checkouts", body: okCheckout(func(m map[string]any) { m["orderId"] = "bad\u0000id" }), status: 400, code: "INVALID_REQUEST"},
			{name: "checkout: missing orderName", method: "POST", path: "/checkouts", body: okCheckout(func(m map[string]any) { delete(m, "orderName") }), status: 400, code: "INVALID_REQUEST"},
			{name: "checkout: over-long orderName", method: "POST", path: "/checkouts", body: okCheckout(func(m map[string]any) { m["orderName"] = strings.Repeat("주", 101) }), status: 400, code: "INVALID_REQUEST"},
			{name: "checkout: bad order failure script", method: "POST", path: "/checkouts", body: okCheckout(func(m map[string]any) { m["sandbox"] = map[string]any{"orderFailure": "sometimes"} }), status: 400, code: "INVALID_REQUEST"},
			{name: "checkout: over 1 MiB", method: "POST", path: "/checkouts", body: huge, status: 413, code: "REQUEST_TOO_LARGE"},

			{name: "approve: malformed JSON", method: "POST", path: "/payments/approve", body: `{"pg":`, status: 400, code: "INVALID_REQUEST"},
			{name: "approve: amount is text", method: "POST", path: "/payments/approve", body: okApprove(func(m map[string]any) { m["amount"] = "15000won" }), status: 400, code: "INVALID_REQUEST"},
			{name: "approve: missing amount", method: "POST", path: "/payments/approve", body: okApprove(func(m map[string]any) { delete(m, "amount") }), status: 400, code: "INVALID_REQUEST"},
			{name: "approve: fractional won", method: "POST", path: "/payments/approve", body: okApprove(func(m map[string]any) { m["amount"] = 0.5 }), status: 400, code: "INVALID_REQUEST"},
			{name: "approve: redirect is not a map of strings", method: "POST", path: "/payments/approve", body: okApprove(func(m map[string]any) { m["redirect"] = []int{1} }), status: 400, code: "INVALID_REQUEST"},
			{name: "approve: unknown PG", method: "POST", path: "/payments/approve", body: okApprove(func(m map[string]any) { m["pg"] = "nopay" }), status: 400, code: "INVALID_REQUEST"},
			{name: "approve: over-long orderId", method: "POST", path: "/payments/approve", body: okApprove(func(m map[string]any) { m["orderId"] = long }), status: 400, code: "INVALID_REQUEST"},
			{name: "approve: over-long paymentKey", method: "POST", path: "/payments/approve", body: okApprove(func(m map[string]any) { m["paymentKey"] = strings.Repeat("k", 201) }), status: 400, code: "INVALID_REQUEST"},
			{name: "approve: order never prepared", method: "POST", path: "/payments/approve", body: okApprove(func(map[string]any) {}), status: 404, code: "NOT_FOUND"},
			{name: "approve: over 1 MiB", method: "POST", path: "/payments/approve", body: strings.Replace(huge, "orderName", "authToken", 1), status: 413, code: "REQUEST_TOO_LARGE"},
			{name: "approve: over 1 MiB with a key", method: "POST", path: "/payments/approve", body: strings.Replace(huge, "orderName", "authToken", 1), headers: []string{"Idempotency-Key", "big-1"}, status: 413, code: "REQUEST_TOO_LARGE"},
			{name: "approve: over-long key", method: "POST", path: "/payments/approve", body: okApprove(func(map[string]any) {}), headers: []string{"Idempotency-Key", strings.Repeat("k", 300)}, status: 400, code: "IDEMPOTENCY_KEY_INVALID"},
			{name: "approve: key with control characters", method: "POST", path: "/payments/approve", body: okApprove(func(map[string]any) {}), headers: []string{"Idempotency-Key", "\"a\tb\""}, status: 400, code: "IDEMPOTENCY_KEY_INVALID"},

			{name: "payment: unknown id", method: "GET", path: "/payments/pay_nothing", status: 404, code: "NOT_FOUND"},
			{name: "payment: over-long id", method: "GET", path: "/payments/" + strings.Repeat("p", 5000), status: 404, code: "NOT_FOUND"},
			{name: "payment: escaped junk", method: "GET", path: "/payments/%27%3B--%00", status: 404, code: "NOT_FOUND"},
			{name: "order: unknown id", method: "GET", path: "/orders/nothing", status: 404, code: "NOT_FOUND"},
			{name: "order: over-long id", method: "GET", path: "/orders/" + strings.Repeat("o", 5000), status: 404, code: "NOT_FOUND"},

			{name: "cancel: no key", method: "POST", path: "/payments/pay_nothing/cancel", body: `{"reason":"x"}`, status: 400, code: "IDEMPOTENCY_KEY_MISSING"},
			{name: "cancel: malformed JSON", method: "POST", path: "/payments/pay_nothing/cancel", body: `{"reason":`, headers: []string{"Idempotency-Key", "c-1"}, status: 400, code: "INVALID_REQUEST"},
			{name: "cancel: fractional won", method: "POST", path: "/payments/pay_nothing/cancel", body: `{"reason":"x","amount":10.5}`, headers: []string{"Idempotency-Key", "c-2"}, status: 400, code: "INVALID_REQUEST"},
			{name: "cancel: negative amount", method: "POST", path: "/payments/pay_nothing/cancel", body: `{"reason":"x","amount":-10}`, headers: []string{"Idempotency-Key", "c-3"}, status: 400, code: "INVALID_REQUEST"},
			{name: "cancel: no reason", method: "POST", path: "/payments/pay_nothing/cancel", body: `{}`, headers: []string{"Idempotency-Key", "c-4"}, status: 400, code: "INVALID_REQUEST"},
			{name: "cancel: unknown payment", method: "POST", path: "/payments/pay_nothing/cancel", body: `{"reason":"x"}`, headers: []string{"Idempotency-Key", "c-5"}, status: 404, code: "NOT_FOUND"},
			{name: "cancel: over 1 MiB", method: "POST", path: "/payments/pay_nothing/cancel", body: `{"reason":"` + strings.Repeat("r", 1<<20) + `"}`, headers: []string{"Idempotency-Key", "c-6"}, status: 413, code: "REQUEST_TOO_LARGE"},

			{name: "webhook: unknown PG", method: "POST", path: "/webhooks/nopay", body: `{}`, status: 404, code: "UNKNOWN_PG"},
			{name: "webhook: over the cap", method: "POST", path: "/webhooks/" + inicis.Name, body: strings.Repeat("a", 300<<10), status: 413, code: "REQUEST_TOO_LARGE"},
			{name: "webhook: PG that sends none", method: "POST", path: "/webhooks/kakaopay", body: `{}`, status: 404, code: "UNKNOWN_PG"},

			{name: "sandbox pay: unknown PG", method: "POST", path: "/sandbox/nopay/pay", body: `{"orderId":"x","amount":1000}`, status: 404},
			{name: "sandbox pay: unknown fault", method: "POST", path: "/sandbox/" + pgName + "/pay", body: `{"orderId":"x","amount":1000,"fault":"meteor"}`, status: 400, code: "INVALID_REQUEST"},
			{name: "sandbox pay: malformed JSON", method: "POST", path: "/sandbox/" + pgName + "/pay", body: `[`, status: 400, code: "INVALID_REQUEST"},
			{name: "sandbox pay: fractional won", method: "POST", path: "/sandbox/" + pgName + "/pay", body: `{"orderId":"x","amount":1.5}`, status: 400, code: "INVALID_REQUEST"},
		}

		if s.app.Sandbox(inicis.Name) != nil {
			cases = append(cases, hostile{name: "checkout: below the PG's minimum", method: "POST", path: "/checkouts",
				body: okCheckout(func(m map[string]any) { m["pg"], m["amount"] = inicis.Name, 500 }), status: 400, code: "INVALID_REQUEST"})
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				before := s.rowCounts(t)
				resp := s.do(t, c.method, c.path, c.body, c.headers...)
				assert.Equal(t, c.status, resp.Status, "%s", resp)
				if c.code != "" && resp.Status == c.status {
					assert.Equal(t, c.code, resp.errorCode(t))
				}
				assert.Equal(t, before, s.rowCounts(t), "nothing was stored")
			})
		}
		assert.NoError(t, s.app.DB().SQL().PingContext(context.Background()), "the server is still up")
		resp := s.do(t, http.MethodGet, "/healthz", nil)
		assert.Equal(t, http.StatusOK, resp.Status)
	})
}

// F29: an Inicis authUrl that points anywhere but the allow-listed
// approval host is never called; the attempt fails and nothing is charged.
func TestE2E_InicisForeignAuthURL_NeverCalled(t *testing.T) {
	eachDialect(t, func(t *testing.T, s *server) {
		if s.app.Sandbox(inicis.Name) == nil {
			t.Skip("the example server does not run the Inicis sandbox")
		}
		var hits atomic.Int64
		evil := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			hits.Add(1)
			_, _ = w.Write([]byte(`{"resultCode":"0000"}`))
		}))
		defer evil.Close()

		b := buyer{PG: inicis.Name, OrderID: newOrderID("f29"), Amount: 15000}
		body := s.prepareAndPay(t, b, "", nil)
		body["authUrl"] = evil.URL + "/api/payAuth"
		if r, ok := body["redirect"].(map[string]any); ok {
			r["authUrl"] = evil.URL + "/api/payAuth"
		}
		resp := s.approve(t, body, "")
		assert.GreaterOrEqual(t, resp.Status, 400, "%s", resp)
		assert.Less(t, resp.Status, 500, "%s", resp)
		assert.Zero(t, hits.Load(), "no request left for the foreign host")
		out := s.checkOrder(t, b, false)
		assert.Zero(t, out.PG.Approvals)
	})
}
