package e2e_test

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/paygate/paygate"
	"github.com/paygate/paygate/examples/server/app"
	"github.com/paygate/paygate/pg"
)

func (s *server) cancel(t *testing.T, paymentID, key string, body map[string]any) response {
	t.Helper()
	return s.do(t, http.MethodPost, "/payments/"+paymentID+"/cancel", body, append([]string{"Idempotency-Key", key}, asOperator...)...)
}

// Partial then full refunds over the API: each key refunds once, more than
// the balance is refused, the full refund cancels the order, and the PG's
// books and the ledger agree throughout.
func TestE2E_Cancel_PartialThenFull_OncePerKeyAndWithinTheBalance(t *testing.T) {
	eachDialect(t, func(t *testing.T, s *server) {
		s.eachPG(t, func(t *testing.T, name string) {
			b := buyer{PG: name, OrderID: newOrderID("cancel"), Amount: 10000}
			id := approveResult(t, s.approve(t, s.prepareAndPay(t, b, "", nil), ""), http.StatusOK, "APPROVED")
			s.checkOrder(t, b, false)

			partial := s.cancel(t, id, "k1-"+b.OrderID, map[string]any{"amount": 3000, "reason": "one item returned"})
			expectStatus(t, http.StatusOK, partial, "partial cancel")
			p := decodePayment(t, partial)
			assert.Equal(t, "PARTIAL_CANCELED", p.Status)
			requireWon(t, 7000, p.BalanceAmount, "balanceAmount")
			requireWon(t, 3000, p.CanceledAmount, "canceledAmount")

			again := s.cancel(t, id, "k1-"+b.OrderID, map[string]any{"amount": 3000, "reason": "one item returned"})
			assert.Equal(t, string(partial.Body), string(again.Body), "the same key: the stored answer")
			assert.Equal(t, "true", again.Header.Get("Idempotent-Replayed"))

			over := s.cancel(t, id, "k2-"+b.OrderID, map[string]any{"amount": 8000, "reason": "too much"})
			expectStatus(t, http.StatusConflict, over, "more than the balance")
			assert.Equal(t, "CONFLICT", over.errorCode(t))

			out := s.checkOrder(t, b, false)
			assert.Equal(t, pg.StatusPartialCanceled, out.Kept.Status)
			assert.Equal(t, 1, out.PG.Cancels)

			full := s.cancel(t, id, "k3-"+b.OrderID, map[string]any{"reason": "order canceled"})
			expectStatus(t, http.StatusOK, full, "cancel of the rest")
			p = decodePayment(t, full)
			assert.Equal(t, "CANCELED", p.Status)
			requireWon(t, 0, p.BalanceAmount, "balanceAmount")

			nothing := s.cancel(t, id, "k4-"+b.OrderID, map[string]any{"reason": "again"})
			expectStatus(t, http.StatusConflict, nothing, "nothing left to refund")

			out = s.checkOrder(t, b, false)
			assert.Equal(t, pg.StatusCanceled, out.Kept.Status)
			assert.Equal(t, 2, out.PG.Cancels, "two refunds at the PG, one per key")
			assert.Equal(t, app.OrderCanceled, out.Order.Status, "a full refund rolls the order back")
			assert.Equal(t, 2, s.payment(t, id).count(paygate.EventPaymentCanceled))
		})
		s.checkLedgers(t)
	})
}

// F28: a partial refund whose answer is lost is resolved by lookup and
// applied once, even when the client sends it again.
func TestE2E_Cancel_PartialAnswerLost_AppliedOnce(t *testing.T) {
	eachDialect(t, func(t *testing.T, s *server) {
		s.eachPG(t, func(t *testing.T, name string) {
			b := buyer{PG: name, OrderID: newOrderID("f28"), Amount: 10000}
			id := approveResult(t, s.approve(t, s.prepareAndPay(t, b, "", nil), ""), http.StatusOK, "APPROVED")
			s.checkOrder(t, b, false)

			s.armCancel(t, b, "timeout")
			key := "lost-" + b.OrderID
			first := s.cancel(t, id, key, map[string]any{"amount": 4000, "reason": "partial"})
			require.Less(t, first.Status, 500, "%s", first)
			s.settled(t, id)
			s.cancel(t, id, key, map[string]any{"amount": 4000, "reason": "partial"})

			out := s.checkOrder(t, b, false)
			assert.Equal(t, pg.StatusPartialCanceled, out.Kept.Status)
			assert.Equal(t, int64(4000), out.PG.Canceled)
			assert.Equal(t, 1, out.PG.Cancels, "applied once at the PG")
			assert.Equal(t, 1, s.payment(t, id).count(paygate.EventPaymentCanceled))
		})
		s.checkLedgers(t)
	})
}

func decodePayment(t *testing.T, r response) paymentJSON {
	t.Helper()
	var p paymentJSON
	require.NoError(t, json.Unmarshal(r.Body, &p), "%s", r)
	return p
}
