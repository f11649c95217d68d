package e2e_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/paygate/paygate"
	"github.com/paygate/paygate/examples/server/app"
	"github.com/paygate/paygate/inicis"
	"github.com/paygate/paygate/pg"
	"github.com/paygate/paygate/pg/pgtest"
	"github.com/paygate/paygate/tosspay"
)

// deposits drives Inicis virtual-account payments of the example server:
// the sandbox's deposit notifications pass through a relay that keeps a
// copy of each, so tests can deliver them again, tampered or out of order.
type deposits struct {
	s     *server
	sb    pgtest.VirtualAccountSandbox
	relay string

	mu   sync.Mutex
	sent [][]byte
}

func newDeposits(t *testing.T, s *server) *deposits {
	t.Helper()
	sb, ok := s.app.Sandbox(inicis.Name).(pgtest.VirtualAccountSandbox)
	if !ok {
		t.Skip("the example server does not run the Inicis sandbox")
	}
	d := &deposits{s: s, sb: sb}
	relay := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		d.mu.Lock()
		d.sent = append(d.sent, body)
		d.mu.Unlock()
		resp, err := http.Post(s.url+"/webhooks/"+inicis.Name, r.Header.Get("Content-Type"), bytes.NewReader(body))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		w.WriteHeader(resp.StatusCode)
		_, _ = io.Copy(w, resp.Body)
	}))
	t.Cleanup(relay.Close)
	d.relay = relay.URL
	sb.SetWebhookURL(relay.URL)
	return d
}

// issue prepares a virtual-account checkout, has the buyer choose it and
// approves: the account is issued and the payment waits for the deposit.
func (d *deposits) issue(t *testing.T, b buyer) string {
	t.Helper()
	d.s.checkout(t, b, nil)
	res, err := d.sb.PayVirtualAccount(context.Background(), pgtest.PayRequest{OrderID: b.OrderID, Amount: pg.Won(b.Amount)})
	require.NoError(t, err)
	redirect := map[string]any{}
	for k, v := range res.Redirect {
		redirect[k] = v
	}
	resp := d.s.approve(t, approveBody(b, map[string]any{"redirect": redirect}), "")
	id := approveResult(t, resp, http.StatusOK, "WAITING_FOR_DEPOSIT")
	assert.Equal(t, "WAITING_FOR_DEPOSIT", d.s.payment(t, id).Status)
	return id
}

// last is the last notification the sandbox sent.
func (d *deposits) last(t *testing.T) []byte {
	t.Helper()
	d.mu.Lock()
	defer d.mu.Unlock()
	require.NotEmpty(t, d.sent, "the sandbox sent a notification")
	return d.sent[len(d.sent)-1]
}

// post delivers a notification body to the server as the PG would.
func (d *deposits) post(t *testing.T, body []byte) response {
	t.Helper()
	return d.s.do(t, http.MethodPost, "/webhooks/"+inicis.Name, body, "Content-Type", "application/x-www-form-urlencoded; charset=EUC-KR")
}

// tamper returns body with fields replaced.
func tamper(t *testing.T, body []byte, fields map[string]string) []byte {
	t.Helper()
	v, err := url.ParseQuery(string(body))
	require.NoError(t, err)
	for k, val := range fields {
		v.Set(k, val)
	}
	return []byte(v.Encode())
}

// tid is the PG's key of the order's virtual account.
func (d *deposits) tid(t *testing.T, orderID string) string {
	t.Helper()
	for _, e := range d.sb.Ledger() {
		if e.OrderID == orderID && e.PaymentKey != "" {
			return e.PaymentKey
		}
	}
	t.Fatalf("no virtual account issued for %s", orderID)
	return ""
}

// F18: the deposit notification delivered twice, then three times at once,
// has one effect: one approval, one trace of the delivery, one sale, the
// order created once.
func TestE2E_InicisDeposit_DeliveredAgainAndConcurrently_OneEffect(t *testing.T) {
	eachDialect(t, func(t *testing.T, s *server) {
		d := newDeposits(t, s)
		b := buyer{PG: inicis.Name, OrderID: newOrderID("f18"), Amount: 25000}
		id := d.issue(t, b)
		ctx := context.Background()

		require.NoError(t, d.sb.Deposit(ctx, b.OrderID), "the server acknowledges the deposit")
		require.NoError(t, d.sb.Deposit(ctx, b.OrderID), "and its redelivery")
		body := d.last(t)
		answers := make([]response, 3)
		parallel(3, func(i int) { answers[i] = d.post(t, body) })
		for _, a := range answers {
			expectStatus(t, http.StatusOK, a, "a duplicate is acknowledged")
			assert.Equal(t, "OK", string(a.Body))
		}
		parallel(3, func(int) { assert.NoError(t, d.sb.Deposit(ctx, b.OrderID)) })

		out := s.checkOrder(t, b, false)
		assert.Equal(t, id, out.Kept.ID)
		assert.Equal(t, pg.StatusApproved, out.Kept.Status)
		p := s.payment(t, id)
		assert.Equal(t, 1, p.count(paygate.EventWebhookReceived), "one effect of %d deliveries", 8)
		assert.Equal(t, 1, p.count(paygate.EventPaymentApproved))
		assert.Equal(t, 1, p.count(paygate.EventOrderCreated))
		s.checkLedgers(t)
	})
}

// F20: notifications that do not match what Inicis recorded — a tampered
// amount, another order, an unknown account, another merchant, garbage —
// are refused and change nothing; a genuine-looking one for a deposit
// Inicis has not recorded is not trusted yet (the PG is asked to deliver
// again) and changes nothing either.
func TestE2E_InicisDeposit_Forged_RejectedAndNothingChanges(t *testing.T) {
	eachDialect(t, func(t *testing.T, s *server) {
		d := newDeposits(t, s)
		victim := buyer{PG: inicis.Name, OrderID: newOrderID("f20"), Amount: 30000}
		id := d.issue(t, victim)
		other := buyer{PG: inicis.Name, OrderID: newOrderID("f20o"), Amount: 30000}
		d.issue(t, other)

		// A notification in the genuine shape for the victim's account,
		// sent before any deposit.
		early := []byte(url.Values{
			"no_tid": {d.tid(t, victim.OrderID)}, "no_oid": {victim.OrderID}, "id_merchant": {inicis.TestMID},
			"type_msg": {"0200"}, "amt_input": {"30000"}, "no_vacct": {"9000000000000"}, "cd_bank": {"04"},
			"dt_trans": {"20260101"}, "tm_trans": {"120000"}, "no_msgseq": {"0000000001"},
		}.Encode())
		resp := d.post(t, early)
		assert.Equal(t, http.StatusServiceUnavailable, resp.Status, "an unconfirmed deposit is left for a redelivery: %s", resp)
		assert.NotEqual(t, "OK", string(resp.Body))

		forgeries := map[string][]byte{
			"tampered amount": tamper(t, early, map[string]string{"amt_input": "1000"}),
			"another order":   tamper(t, early, map[string]string{"no_oid": other.OrderID}),
			"unknown account": tamper(t, early, map[string]string{"no_tid": "StdpayVBNKINIpayTest20260101120000999999"}),
			"other merchant":  tamper(t, early, map[string]string{"id_merchant": "SomeoneElse"}),
			"no amount":       tamper(t, early, map[string]string{"amt_input": ""}),
			"not a form":      []byte(`{"no_tid":"x","amt_input":30000}`),
		}
		for name, body := range forgeries {
			resp := d.post(t, body)
			assert.Equal(t, http.StatusUnauthorized, resp.Status, "%s: %s", name, resp)
			if resp.Status == http.StatusUnauthorized {
				assert.Equal(t, "WEBHOOK_REJECTED", resp.errorCode(t), name)
			}
		}
		p := s.payment(t, id)
		assert.Equal(t, "WAITING_FOR_DEPOSIT", p.Status, "nothing changed")
		assert.Zero(t, p.count(paygate.EventWebhookReceived), "nothing was recorded")
		assert.Equal(t, app.OrderPendingPayment, s.order(t, victim.OrderID).Status)

		// Once the buyer really pays, the same checks let it through.
		require.NoError(t, d.sb.Deposit(context.Background(), victim.OrderID))
		forged := tamper(t, d.last(t), map[string]string{"amt_input": "1000", "type_msg": "0400"})
		resp = d.post(t, forged)
		assert.Equal(t, http.StatusUnauthorized, resp.Status, "a tampered copy of a genuine notification: %s", resp)
		out := s.checkOrder(t, victim, false)
		assert.Equal(t, pg.StatusApproved, out.Kept.Status)
		assert.Equal(t, 1, s.payment(t, id).count(paygate.EventWebhookReceived))
	})
}

// F19: a deposit-canceled notification arriving before the deposit
// notification, and another after it, never move the payment backwards:
// Inicis's records show the deposit standing, so both are refused, and the
// payment ends as Inicis reports it, approved once.
func TestE2E_InicisDeposit_OutOfOrder_NeverBackwardsAndMatchesPG(t *testing.T) {
	eachDialect(t, func(t *testing.T, s *server) {
		d := newDeposits(t, s)
		b := buyer{PG: inicis.Name, OrderID: newOrderID("f19"), Amount: 18000}
		id := d.issue(t, b)

		// The deposit happens at the PG, but its notification is held back.
		d.sb.SetWebhookURL(s.url + "/not-a-webhook")
		require.Error(t, d.sb.Deposit(context.Background(), b.OrderID), "the notification did not arrive")
		d.sb.SetWebhookURL(d.relay)

		deposit := []byte(url.Values{
			"no_tid": {d.tid(t, b.OrderID)}, "no_oid": {b.OrderID}, "id_merchant": {inicis.TestMID},
			"type_msg": {"0200"}, "amt_input": {"18000"}, "no_vacct": {"9000000000001"}, "cd_bank": {"04"},
			"dt_trans": {"20260101"}, "tm_trans": {"120000"}, "no_msgseq": {"0000000002"},
		}.Encode())
		canceledFirst := tamper(t, deposit, map[string]string{"type_msg": "0400", "no_msgseq": "0000000003"})

		expectStatus(t, http.StatusUnauthorized, d.post(t, canceledFirst), "the deposit-canceled notice, first")
		require.NoError(t, d.sb.Deposit(context.Background(), b.OrderID), "then the deposit notice")
		expectStatus(t, http.StatusUnauthorized, d.post(t, canceledFirst), "and the deposit-canceled notice again")

		out := s.checkOrder(t, b, false)
		assert.Equal(t, pg.StatusApproved, out.Kept.Status, "the final state is the PG's")
		p := s.payment(t, id)
		assert.Equal(t, 1, p.count(paygate.EventPaymentApproved))
		assert.Zero(t, p.count(paygate.EventPaymentFailed), "never moved backwards")
		assert.Zero(t, p.count(paygate.EventPaymentCanceled))
		assert.Equal(t, 1, p.count(paygate.EventWebhookReceived), "the deposit notice, once")
		s.checkLedgers(t)
	})
}

// eachWebhookPG runs fn for every served sandbox PG that notifies the shop
// and can hand its notifications to tests (pgtest.WebhookSandbox).
func (s *server) eachWebhookPG(t *testing.T, fn func(t *testing.T, name string, sb pgtest.WebhookSandbox)) {
	t.Helper()
	n := 0
	for _, name := range s.sandboxPGs() {
		sb, ok := s.app.Sandbox(name).(pgtest.WebhookSandbox)
		if !ok {
			continue
		}
		n++
		t.Run(name, func(t *testing.T) { fn(t, name, sb) })
	}
	if n == 0 {
		t.Skip("no sandbox PG of the server hands its webhooks to tests")
	}
}

// approveThenNotify approves a card payment and, once the approval's answer
// is recorded, delivers the PG's notifications of it (the order in which
// they usually arrive; TestE2E_TossNotificationBeforeConfirmAnswer covers
// the other).
func (s *server) approveThenNotify(t *testing.T, b buyer) string {
	t.Helper()
	body := s.prepareAndPay(t, b, "", nil)
	s.holding.Store(true)
	id := approveResult(t, s.approve(t, body, ""), http.StatusOK, "APPROVED")
	s.releaseHeld(t, b.PG)
	s.checkOrder(t, b, false)
	return id
}

// F18: a PG's notification delivered again, as the PG's own retry, and
// three times at once, has one effect.
func TestE2E_Webhooks_DeliveredAgainAndConcurrently_OneEffect(t *testing.T) {
	eachDialect(t, func(t *testing.T, s *server) {
		s.eachWebhookPG(t, func(t *testing.T, name string, sb pgtest.WebhookSandbox) {
			b := buyer{PG: name, OrderID: newOrderID("f18w"), Amount: 14000}
			id := s.approveThenNotify(t, b)
			first, retry, err := sb.Webhooks(context.Background(), b.OrderID)
			if err != nil {
				t.Skipf("%s sends no notification of a card approval (%v); its deposit notices have their own tests", name, err)
			}
			before := s.payment(t, id).count(paygate.EventWebhookReceived)
			assert.LessOrEqual(t, before, 1, "the PG's own delivery, at most once")

			answers := []response{s.deliver(t, name, first), s.deliver(t, name, first), s.deliver(t, name, retry)}
			more := make([]response, 3)
			parallel(3, func(i int) { more[i] = s.deliver(t, name, first) })
			for _, a := range append(answers, more...) {
				assert.Equal(t, http.StatusOK, a.Status, "a duplicate is acknowledged: %s", a)
			}
			out := s.checkOrder(t, b, false)
			p := s.payment(t, id)
			assert.Equal(t, 1, p.count(paygate.EventWebhookReceived), "one effect of every delivery of the same news")
			assert.Equal(t, 1, p.count(paygate.EventPaymentApproved))
			assert.Equal(t, pg.StatusApproved, out.Kept.Status)
		})
	})
}

// F20: notifications the PG never sent — a wrong secret with a tampered
// status and amount, an invented payment, a forged deposit — are refused and
// change nothing.
func TestE2E_Webhooks_Forged_RejectedAndNothingChanges(t *testing.T) {
	eachDialect(t, func(t *testing.T, s *server) {
		s.eachWebhookPG(t, func(t *testing.T, name string, sb pgtest.WebhookSandbox) {
			b := buyer{PG: name, OrderID: newOrderID("f20w"), Amount: 21000}
			id := s.approveThenNotify(t, b)
			before := s.payment(t, id)
			rows := s.rowCounts(t)

			forged, err := sb.ForgedWebhooks(context.Background(), b.OrderID)
			require.NoError(t, err)
			require.NotEmpty(t, forged)
			for i, d := range forged {
				resp := s.deliver(t, name, d)
				assert.Equal(t, http.StatusUnauthorized, resp.Status, "forgery %d: %s", i, resp)
				if resp.Status == http.StatusUnauthorized {
					assert.Equal(t, "WEBHOOK_REJECTED", resp.errorCode(t))
				}
			}
			assert.Equal(t, rows, s.rowCounts(t), "nothing was stored")
			after := s.payment(t, id)
			assert.Equal(t, before.Status, after.Status)
			assert.Equal(t, before.CanceledAmount, after.CanceledAmount)
			assert.Equal(t, len(before.Events), len(after.Events))
			out := s.checkOrder(t, b, false)
			assert.Zero(t, out.PG.Cancels)
		})
	})
}

// F19: two cancels made at the PG itself (its console) whose notifications
// arrive latest first: the payment follows the PG's latest word and never
// moves back, and the refunds land in the ledger once.
func TestE2E_TossCanceledAtThePG_NotificationsOutOfOrder_NeverBackwards(t *testing.T) {
	eachDialect(t, func(t *testing.T, s *server) {
		sb := s.app.Sandbox(tosspay.Name)
		if sb == nil {
			t.Skip("the example server does not run the Toss sandbox")
		}
		b := buyer{PG: tosspay.Name, OrderID: newOrderID("f19t"), Amount: 10000}
		id := s.approveThenNotify(t, b)
		var key string
		for _, e := range sb.Ledger() {
			if e.OrderID == b.OrderID {
				key = e.PaymentKey
			}
		}
		require.NotEmpty(t, key)

		s.holding.Store(true)
		// The console is the PG itself: the shop's keys, nothing of
		// paygate's.
		console := s.app.Gateway(tosspay.Name)
		ctx := context.Background()
		_, err := console.Cancel(ctx, pg.CancelRequest{CancelID: "console-1-" + b.OrderID, PaymentKey: key, OrderID: b.OrderID,
			Amount: pg.Won(3000), Balance: pg.Won(10000), Reason: "returned at the counter"})
		require.NoError(t, err)
		_, err = console.Cancel(ctx, pg.CancelRequest{CancelID: "console-2-" + b.OrderID, PaymentKey: key, OrderID: b.OrderID,
			Amount: pg.Won(2000), Balance: pg.Won(7000), Reason: "returned at the counter"})
		require.NoError(t, err)
		eventually(t, "the PG's two notifications", func() bool { return len(s.heldWebhooks()) >= 2 })
		s.holding.Store(false)

		held := s.heldWebhooks()
		for i := len(held) - 1; i >= 0; i-- {
			resp := s.deliver(t, tosspay.Name, held[i])
			assert.Equal(t, http.StatusOK, resp.Status, "notification %d: %s", i, resp)
		}
		out := s.checkOrder(t, b, false)
		assert.Equal(t, pg.StatusPartialCanceled, out.Kept.Status, "the PG's latest word")
		assert.Equal(t, int64(5000), out.PG.Canceled)
		p := s.payment(t, id)
		requireWon(t, 5000, p.CanceledAmount, "canceledAmount")
		assert.Equal(t, 1, p.count(paygate.EventPaymentApproved), "never approved again")
		assert.Equal(t, app.OrderPreparingShipment, out.Order.Status, "a partial refund keeps the order")
		s.checkLedgers(t)
	})
}

// When Toss's notification of an approval is applied before the confirm's
// own answer is recorded, the payment's webhook secret (in that answer) must
// still be kept: later notifications are verified by it and forgeries are
// refused.
func TestE2E_TossNotificationBeforeConfirmAnswer_SecretKeptAndForgeriesRefused(t *testing.T) {
	eachDialect(t, func(t *testing.T, s *server) {
		sb, ok := s.app.Sandbox(tosspay.Name).(pgtest.WebhookSandbox)
		if !ok {
			t.Skip("the example server does not run the Toss sandbox")
		}
		b := buyer{PG: tosspay.Name, OrderID: newOrderID("tossrace"), Amount: 13000}
		body := s.prepareAndPay(t, b, "", nil)
		ctx := context.Background()
		notified := func() bool {
			ps, err := s.app.DB().PaymentsByOrder(ctx, b.OrderID)
			require.NoError(t, err)
			return len(ps) == 1 && ps[0].Status == pg.StatusApproved
		}
		// The confirm is applied at the PG at once; its answer reaches the
		// app only after the PG's notification made the payment APPROVED.
		hook := func(w http.ResponseWriter, r *http.Request, app http.Handler) bool {
			if !strings.HasSuffix(r.URL.Path, "/v1/payments/confirm") {
				return false
			}
			rec := httptest.NewRecorder()
			app.ServeHTTP(rec, r)
			eventually(t, "the notification to approve the payment", notified)
			for k, v := range rec.Header() {
				w.Header()[k] = v
			}
			w.WriteHeader(rec.Code)
			_, _ = w.Write(rec.Body.Bytes())
			return true
		}
		s.hook.Store(&hook)
		id := approveResult(t, s.approve(t, body, ""), http.StatusOK, "APPROVED")
		s.hook.Store(nil)
		s.checkOrder(t, b, false)

		ps, err := s.app.DB().PaymentsByOrder(ctx, b.OrderID)
		require.NoError(t, err)
		_, known := s.app.Paygate().WebhookSecret(ctx, tosspay.Name, ps[0].PaymentKey, b.OrderID)
		assert.True(t, known, "the secret of the confirm's answer is kept")
		forged, err := sb.ForgedWebhooks(ctx, b.OrderID)
		require.NoError(t, err)
		for i, d := range forged {
			resp := s.deliver(t, tosspay.Name, d)
			assert.Equal(t, http.StatusUnauthorized, resp.Status, "forgery %d: %s", i, resp)
		}
		assert.Equal(t, 1, s.payment(t, id).count(paygate.EventWebhookReceived), "only the genuine notification was recorded")
	})
}
