package e2e_test

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A checkout the PG would refuse answers 400 and leaves nothing behind —
// no example order, no checkout — so the same order id can be checked out
// once it is fixed, and a corrected checkout is not met with 409.
func TestE2E_Checkout_RefusedByThePGsRules_LeavesNoOrder(t *testing.T) {
	refused := map[string][]map[string]any{
		"tosspay":  {{"orderId": "주문-123456"}, {"orderId": "order 123456"}, {"orderId": "../../etc/x"}, {"orderId": "order\u0085123"}},
		"inicis":   {{"orderId": "inicis bad id 1"}},
		"kakaopay": {{"orderId": newOrderID("kakao-cust"), "customerId": strings.Repeat("c", 101)}},
	}
	eachDialect(t, func(t *testing.T, s *server) {
		s.eachPG(t, func(t *testing.T, pgName string) {
			for _, change := range refused[pgName] {
				before := s.rowCounts(t)
				req := map[string]any{"amount": 15000, "pg": pgName, "orderName": "refused"}
				for k, v := range change {
					req[k] = v
				}
				resp := s.do(t, http.MethodPost, "/checkouts", req)
				require.Equal(t, http.StatusBadRequest, resp.Status, "checkout %v: %s", change, resp)
				assert.Equal(t, "INVALID_REQUEST", resp.errorCode(t))
				assert.Equal(t, before, s.rowCounts(t), "a refused checkout writes nothing")
				orderID, _ := req["orderId"].(string)
				got := s.do(t, http.MethodGet, "/orders/"+url.PathEscape(orderID), nil)
				assert.Equal(t, http.StatusNotFound, got.Status, "no order left behind: %s", got)
			}
		})
	})
}

// A third party's re-checkout of an order whose attempt is open is refused
// and changes nothing: the buyer's payment goes through.
func TestE2E_Checkout_OpenAttempt_ReanswereredOrRefused(t *testing.T) {
	eachDialect(t, func(t *testing.T, s *server) {
		s.eachPG(t, func(t *testing.T, pgName string) {
			b := buyer{PG: pgName, OrderID: newOrderID("open-" + pgName), Amount: 21000}
			first := s.checkout(t, b, nil)

			again := s.do(t, http.MethodPost, "/checkouts", map[string]any{"orderId": b.OrderID, "amount": b.Amount, "pg": b.PG, "orderName": "e2e order"})
			require.Equal(t, http.StatusCreated, again.Status, "the same checkout again: %s", again)
			assert.Equal(t, first["client"], again.json(t)["client"], "the open attempt's parameters, unchanged")

			other := s.do(t, http.MethodPost, "/checkouts", map[string]any{"orderId": b.OrderID, "amount": b.Amount, "pg": b.PG, "orderName": "someone else's name"})
			require.Equal(t, http.StatusConflict, other.Status, "another checkout of the open attempt: %s", other)

			id := approveResult(t, s.approve(t, approveBody(b, s.pay(t, b, "")), ""), http.StatusOK, "APPROVED")
			s.settled(t, id)
		})
	})
}

// Approvals with made-up keys are declined; past the limit the order
// answers 429 with Retry-After and stores nothing more.
func TestE2E_Approve_InventedKeys_429AfterTheLimit(t *testing.T) {
	eachDialect(t, func(t *testing.T, s *server) {
		s.eachPG(t, func(t *testing.T, pgName string) {
			b := buyer{PG: pgName, OrderID: newOrderID("invent-" + pgName), Amount: 5000}
			body := s.prepareAndPay(t, b, "", nil)
			invented := func(i int) map[string]any {
				out := map[string]any{}
				for k, v := range body {
					out[k] = v
				}
				for _, k := range []string{"paymentKey", "pgToken", "authToken"} {
					if _, ok := out[k]; ok {
						out[k] = "invented-" + strconv.Itoa(i)
					}
				}
				return out
			}
			const limit = 10 // paygate.Config.AttemptLimit's default
			for i := range limit {
				resp := s.approve(t, invented(i), "")
				require.Equal(t, http.StatusPaymentRequired, resp.Status, "attempt %d: %s", i, resp)
			}
			before := s.rowCounts(t)
			resp := s.approve(t, invented(limit), "")
			require.Equal(t, http.StatusTooManyRequests, resp.Status, "past the limit: %s", resp)
			assert.Equal(t, "TOO_MANY_ATTEMPTS", resp.errorCode(t))
			after, err := strconv.Atoi(resp.Header.Get("Retry-After"))
			require.NoError(t, err, "Retry-After %q", resp.Header.Get("Retry-After"))
			assert.Positive(t, after)
			assert.Equal(t, before, s.rowCounts(t), "a refused attempt stores nothing")
		})
	})
}
