package e2e_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"regexp"
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

// goTypes matches what Go's own error texts put in a message: type names,
// package-qualified identifiers, "Go struct field", "unmarshal".
var goTypes = regexp.MustCompile(`\bGo (struct|value)|\bjson\.|map\[|\[\]|\*?\b[a-z]+\.[A-Z]\w*|\bu?int(8|16|32|64)\b|float(32|64)|[Uu]nmarshal|reflect\.`)

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

		// op adds the operator token to a request's headers.
		op := func(headers ...string) []string { return append(headers, asOperator...) }
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

			{name: "checkout: text/plain (a cross-site form)", method: "POST", path: "/checkouts", body: okCheckout(func(map[string]any) {}), headers: []string{"Content-Type", "text/plain"}, status: 415, code: "UNSUPPORTED_MEDIA_TYPE"},
			{name: "checkout: form-encoded", method: "POST", path: "/checkouts", body: "orderId=x&amount=1000", headers: []string{"Content-Type", "application/x-www-form-urlencoded"}, status: 415, code: "UNSUPPORTED_MEDIA_TYPE"},
			{name: "checkout: no content type", method: "POST", path: "/checkouts", body: okCheckout(func(map[string]any) {}), headers: []string{"Content-Type", ""}, status: 415, code: "UNSUPPORTED_MEDIA_TYPE"},
			{name: "checkout: JSON in another charset", method: "POST", path: "/checkouts", body: okCheckout(func(map[string]any) {}), headers: []string{"Content-Type", "application/json; charset=iso-8859-1"}, status: 415, code: "UNSUPPORTED_MEDIA_TYPE"},
			{name: "checkout: invalid UTF-8", method: "POST", path: "/checkouts", body: "{\"orderId\":\"bad-\xff-id\",\"amount\":15000,\"pg\":\"" + pgName + "\",\"orderName\":\"x\"}", status: 400, code: "INVALID_REQUEST"},
			{name: "checkout: lone surrogate escape", method: "POST", path: "/checkouts", body: `{"orderId":"bad-\ud800-id","amount":15000,"pg":"` + pgName + `","orderName":"x"}`, status: 400, code: "INVALID_REQUEST"},
			{name: "checkout: duplicate key", method: "POST", path: "/checkouts", body: `{"orderId":"dup-1","orderId":"dup-2","amount":15000,"pg":"` + pgName + `","orderName":"x"}`, status: 400, code: "INVALID_REQUEST"},
			{name: "checkout: duplicate key by escape", method: "POST", path: "/checkouts", body: `{"orderId":"dup-1","\u006frderId":"dup-2","amount":15000,"pg":"` + pgName + `","orderName":"x"}`, status: 400, code: "INVALID_REQUEST"},
			{name: "checkout: a trailing brace", method: "POST", path: "/checkouts", body: `{"orderId":"trail-1","amount":15000,"pg":"` + pgName + `","orderName":"x"}}`, status: 400, code: "INVALID_REQUEST"},
			{name: "checkout: amount as a numeric string", method: "POST", path: "/checkouts", body: okCheckout(func(m map[string]any) { m["amount"] = "15000" }), status: 400, code: "INVALID_REQUEST"},
			{name: "checkout: key in another case", method: "POST", path: "/checkouts", body: `{"OrderId":"case-1","amount":15000,"pg":"` + pgName + `","orderName":"x"}`, status: 400, code: "INVALID_REQUEST"},
			{name: "checkout: unknown key", method: "POST", path: "/checkouts", body: okCheckout(func(m map[string]any) { m["discount"] = 1000 }), status: 400, code: "INVALID_REQUEST"},
			{name: "checkout: unknown key in sandbox", method: "POST", path: "/checkouts", body: okCheckout(func(m map[string]any) {
				m["sandbox"] = map[string]any{"orderFailure": "transient", "times": 1, "when": "now"}
			}), status: 400, code: "INVALID_REQUEST"},
			{name: "checkout: null", method: "POST", path: "/checkouts", body: okCheckout(func(m map[string]any) { m["orderName"] = nil }), status: 400, code: "INVALID_REQUEST"},
			{name: "checkout: times not whole", method: "POST", path: "/checkouts", body: okCheckout(func(m map[string]any) { m["sandbox"] = map[string]any{"orderFailure": "transient", "times": 2.5} }), status: 400, code: "INVALID_REQUEST"},
			{name: "checkout: an array", method: "POST", path: "/checkouts", body: `[{"orderId":"a"}]`, status: 400, code: "INVALID_REQUEST"},
			{name: "checkout: nested too deep", method: "POST", path: "/checkouts", body: strings.Repeat("[", 5000) + strings.Repeat("]", 5000), status: 400, code: "INVALID_REQUEST"},
			{name: "approve: text/plain", method: "POST", path: "/payments/approve", body: okApprove(func(map[string]any) {}), headers: []string{"Content-Type", "text/plain", "Idempotency-Key", "tp-1"}, status: 415, code: "UNSUPPORTED_MEDIA_TYPE"},
			{name: "approve: duplicate amount", method: "POST", path: "/payments/approve", body: `{"pg":"` + pgName + `","orderId":"x","amount":15000,"amount":1}`, status: 400, code: "INVALID_REQUEST"},
			{name: "approve: redirect value a number", method: "POST", path: "/payments/approve", body: okApprove(func(m map[string]any) { m["redirect"] = map[string]any{"pg_token": 1} }), status: 400, code: "INVALID_REQUEST"},
			{name: "sandbox pay: text/plain", method: "POST", path: "/sandbox/" + pgName + "/pay", body: `{"orderId":"x","amount":1000}`, headers: []string{"Content-Type", "text/plain"}, status: 415, code: "UNSUPPORTED_MEDIA_TYPE"},
			{name: "sandbox pay: unknown key", method: "POST", path: "/sandbox/" + pgName + "/pay", body: `{"orderId":"x","amount":1000,"cardNumber":"4111"}`, status: 400, code: "INVALID_REQUEST"},

			{name: "payment: unknown id", method: "GET", path: "/payments/pay_nothing", status: 404, code: "NOT_FOUND"},
			{name: "payment: over-long id", method: "GET", path: "/payments/" + strings.Repeat("p", 5000), status: 404, code: "NOT_FOUND"},
			{name: "payment: escaped junk", method: "GET", path: "/payments/%27%3B--%00", status: 404, code: "NOT_FOUND"},
			{name: "order: unknown id", method: "GET", path: "/orders/nothing", status: 404, code: "NOT_FOUND"},
			{name: "order: over-long id", method: "GET", path: "/orders/" + strings.Repeat("o", 5000), status: 404, code: "NOT_FOUND"},

			{name: "cancel: no key", method: "POST", path: "/payments/pay_nothing/cancel", body: `{"reason":"x"}`, headers: op(), status: 400, code: "IDEMPOTENCY_KEY_MISSING"},
			{name: "cancel: malformed JSON", method: "POST", path: "/payments/pay_nothing/cancel", body: `{"reason":`, headers: op("Idempotency-Key", "c-1"), status: 400, code: "INVALID_REQUEST"},
			{name: "cancel: fractional won", method: "POST", path: "/payments/pay_nothing/cancel", body: `{"reason":"x","amount":10.5}`, headers: op("Idempotency-Key", "c-2"), status: 400, code: "INVALID_REQUEST"},
			{name: "cancel: negative amount", method: "POST", path: "/payments/pay_nothing/cancel", body: `{"reason":"x","amount":-10}`, headers: op("Idempotency-Key", "c-3"), status: 400, code: "INVALID_REQUEST"},
			{name: "cancel: no reason", method: "POST", path: "/payments/pay_nothing/cancel", body: `{}`, headers: op("Idempotency-Key", "c-4"), status: 400, code: "INVALID_REQUEST"},
			{name: "cancel: unknown payment", method: "POST", path: "/payments/pay_nothing/cancel", body: `{"reason":"x"}`, headers: op("Idempotency-Key", "c-5"), status: 404, code: "NOT_FOUND"},
			{name: "cancel: over 1 MiB", method: "POST", path: "/payments/pay_nothing/cancel", body: `{"reason":"` + strings.Repeat("r", 1<<20) + `"}`, headers: op("Idempotency-Key", "c-6"), status: 413, code: "REQUEST_TOO_LARGE"},

			{name: "cancel: no operator token", method: "POST", path: "/payments/pay_nothing/cancel", body: `{"reason":"x"}`, headers: []string{"Idempotency-Key", "c-7"}, status: 401, code: "UNAUTHORIZED"},
			{name: "cancel: text/plain", method: "POST", path: "/payments/pay_nothing/cancel", body: `{"reason":"x"}`, headers: op("Idempotency-Key", "c-8", "Content-Type", "text/plain"), status: 415, code: "UNSUPPORTED_MEDIA_TYPE"},
			{name: "cancel: amount as a string", method: "POST", path: "/payments/pay_nothing/cancel", body: `{"reason":"x","amount":"1000"}`, headers: op("Idempotency-Key", "c-9"), status: 400, code: "INVALID_REQUEST"},

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
					assert.NotRegexp(t, goTypes, resp.json(t)["error"].(map[string]any)["message"], "the message names no Go types")
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
