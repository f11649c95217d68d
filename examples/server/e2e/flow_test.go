package e2e_test

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/paygate/paygate"
	"github.com/paygate/paygate/examples/server/app"
	"github.com/paygate/paygate/pg"
)

func TestE2E_Approve_Approved_OrderPaidAndSettledOnce(t *testing.T) {
	eachDialect(t, func(t *testing.T, s *server) {
		s.eachPG(t, func(t *testing.T, name string) {
			b := buyer{PG: name, OrderID: newOrderID("ok"), Amount: 15000}
			c := s.checkout(t, b, nil)
			assert.Equal(t, b.OrderID, c["orderId"])
			assert.Equal(t, name, c["pg"])
			assert.Equal(t, app.OrderPendingPayment, s.order(t, b.OrderID).Status)

			id := approveResult(t, s.approve(t, approveBody(b, s.pay(t, b, "")), ""), http.StatusOK, "APPROVED")
			out := s.checkOrder(t, b, false)
			assert.Equal(t, id, out.Kept.ID)
			assert.Equal(t, pg.StatusApproved, out.Kept.Status)
			assert.Equal(t, 1, s.payment(t, id).count(paygate.EventOrderCreated))
		})
		s.checkLedgers(t)
	})
}

// F1: the same approval sent twice with the same Idempotency-Key gets the
// stored answer byte for byte, and the PG approves once.
func TestE2E_IdempotencyKey_SameRequestTwice_ReplayedByteForByte(t *testing.T) {
	eachDialect(t, func(t *testing.T, s *server) {
		s.eachPG(t, func(t *testing.T, name string) {
			b := buyer{PG: name, OrderID: newOrderID("f1"), Amount: 8000}
			body := s.prepareAndPay(t, b, "", nil)
			key := "f1-" + b.OrderID

			first := s.approve(t, body, key)
			approveResult(t, first, http.StatusOK, "APPROVED")
			assert.Empty(t, first.Header.Get("Idempotent-Replayed"))
			for range 2 {
				again := s.approve(t, body, key)
				assert.Equal(t, first.Status, again.Status)
				assert.Equal(t, string(first.Body), string(again.Body), "the stored answer, byte for byte")
				assert.Equal(t, "true", again.Header.Get("Idempotent-Replayed"))
			}
			out := s.checkOrder(t, b, false)
			assert.Equal(t, 1, out.PG.Approvals, "the PG was called once")
			assert.Len(t, out.Payments, 1)
		})
		s.checkLedgers(t)
	})
}

// F2: the same key with a different body is refused with 422 and changes
// nothing.
func TestE2E_IdempotencyKey_DifferentBody_422AndNothingChanges(t *testing.T) {
	eachDialect(t, func(t *testing.T, s *server) {
		s.eachPG(t, func(t *testing.T, name string) {
			b := buyer{PG: name, OrderID: newOrderID("f2"), Amount: 9000}
			body := s.prepareAndPay(t, b, "", nil)
			key := "f2-" + b.OrderID
			first := s.approve(t, body, key)
			id := approveResult(t, first, http.StatusOK, "APPROVED")
			before := s.payment(t, id)

			changed := map[string]any{}
			for k, v := range body {
				changed[k] = v
			}
			changed["amount"] = b.Amount + 1000
			reused := s.approve(t, changed, key)
			expectStatus(t, http.StatusUnprocessableEntity, reused, "key reused with another body")
			assert.Equal(t, "IDEMPOTENCY_KEY_REUSED", reused.errorCode(t))

			after := s.checkOrder(t, b, false)
			assert.Len(t, after.Payments, 1, "no second payment")
			assert.Equal(t, before.Status, string(after.Kept.Status))
			assert.Equal(t, 1, after.PG.Approvals)
		})
	})
}

// F3: the same key while the first request is still at the PG gets 409;
// the first completes normally and a later resend replays it.
func TestE2E_IdempotencyKey_WhileFirstRuns_409ThenFirstCompletes(t *testing.T) {
	eachDialect(t, func(t *testing.T, s *server) {
		s.eachPG(t, func(t *testing.T, name string) {
			slow := s.app.Sandbox(name)
			b := buyer{PG: name, OrderID: newOrderID("f3"), Amount: 10000}
			body := s.prepareAndPay(t, b, "", nil)
			key := "f3-" + b.OrderID

			slow.SetLatency(1500 * time.Millisecond)
			defer slow.SetLatency(0)
			firstDone := make(chan response, 1)
			go func() { firstDone <- s.approve(t, body, key) }()
			// The first request holds the key once its payment exists: it
			// is at the PG now.
			eventually(t, "the first request to reach the PG", func() bool {
				ps, err := s.app.DB().PaymentsByOrder(context.Background(), b.OrderID)
				require.NoError(t, err)
				return len(ps) > 0
			})
			second := s.approve(t, body, key)
			first := <-firstDone
			slow.SetLatency(0)
			id := approveResult(t, first, http.StatusOK, "APPROVED")
			if second.Header.Get("Idempotent-Replayed") == "true" {
				// Only on a machine so slow the PG's 1.5 s passed between
				// the two requests.
				assert.Equal(t, string(first.Body), string(second.Body))
			} else {
				expectStatus(t, http.StatusConflict, second, "the same key while the first runs")
				assert.Equal(t, "IDEMPOTENCY_KEY_IN_USE", second.errorCode(t))
				assert.NotEmpty(t, second.Header.Get("Retry-After"))
			}
			third := s.approve(t, body, key)
			assert.Equal(t, string(first.Body), string(third.Body), "after it completes, the first answer is replayed")
			out := s.checkOrder(t, b, false)
			assert.Equal(t, id, out.Kept.ID)
			assert.Equal(t, 1, out.PG.Approvals)
		})
	})
}

// F4: a double click or two tabs approve the same order at once with
// different keys: one PG approval; every other answer is the same payment
// or 409.
func TestE2E_Approve_TwoTabsAtOnce_OnePGApproval(t *testing.T) {
	eachDialect(t, func(t *testing.T, s *server) {
		s.eachPG(t, func(t *testing.T, name string) {
			b := buyer{PG: name, OrderID: newOrderID("f4"), Amount: 20000}
			body := s.prepareAndPay(t, b, "", nil)
			const tabs = 6
			answers := make([]response, tabs)
			parallel(tabs, func(i int) {
				answers[i] = s.approve(t, body, "f4-tab-"+string(rune('a'+i))+"-"+b.OrderID)
			})
			ids := map[string]bool{}
			for _, a := range answers {
				switch a.Status {
				case http.StatusOK:
					ids[approveResult(t, a, http.StatusOK, "APPROVED")] = true
				case http.StatusConflict:
					assert.Equal(t, "IN_PROGRESS", a.errorCode(t))
				default:
					t.Errorf("a concurrent approval answered %s", a)
				}
			}
			require.LessOrEqual(t, len(ids), 1, "every approval that succeeded names the same payment")
			conflicts := 0
			for _, a := range answers {
				if a.Status == http.StatusConflict {
					conflicts++
				}
			}
			t.Logf("%d of %d tabs were told to try again", conflicts, tabs)
			out := s.checkOrder(t, b, false)
			assert.Equal(t, 1, out.PG.Approvals, "one PG approval")
			assert.Len(t, out.Payments, 1)
			for id := range ids {
				assert.Equal(t, out.Kept.ID, id)
			}
			// A tab that was told to try again does so with its own key and
			// learns the outcome: "in progress" is not its answer for good.
			for i, a := range answers {
				again := s.approve(t, body, "f4-tab-"+string(rune('a'+i))+"-"+b.OrderID)
				if a.Status == http.StatusConflict {
					assert.Empty(t, again.Header.Get("Idempotent-Replayed"), "a 409 was not stored as the key's answer")
				}
				assert.Equal(t, out.Kept.ID, approveResult(t, again, http.StatusOK, "APPROVED"), "tab %d asks again", i)
			}
			again := s.approve(t, body, "")
			assert.Equal(t, out.Kept.ID, approveResult(t, again, http.StatusOK, "APPROVED"))
		})
	})
}

// F5: an approval for another amount than the checkout's is refused before
// the PG is called.
func TestE2E_Approve_AmountDiffersFromCheckout_422AndPGNeverCalled(t *testing.T) {
	eachDialect(t, func(t *testing.T, s *server) {
		s.eachPG(t, func(t *testing.T, name string) {
			b := buyer{PG: name, OrderID: newOrderID("f5"), Amount: 15000}
			body := s.prepareAndPay(t, b, "", nil)
			body["amount"] = 1500
			resp := s.approve(t, body, "")
			expectStatus(t, http.StatusUnprocessableEntity, resp, "tampered amount")
			assert.Equal(t, "AMOUNT_MISMATCH", resp.errorCode(t))

			out := s.checkOrder(t, b, false)
			assert.Zero(t, out.PG.Approvals, "the PG was never asked to approve")
			assert.Empty(t, out.Payments, "nothing was recorded")
			assert.Equal(t, app.OrderPendingPayment, out.Order.Status)

			// The genuine amount still goes through.
			body["amount"] = b.Amount
			approveResult(t, s.approve(t, body, ""), http.StatusOK, "APPROVED")
			s.checkOrder(t, b, false)
		})
		s.checkLedgers(t)
	})
}

// F6: a decline fails the payment with 402, charges nothing, and the order
// can be paid with another attempt.
func TestE2E_Approve_Declined_402ThenPaidByAnotherAttempt(t *testing.T) {
	eachDialect(t, func(t *testing.T, s *server) {
		s.eachPG(t, func(t *testing.T, name string) {
			b := buyer{PG: name, OrderID: newOrderID("f6"), Amount: 9000}
			declined := approveResult(t, s.approve(t, s.prepareAndPay(t, b, "decline", nil), ""), http.StatusPaymentRequired, "FAILED")
			out := s.checkOrder(t, b, false)
			assert.Zero(t, out.PG.Approvals)
			assert.Equal(t, 1, s.payment(t, declined).count(paygate.EventPaymentFailed))

			paid := approveResult(t, s.approve(t, s.prepareAndPay(t, b, "", nil), ""), http.StatusOK, "APPROVED")
			assert.NotEqual(t, declined, paid)
			out = s.checkOrder(t, b, false)
			assert.Equal(t, paid, out.Kept.ID)
			assert.Len(t, out.Payments, 2)
			assert.Equal(t, "FAILED", s.payment(t, declined).Status)
		})
		s.checkLedgers(t)
	})
}

// F7: the PG approved but its answer was lost: 202 UNKNOWN, then APPROVED
// by lookup, the order created once.
func TestE2E_Approve_AnswerLost_202ThenApprovedByLookup(t *testing.T) {
	eachDialect(t, func(t *testing.T, s *server) {
		s.eachPG(t, func(t *testing.T, name string) {
			b := buyer{PG: name, OrderID: newOrderID("f7"), Amount: 12000}
			resp := s.approve(t, s.prepareAndPay(t, b, "timeout", nil), "")
			var id string
			if s.app.Gateway(name).Capabilities().IdempotencyKeys && resp.Status == http.StatusOK {
				// Toss honours the Idempotency-Key the adapter sends, so
				// the adapter may resend the lost call and get the
				// approval's answer at once.
				id = approveResult(t, resp, http.StatusOK, "APPROVED")
			} else {
				id = approveResult(t, resp, http.StatusAccepted, "UNKNOWN")
				assert.Equal(t, 1, s.payment(t, id).count(paygate.EventPaymentUnknown))
			}
			out := s.checkOrder(t, b, false)
			assert.Equal(t, id, out.Kept.ID)
			assert.Equal(t, pg.StatusApproved, out.Kept.Status)
			p := s.payment(t, id)
			assert.Equal(t, 1, p.count(paygate.EventOrderCreated), "the order is created once")
		})
		s.checkLedgers(t)
	})
}

// F8 and F9: the PG's answer was lost (or was a 5xx) and it approved
// nothing: 202 UNKNOWN, then FAILED by lookup, no order, nothing charged;
// the order can be paid again.
func TestE2E_Approve_LostAndNotApproved_202ThenFailed(t *testing.T) {
	for _, fault := range []string{"timeout-unapproved", "error500"} {
		t.Run(fault, func(t *testing.T) {
			eachDialect(t, func(t *testing.T, s *server) {
				s.eachPG(t, func(t *testing.T, name string) {
					b := buyer{PG: name, OrderID: newOrderID("f8"), Amount: 7000}
					id := approveResult(t, s.approve(t, s.prepareAndPay(t, b, fault, nil), ""), http.StatusAccepted, "UNKNOWN")
					out := s.checkOrder(t, b, false)
					assert.Zero(t, out.PG.Approvals)
					assert.Equal(t, "FAILED", s.payment(t, id).Status)

					approveResult(t, s.approve(t, s.prepareAndPay(t, b, "", nil), ""), http.StatusOK, "APPROVED")
					s.checkOrder(t, b, false)
				})
				s.checkLedgers(t)
			})
		})
	}
}

// F13: the order service refuses the order for good: refunded once at the
// PG, the payment CANCELED for ORDER_FAILED, the order CANCELED.
func TestE2E_OrderFailsPermanently_RefundedOnceAndOrderCanceled(t *testing.T) {
	eachDialect(t, func(t *testing.T, s *server) {
		s.eachPG(t, func(t *testing.T, name string) {
			b := buyer{PG: name, OrderID: newOrderID("f13"), Amount: 30000}
			body := s.prepareAndPay(t, b, "", map[string]any{"orderFailure": "permanent"})
			id := approveResult(t, s.approve(t, body, ""), http.StatusOK, "APPROVED")
			out := s.checkOrder(t, b, false)
			assert.Equal(t, pg.StatusCanceled, out.Kept.Status)
			assert.Equal(t, 1, out.PG.Cancels, "refunded once at the PG")
			p := s.payment(t, id)
			require.Len(t, p.Cancels, 1)
			assert.Equal(t, "ORDER_FAILED", p.Cancels[0].Reason)
			assert.Equal(t, 1, p.count(paygate.EventOrderCreationFailed))
			assert.Equal(t, 1, p.count(paygate.EventPaymentRefunded))
			assert.Zero(t, p.count(paygate.EventOrderCreated))
		})
		s.checkLedgers(t)
	})
}

// F14: transient order failures are retried; a few → the normal flow, more
// than the retries allow → refunded like F13.
func TestE2E_OrderFailsTransiently_RetriedOrRefundedWhenExhausted(t *testing.T) {
	eachDialect(t, func(t *testing.T, s *server) {
		s.eachPG(t, func(t *testing.T, name string) {
			t.Run("recovers", func(t *testing.T) {
				b := buyer{PG: name, OrderID: newOrderID("f14a"), Amount: 5000}
				body := s.prepareAndPay(t, b, "", map[string]any{"orderFailure": "transient", "times": 2})
				id := approveResult(t, s.approve(t, body, ""), http.StatusOK, "APPROVED")
				out := s.checkOrder(t, b, false)
				assert.Equal(t, pg.StatusApproved, out.Kept.Status)
				assert.Equal(t, id, out.Order.PaymentID)
				assert.Zero(t, out.PG.Cancels)
			})
			t.Run("exhausted", func(t *testing.T) {
				b := buyer{PG: name, OrderID: newOrderID("f14b"), Amount: 5000}
				body := s.prepareAndPay(t, b, "", map[string]any{"orderFailure": "transient", "times": 100})
				id := approveResult(t, s.approve(t, body, ""), http.StatusOK, "APPROVED")
				out := s.checkOrder(t, b, false)
				assert.Equal(t, pg.StatusCanceled, out.Kept.Status)
				assert.Equal(t, 1, out.PG.Cancels)
				assert.Equal(t, 1, s.payment(t, id).count(paygate.EventOrderCreationFailed))
			})
		})
		s.checkLedgers(t)
	})
}

// F15: the refund's answer is lost; it is looked up and, through the PG's
// balance guard, applied exactly once.
func TestE2E_RefundAnswerLost_RefundedExactlyOnce(t *testing.T) {
	eachDialect(t, func(t *testing.T, s *server) {
		s.eachPG(t, func(t *testing.T, name string) {
			b := buyer{PG: name, OrderID: newOrderID("f15"), Amount: 16000}
			// The order fails after its retries, which leaves time to
			// script the refund.
			body := s.prepareAndPay(t, b, "", map[string]any{"orderFailure": "transient", "times": 100})
			approveResult(t, s.approve(t, body, ""), http.StatusOK, "APPROVED")
			s.armCancel(t, b, "timeout")
			out := s.checkOrder(t, b, false)
			assert.Equal(t, pg.StatusCanceled, out.Kept.Status)
			assert.Equal(t, 1, out.PG.Cancels, "refunded exactly once")
		})
		s.checkLedgers(t)
	})
}

// F16: the PG refuses the refund for good: the saga needs attention with
// the reason, an alert is raised, and nothing pretends the money came back.
func TestE2E_RefundRefused_NeedsAttentionWithAlert(t *testing.T) {
	eachDialect(t, func(t *testing.T, s *server) {
		s.eachPG(t, func(t *testing.T, name string) {
			b := buyer{PG: name, OrderID: newOrderID("f16"), Amount: 11000}
			alerts := s.alerts.Load()
			body := s.prepareAndPay(t, b, "", map[string]any{"orderFailure": "transient", "times": 100})
			id := approveResult(t, s.approve(t, body, ""), http.StatusOK, "APPROVED")
			s.armCancel(t, b, "decline")
			eventually(t, "the refund saga to need attention", func() bool {
				for _, a := range s.attention(t, id) {
					if a.State == "NEEDS_ATTENTION" {
						return true
					}
				}
				return false
			})
			// Operators see it over HTTP too, with the reason.
			resp := s.do(t, http.MethodGet, "/admin/api/attention", nil, asOperator...)
			require.Equal(t, http.StatusOK, resp.Status, "%s", resp)
			var queue struct {
				Items []struct{ Kind, PaymentID, State, Reason string }
			}
			require.NoError(t, json.Unmarshal(resp.Body, &queue))
			listed := false
			for _, it := range queue.Items {
				if it.PaymentID == id && it.Kind == "saga" && it.State == "NEEDS_ATTENTION" {
					listed = it.Reason != ""
				}
			}
			assert.True(t, listed, "the refused refund is in GET /admin/api/attention with its reason: %s", resp)
			out := s.checkOrder(t, b, true)
			// The runner raises the alert after it committed the state
			// the test saw: wait for it rather than race it.
			eventually(t, "an alert to be raised", func() bool { return s.alerts.Load() > alerts })
			assert.Equal(t, pg.StatusApproved, out.Kept.Status, "nothing refunded, nothing pretended")
			assert.Zero(t, out.PG.Cancels)
			assert.NotEqual(t, app.OrderPaid, out.Order.Status, "the order was never created")
			assert.NotEqual(t, app.OrderPreparingShipment, out.Order.Status)
		})
		s.checkLedgers(t)
	})
}
