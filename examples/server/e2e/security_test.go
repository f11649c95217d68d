package e2e_test

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/paygate/paygate/pg"
)

// A refund is the shop's decision: without the operator token the cancel
// route answers 401 in the API's shape, refunds nothing, stores nothing and
// claims no Idempotency-Key; the attention queue is behind the token too.
func TestE2E_Refund_NeedsTheOperatorToken(t *testing.T) {
	eachDialect(t, func(t *testing.T, s *server) {
		pgName := s.sandboxPGs()[0]
		b := buyer{PG: pgName, OrderID: newOrderID("optoken"), Amount: 10000}
		id := approveResult(t, s.approve(t, s.prepareAndPay(t, b, "", nil), ""), http.StatusOK, "APPROVED")
		s.checkOrder(t, b, false)
		rows := s.rowCounts(t)

		const key = "refund-without-token"
		refund := map[string]any{"reason": "not mine to give"}
		for name, auth := range map[string][]string{
			"no token":           nil,
			"wrong token":        {"Authorization", "Bearer " + operatorToken + "x"},
			"token as Basic":     {"Authorization", "Basic " + operatorToken},
			"empty bearer":       {"Authorization", "Bearer "},
			"prefix of it":       {"Authorization", "Bearer " + operatorToken[:10]},
			"token in a cookie":  {"Cookie", "token=" + operatorToken},
			"bearer, lower case": {"Authorization", "bearer " + strings.ToUpper(operatorToken)},
		} {
			resp := s.do(t, http.MethodPost, "/payments/"+id+"/cancel", refund, append([]string{"Idempotency-Key", key}, auth...)...)
			assert.Equal(t, http.StatusUnauthorized, resp.Status, "%s: %s", name, resp)
			if resp.Status == http.StatusUnauthorized {
				assert.Equal(t, "UNAUTHORIZED", resp.errorCode(t), name)
				assert.Contains(t, resp.Header.Get("WWW-Authenticate"), "Bearer", name)
			}
		}
		assert.Equal(t, rows, s.rowCounts(t), "nothing was stored")
		out := s.checkOrder(t, b, false)
		assert.Equal(t, pg.StatusApproved, out.Kept.Status, "nothing was refunded")
		assert.Zero(t, out.PG.Cancels)

		for _, auth := range [][]string{nil, {"Authorization", "Bearer nope-nope-nope-nope"}} {
			resp := s.do(t, http.MethodGet, "/admin/api/attention", nil, auth...)
			assert.Equal(t, http.StatusUnauthorized, resp.Status, "%s", resp)
		}
		resp := s.do(t, http.MethodGet, "/admin/api/attention", nil, asOperator...)
		assert.Equal(t, http.StatusOK, resp.Status, "%s", resp)

		// The operator's refund, with the key the refused requests used:
		// they claimed nothing.
		resp = s.cancel(t, id, key, refund)
		require.Equal(t, http.StatusOK, resp.Status, "%s", resp)
		p := decodePayment(t, resp)
		assert.Equal(t, "CANCELED", p.Status)
		require.Len(t, p.Cancels, 1)
		assert.NotEmpty(t, p.Cancels[0].CancelID, "the operator's answer names the cancel")
		assert.Empty(t, resp.Header.Get("Idempotent-Replayed"))
	})
}

// The buyer's reads show what the checkout page needs and nothing else: no
// PG payment key, secret, PG error text or internal cancel id.
func TestE2E_BuyerReads_ShowNoPGKeysSecretsOrInternalIDs(t *testing.T) {
	eachDialect(t, func(t *testing.T, s *server) {
		s.eachPG(t, func(t *testing.T, name string) {
			b := buyer{PG: name, OrderID: newOrderID("buyer"), Amount: 10000}
			id := approveResult(t, s.approve(t, s.prepareAndPay(t, b, "", nil), ""), http.StatusOK, "APPROVED")
			s.checkOrder(t, b, false)
			expectStatus(t, http.StatusOK, s.cancel(t, id, "part-"+b.OrderID, map[string]any{"amount": 1000, "reason": "one item"}), "partial refund")
			s.checkOrder(t, b, false)

			ps, err := s.app.DB().PaymentsByOrder(context.Background(), b.OrderID)
			require.NoError(t, err)
			require.Len(t, ps, 1)
			secrets := []string{ps[0].PaymentKey}
			if secret, ok := s.app.Paygate().WebhookSecret(context.Background(), name, ps[0].PaymentKey, b.OrderID); ok {
				secrets = append(secrets, secret)
			}
			require.NotEmpty(t, ps[0].PaymentKey)

			order := s.do(t, http.MethodGet, "/orders/"+b.OrderID, nil)
			require.Equal(t, http.StatusOK, order.Status)
			assert.ElementsMatch(t, []string{"orderId", "status", "paymentId"}, keysOf(t, order.Body))

			payment := s.do(t, http.MethodGet, "/payments/"+id, nil)
			require.Equal(t, http.StatusOK, payment.Status)
			for _, k := range keysOf(t, payment.Body) {
				assert.Contains(t, []string{"paymentId", "orderId", "pg", "amount", "currency", "status", "approvedAt",
					"canceledAmount", "balanceAmount", "failureCode", "cancels", "events"}, k, "a buyer needs %s", k)
			}
			var p struct {
				Cancels []map[string]any `json:"cancels"`
			}
			require.NoError(t, json.Unmarshal(payment.Body, &p))
			require.Len(t, p.Cancels, 1)
			assert.NotContains(t, p.Cancels[0], "cancelId", "the cancel's id is the shop's")
			for _, body := range [][]byte{order.Body, payment.Body} {
				for _, secret := range secrets {
					assert.NotContains(t, string(body), secret, "the PG's key or secret is not shown")
				}
				assert.NotContains(t, string(body), "secret")
			}
		})
	})
}

func keysOf(t *testing.T, body []byte) []string {
	t.Helper()
	var m map[string]json.RawMessage
	require.NoError(t, json.Unmarshal(body, &m))
	var keys []string
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// Idempotency-Key lengths the API documents (up to 255 characters) are
// accepted on every route, the cancel's stored key included (its column
// has 255 characters); a refusal before the request ran is not stored as
// the key's answer, so the corrected request with the same key runs.
func TestE2E_IdempotencyKeys_UpTo255Accepted_RefusalsNotStored(t *testing.T) {
	eachDialect(t, func(t *testing.T, s *server) {
		pgName := s.sandboxPGs()[0]
		b := buyer{PG: pgName, OrderID: newOrderID("keys"), Amount: 10000}

		// Approve before the checkout exists: 404, not the key's answer.
		approveKey := "approve-" + strings.Repeat("a", 240)
		early := s.approve(t, approveBody(b, map[string]any{"paymentKey": "x", "authToken": "x", "pgToken": "x"}), approveKey)
		require.Equal(t, http.StatusNotFound, early.Status, "%s", early)
		id := approveResult(t, s.approve(t, s.prepareAndPay(t, b, "", nil), approveKey), http.StatusOK, "APPROVED")
		s.checkOrder(t, b, false)

		for i, n := range []int{181, 200, 255} {
			key := strings.Repeat(string(rune('k'+i)), n)
			body := map[string]any{"amount": 1000, "reason": "partial"}
			first := s.cancel(t, id, key, body)
			require.Equal(t, http.StatusOK, first.Status, "a %d-character key: %s", n, first)
			again := s.cancel(t, id, key, body)
			assert.Equal(t, "true", again.Header.Get("Idempotent-Replayed"), "a %d-character key replays", n)
			assert.Equal(t, string(first.Body), string(again.Body))
		}
		over := s.cancel(t, id, strings.Repeat("z", 256), map[string]any{"amount": 1000, "reason": "partial"})
		assert.Equal(t, http.StatusBadRequest, over.Status)
		assert.Equal(t, "IDEMPOTENCY_KEY_INVALID", over.errorCode(t))

		// A 400 for a bad body releases the key: the fixed body runs.
		key := "fix-" + strings.Repeat("f", 200)
		bad := s.cancel(t, id, key, map[string]any{"amount": 1000})
		require.Equal(t, http.StatusBadRequest, bad.Status, "%s", bad)
		fixed := s.cancel(t, id, key, map[string]any{"amount": 1000, "reason": "partial"})
		require.Equal(t, http.StatusOK, fixed.Status, "the corrected request runs: %s", fixed)
		p := decodePayment(t, fixed)
		requireWon(t, 4000, p.CanceledAmount, "four partial refunds, one per key")

		out := s.checkOrder(t, b, false)
		assert.Equal(t, 4, out.PG.Cancels, "each key refunded once at the PG")
		s.checkLedgers(t)
	})
}

// Error answers name no Go types and echo at most a short piece of what
// the client sent.
func TestE2E_NotFound_EchoesNoHugeID(t *testing.T) {
	eachDialect(t, func(t *testing.T, s *server) {
		huge := strings.Repeat("p", 100<<10)
		for _, path := range []string{"/payments/" + huge, "/orders/" + huge} {
			resp := s.do(t, http.MethodGet, path, nil)
			assert.Equal(t, http.StatusNotFound, resp.Status)
			assert.Equal(t, "NOT_FOUND", resp.errorCode(t))
			assert.Less(t, len(resp.Body), 1024, "the id is not echoed: %s", resp)
		}
		resp := s.do(t, http.MethodPost, "/payments/"+huge+"/cancel", `{"reason":"x"}`, append([]string{"Idempotency-Key", "huge"}, asOperator...)...)
		assert.Equal(t, http.StatusNotFound, resp.Status)
		assert.Less(t, len(resp.Body), 1024, "the id is not echoed: %s", resp)
	})
}
