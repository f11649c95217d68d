package e2e_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/paygate/paygate"
	"github.com/paygate/paygate/tosspay"
)

// Forged Toss notifications of 100 KB about a real payment — without a
// secret, so the adapter confirms them by looking the payment up, or with a
// wrong one — store nothing and never reach the payment's public timeline:
// the PG's answer is what the genuine notification brought already, and a
// refused one is only logged and counted.
func TestE2E_TossForgedBodies_NothingStoredNothingInTheTimeline(t *testing.T) {
	eachDialect(t, func(t *testing.T, s *server) {
		if s.app.Sandbox(tosspay.Name) == nil {
			t.Skip("the example server does not run the Toss sandbox")
		}
		b := buyer{PG: tosspay.Name, OrderID: newOrderID("forged"), Amount: 12000}
		id := s.approveThenNotify(t, b)
		before := s.payment(t, id)
		require.Equal(t, 1, before.count(paygate.EventWebhookReceived), "the genuine notification")
		rows := s.rowCounts(t)
		stats := s.app.WebhookStats()

		pad := strings.Repeat("a", 100<<10)
		for i, claim := range []string{"CANCELED", "DONE", "PARTIAL_CANCELED", "DONE", "ABORTED"} {
			// No secret: confirmed by lookup, which finds the payment DONE.
			body := fmt.Sprintf(`{"eventType":"PAYMENT_STATUS_CHANGED","createdAt":"2026-01-01T00:00:00.000000",`+
				`"data":{"orderId":%q,"status":%q,"totalAmount":1,"balanceAmount":0,"lastTransactionKey":"forged-%d","orderName":%q}}`,
				b.OrderID, claim, i, pad)
			resp := s.do(t, http.MethodPost, "/webhooks/tosspay", body, fromTest, "1")
			assert.Equal(t, http.StatusOK, resp.Status, "nothing new at the PG: acknowledged as known news: %s", resp)
		}
		for i := range 5 {
			body := fmt.Sprintf(`{"eventType":"PAYMENT_STATUS_CHANGED","createdAt":"2026-01-01T00:00:00.000000",`+
				`"data":{"orderId":%q,"status":"CANCELED","totalAmount":12000,"secret":"ps_forged_%d","orderName":%q}}`,
				b.OrderID, i, pad)
			resp := s.do(t, http.MethodPost, "/webhooks/tosspay", body, fromTest, "1")
			assert.Equal(t, http.StatusUnauthorized, resp.Status, "a wrong secret: %s", resp)
		}

		assert.Equal(t, rows, s.rowCounts(t), "nothing was stored")
		after := s.payment(t, id)
		assert.Equal(t, len(before.Events), len(after.Events), "nothing in the payment's timeline")
		assert.Equal(t, 1, after.count(paygate.EventWebhookReceived))
		assert.Equal(t, before.Status, after.Status)
		now := s.app.WebhookStats()
		assert.Equal(t, stats.Rejected+5, now.Rejected, "every refusal is counted")
		assert.Equal(t, stats.Recorded, now.Recorded, "nothing recorded")
	})
}
