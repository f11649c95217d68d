package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"maps"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/paygate/paygate/pg"
)

// Harness is what an adapter hands the conformance suite: its gateway,
// pointed at its sandbox, and hooks for what differs between PGs.
type Harness struct {
	// Gateway is the adapter under test, configured against Sandbox with a
	// short per-attempt timeout (a second or less) so fault cases are
	// quick.
	Gateway pg.Gateway
	// Sandbox is the PG the gateway talks to. When it also implements
	// WebhookSandbox and the gateway implements pg.WebhookParser, the
	// webhook cases run.
	Sandbox Sandbox
	// Amount of every payment (10,000 KRW when unset). Cancels use parts of
	// it, so keep it divisible by 10.
	Amount pg.Money
	// NewOrderID returns a fresh order id the PG accepts ("pgt-" and 16 hex
	// digits when nil).
	NewOrderID func() string
	// PrepareRequest builds the Prepare call for PGs that implement
	// pg.Preparer (a default request with example.com URLs when nil).
	PrepareRequest func(orderID string, amount pg.Money) pg.PrepareRequest
	// Device is where every checkout of the suite is prepared and paid
	// (pg.DevicePC when empty). Run the suite once per device the PG has a
	// window for.
	Device pg.Device
	// CallTimeout bounds each gateway call of the suite (30 s when zero);
	// the gateway's own timeouts should end fault cases long before.
	CallTimeout time.Duration
	// Skip names cases that do not apply to the PG, with the reason.
	Skip map[string]string
}

// Case names, for Harness.Skip.
const (
	CaseApprove                 = "Approve"
	CaseDuplicateApprove        = "DuplicateApprove"
	CaseDeclined                = "Declined"
	CaseTimeoutApproved         = "Timeout_ResolvedByLookup_Approved"
	CaseTimeoutUnapproved       = "Timeout_ResolvedByLookup_NotCaptured"
	CaseError500                = "Error500_NotCaptured"
	CasePartialThenFullCancel   = "PartialThenFullCancel"
	CaseOverCancel              = "OverCancel_Refused"
	CaseCancelRetry             = "CancelRetry_AppliedOnce"
	CaseLookupByOrderID         = "LookupByOrderID"
	CaseWebhook                 = "Webhook_VerifiedAndDeduplicated"
	CaseForgedWebhook           = "ForgedWebhook_Refused"
	CaseCancelUnapprovedRefused = "CancelUnapproved_Refused"
	CaseCancelRefusedByPG       = "CancelRefusedByThePG_Declined"
)

// Run runs the adapter conformance suite: every case pays through the
// sandbox, drives the gateway, and checks both the gateway's answers and the
// sandbox's Ledger (the PG side). Cases run in parallel on fresh orders.
func Run(t *testing.T, h Harness) {
	t.Helper()
	require.NotNil(t, h.Gateway, "Harness.Gateway")
	require.NotNil(t, h.Sandbox, "Harness.Sandbox")
	if !h.Amount.IsSet() {
		h.Amount = pg.Won(10000)
	}
	if h.NewOrderID == nil {
		h.NewOrderID = func() string { return "pgt-" + randomHex(8) }
	}
	if h.CallTimeout <= 0 {
		h.CallTimeout = 30 * time.Second
	}
	s := &suite{h: h}
	cases := []struct {
		name string
		fn   func(t *testing.T)
	}{
		{CaseApprove, s.approve},
		{CaseDuplicateApprove, s.duplicateApprove},
		{CaseDeclined, s.declined},
		{CaseTimeoutApproved, s.timeoutApproved},
		{CaseTimeoutUnapproved, s.timeoutUnapproved},
		{CaseError500, s.error500},
		{CasePartialThenFullCancel, s.partialThenFullCancel},
		{CaseOverCancel, s.overCancel},
		{CaseCancelRetry, s.cancelRetry},
		{CaseCancelUnapprovedRefused, s.cancelUnapproved},
		{CaseCancelRefusedByPG, s.cancelRefused},
		{CaseLookupByOrderID, s.lookupByOrderID},
		{CaseWebhook, s.webhook},
		{CaseForgedWebhook, s.forgedWebhook},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if why, ok := h.Skip[c.name]; ok {
				t.Skip(why)
			}
			t.Parallel()
			c.fn(t)
		})
	}
}

type suite struct{ h Harness }

// attempt is one order paid through the sandbox and ready to approve.
type attempt struct {
	req      pg.ApproveRequest
	prepared map[string]string
	payment  *pg.Payment // set once approved
}

func (s *suite) ctx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), s.h.CallTimeout)
	t.Cleanup(cancel)
	return ctx
}

// pay prepares (if the PG needs it) and plays the buyer for a new order.
func (s *suite) pay(t *testing.T, fault Fault) *attempt {
	t.Helper()
	orderID := s.h.NewOrderID()
	a := &attempt{}
	if p, ok := s.h.Gateway.(pg.Preparer); ok {
		preq := pg.PrepareRequest{OrderID: orderID, OrderName: "conformance " + orderID, Amount: s.h.Amount,
			CustomerID: "pgtest-buyer", Method: pg.MethodCard,
			SuccessURL: "https://shop.example.com/pay/success", CancelURL: "https://shop.example.com/pay/cancel",
			FailURL: "https://shop.example.com/pay/fail"}
		if s.h.PrepareRequest != nil {
			preq = s.h.PrepareRequest(orderID, s.h.Amount)
		}
		if preq.Device == "" {
			preq.Device = s.h.Device
		}
		prepared, err := p.Prepare(s.ctx(t), preq)
		require.NoError(t, err, "Prepare")
		require.NotNil(t, prepared, "Prepare returned nil")
		a.prepared = prepared.Data
	}
	res, err := s.h.Sandbox.Pay(s.ctx(t), PayRequest{OrderID: orderID, Amount: s.h.Amount, Fault: fault, Device: s.h.Device})
	require.NoError(t, err, "Sandbox.Pay")
	a.req = pg.ApproveRequest{PaymentID: "pay_" + orderID, OrderID: orderID, Amount: s.h.Amount,
		PaymentKey: res.PaymentKey, Redirect: res.Redirect, Prepared: a.prepared}
	return a
}

// approved pays and approves a new order, checking the happy path.
func (s *suite) approved(t *testing.T) *attempt {
	t.Helper()
	a := s.pay(t, FaultNone)
	p, err := s.h.Gateway.Approve(s.ctx(t), a.req)
	require.NoError(t, err, "Approve")
	require.NotNil(t, p)
	a.payment = p
	return a
}

// later is what the flow hands back in later calls: Prepare's data and the
// approved payment's.
func (a *attempt) later() map[string]string {
	out := maps.Clone(a.prepared)
	if out == nil {
		out = map[string]string{}
	}
	if a.payment != nil {
		maps.Copy(out, a.payment.Data)
	}
	return out
}

func (a *attempt) paymentKey() string {
	if a.payment != nil && a.payment.PaymentKey != "" {
		return a.payment.PaymentKey
	}
	return a.req.PaymentKey
}

func (s *suite) lookup(t *testing.T, a *attempt) (*pg.Payment, error) {
	t.Helper()
	return s.h.Gateway.Lookup(s.ctx(t), pg.LookupRequest{PaymentKey: a.paymentKey(), OrderID: a.req.OrderID, Prepared: a.later()})
}

func (s *suite) cancel(t *testing.T, a *attempt, id string, amount, balance pg.Money) (*pg.Payment, error) {
	t.Helper()
	return s.h.Gateway.Cancel(s.ctx(t), pg.CancelRequest{CancelID: id, PaymentKey: a.paymentKey(), OrderID: a.req.OrderID,
		Amount: amount, Balance: balance, Reason: "conformance cancel", Method: pg.MethodCard, Prepared: a.later()})
}

// ledger returns the sandbox's single entry for the order.
func (s *suite) ledger(t *testing.T, orderID string) LedgerEntry {
	t.Helper()
	var found []LedgerEntry
	for _, e := range s.h.Sandbox.Ledger() {
		if e.OrderID == orderID {
			found = append(found, e)
		}
	}
	require.Len(t, found, 1, "sandbox ledger entries for order %s", orderID)
	return found[0]
}

func (s *suite) won(n int64) pg.Money {
	// Parts of the harness amount, in its currency.
	m, err := pg.NewMoney(s.h.Amount.Amount().Mul(decimalFraction(n)), s.h.Amount.Currency())
	if err != nil {
		panic(err)
	}
	return m
}

func sub(t *testing.T, a, b pg.Money) pg.Money {
	t.Helper()
	d, err := a.Sub(b)
	require.NoError(t, err)
	return d
}

func assertMoney(t *testing.T, want, got pg.Money, what string) {
	t.Helper()
	assert.True(t, want.Equal(got), "%s: want %s, got %s", what, want, got)
}

func assertKind(t *testing.T, err error, what string, kinds ...pg.Kind) {
	t.Helper()
	require.Error(t, err, what)
	got := pg.KindOf(err)
	for _, k := range kinds {
		if got == k {
			return
		}
	}
	assert.Failf(t, what, "kind %s not one of %v: %v", got, kinds, err)
}

// notCaptured checks a lookup after an approval that did not happen.
func (s *suite) notCaptured(t *testing.T, a *attempt) {
	t.Helper()
	p, err := s.lookup(t, a)
	if err != nil {
		assertKind(t, err, "Lookup of a payment never captured", pg.KindNotFound)
		return
	}
	assert.Contains(t, []pg.Status{pg.StatusPending, pg.StatusFailed, pg.StatusExpired}, p.Status,
		"Lookup of a payment never captured")
	assert.False(t, p.Status.Captured())
}

func (s *suite) approve(t *testing.T) {
	a := s.approved(t)
	p := a.payment
	assert.Equal(t, s.h.Gateway.Name(), p.PG)
	assert.Equal(t, pg.StatusApproved, p.Status)
	assert.Equal(t, a.req.OrderID, p.OrderID)
	assert.NotEmpty(t, p.PaymentKey)
	assertMoney(t, s.h.Amount, p.Amount, "approved amount")
	assertMoney(t, s.h.Amount, p.Balance, "balance after approval")

	l := s.ledger(t, a.req.OrderID)
	assert.Equal(t, 1, l.Approvals)
	assertMoney(t, s.h.Amount, l.Approved, "ledger approved")
	assert.Equal(t, pg.StatusApproved, l.Status)

	got, err := s.lookup(t, a)
	require.NoError(t, err, "Lookup")
	assert.Equal(t, pg.StatusApproved, got.Status)
	assert.Equal(t, p.PaymentKey, got.PaymentKey)
	assertMoney(t, s.h.Amount, got.Amount, "looked-up amount")
}

func (s *suite) duplicateApprove(t *testing.T) {
	a := s.approved(t)
	// The same approval resent (same PaymentID), then a second tab's
	// approval of the same order (another PaymentID): never a second capture.
	second := a.req
	second.PaymentID = a.req.PaymentID + "-tab2"
	for _, req := range []pg.ApproveRequest{a.req, second} {
		p, err := s.h.Gateway.Approve(s.ctx(t), req)
		if err == nil {
			assert.Equal(t, a.payment.PaymentKey, p.PaymentKey, "a repeated approval answers the same payment")
			assertMoney(t, s.h.Amount, p.Amount, "repeated approval amount")
		} else {
			assertKind(t, err, "repeated approval", pg.KindAlreadyDone, pg.KindDeclined, pg.KindInvalid)
		}
	}
	l := s.ledger(t, a.req.OrderID)
	assert.Equal(t, 1, l.Approvals, "captured once")
	assertMoney(t, s.h.Amount, l.Approved, "ledger approved")
}

func (s *suite) declined(t *testing.T) {
	a := s.pay(t, FaultDecline)
	_, err := s.h.Gateway.Approve(s.ctx(t), a.req)
	assertKind(t, err, "Approve of a declined payment", pg.KindDeclined)
	assert.True(t, errors.Is(err, pg.ErrDeclined))
	l := s.ledger(t, a.req.OrderID)
	assert.Equal(t, 0, l.Approvals)
	assert.False(t, l.Approved.IsSet() && l.Approved.IsPositive(), "nothing captured")
	s.notCaptured(t, a)
}

func (s *suite) timeoutApproved(t *testing.T) {
	a := s.pay(t, FaultTimeout)
	_, err := s.h.Gateway.Approve(s.ctx(t), a.req)
	assertKind(t, err, "Approve whose answer is lost", pg.KindUnknown)
	l := s.ledger(t, a.req.OrderID)
	assert.Equal(t, 1, l.Approvals, "the PG captured once, however often it was asked")

	p, err := s.lookup(t, a)
	require.NoError(t, err, "Lookup resolves the unknown outcome")
	assert.Equal(t, pg.StatusApproved, p.Status)
	assertMoney(t, s.h.Amount, p.Amount, "looked-up amount")
	assert.Equal(t, 1, s.ledger(t, a.req.OrderID).Approvals)
}

func (s *suite) timeoutUnapproved(t *testing.T) {
	a := s.pay(t, FaultTimeoutUnapproved)
	_, err := s.h.Gateway.Approve(s.ctx(t), a.req)
	assertKind(t, err, "Approve that never answers", pg.KindUnknown)
	assert.Equal(t, 0, s.ledger(t, a.req.OrderID).Approvals)
	s.notCaptured(t, a)
}

func (s *suite) error500(t *testing.T) {
	a := s.pay(t, FaultError500)
	_, err := s.h.Gateway.Approve(s.ctx(t), a.req)
	assertKind(t, err, "Approve answered 5xx", pg.KindUnknown, pg.KindUnavailable)
	assert.Equal(t, 0, s.ledger(t, a.req.OrderID).Approvals)
	s.notCaptured(t, a)
}

func (s *suite) partialThenFullCancel(t *testing.T) {
	a := s.approved(t)
	balance := s.h.Amount
	if s.h.Gateway.Capabilities().PartialCancel {
		part := s.won(3)
		p, err := s.cancel(t, a, "cnl_"+a.req.OrderID+"_1", part, balance)
		require.NoError(t, err, "partial Cancel")
		assert.Equal(t, pg.StatusPartialCanceled, p.Status)
		balance = sub(t, balance, part)
		assertMoney(t, balance, p.Balance, "balance after the partial cancel")
		l := s.ledger(t, a.req.OrderID)
		assert.Equal(t, 1, l.Cancels)
		assertMoney(t, part, l.Canceled, "ledger canceled after the partial cancel")
		assert.Equal(t, pg.StatusPartialCanceled, l.Status)
	}
	p, err := s.cancel(t, a, "cnl_"+a.req.OrderID+"_2", pg.Money{}, balance)
	require.NoError(t, err, "full Cancel")
	assert.Equal(t, pg.StatusCanceled, p.Status)
	assert.True(t, p.Balance.IsZero(), "balance after the full cancel: %s", p.Balance)
	l := s.ledger(t, a.req.OrderID)
	assertMoney(t, s.h.Amount, l.Canceled, "ledger canceled in full")
	assert.Equal(t, pg.StatusCanceled, l.Status)
	assert.Equal(t, 1, l.Approvals)

	got, err := s.lookup(t, a)
	require.NoError(t, err)
	assert.Equal(t, pg.StatusCanceled, got.Status)
}

func (s *suite) overCancel(t *testing.T) {
	if !s.h.Gateway.Capabilities().PartialCancel {
		t.Skip("no partial cancels")
	}
	a := s.approved(t)
	part := s.won(6)
	_, err := s.cancel(t, a, "cnl_"+a.req.OrderID+"_1", part, s.h.Amount)
	require.NoError(t, err, "partial Cancel")
	// 60% again: more than the 40% left. Without a balance guard the PG's
	// own check must refuse it.
	_, err = s.cancel(t, a, "cnl_"+a.req.OrderID+"_2", part, pg.Money{})
	assertKind(t, err, "Cancel over the balance", pg.KindDeclined, pg.KindInvalid)
	l := s.ledger(t, a.req.OrderID)
	assert.Equal(t, 1, l.Cancels, "the over-cancel changed nothing")
	assertMoney(t, part, l.Canceled, "ledger canceled")
	assert.Equal(t, pg.StatusPartialCanceled, l.Status)
}

func (s *suite) cancelRetry(t *testing.T) {
	if !s.h.Gateway.Capabilities().PartialCancel {
		t.Skip("no partial cancels")
	}
	a := s.approved(t)
	part := s.won(4)
	id := "cnl_" + a.req.OrderID + "_1"
	_, err := s.cancel(t, a, id, part, s.h.Amount)
	require.NoError(t, err, "partial Cancel")
	// The same cancel resent (its answer was lost), then re-issued under a
	// new id with the balance read before it: the balance guard (and the
	// PG's idempotency, where it has one) must keep it at one refund.
	p, err := s.cancel(t, a, id, part, s.h.Amount)
	if err == nil {
		assertMoney(t, sub(t, s.h.Amount, part), p.Balance, "a replayed cancel reports the balance after the one refund")
	}
	_, err = s.cancel(t, a, id+"-again", part, s.h.Amount)
	require.Error(t, err, "a cancel guarded by a stale balance must be refused")
	l := s.ledger(t, a.req.OrderID)
	assert.Equal(t, 1, l.Cancels, "refunded once")
	assertMoney(t, part, l.Canceled, "ledger canceled")
}

func (s *suite) cancelUnapproved(t *testing.T) {
	a := s.pay(t, FaultNone)
	_, err := s.cancel(t, a, "cnl_"+a.req.OrderID, pg.Money{}, pg.Money{})
	assertKind(t, err, "Cancel of a payment never approved", pg.KindDeclined, pg.KindInvalid, pg.KindNotFound)
	l := s.ledger(t, a.req.OrderID)
	assert.Equal(t, 0, l.Cancels)
	assert.Equal(t, 0, l.Approvals)
}

// cancelRefused scripts the PG's refusal of the order's next cancel
// (Scripter): the adapter reports it declined, nothing is refunded, and the
// next cancel goes through.
func (s *suite) cancelRefused(t *testing.T) {
	a := s.approved(t)
	require.NoError(t, s.h.Sandbox.FailNext(OpCancel, a.req.OrderID, FaultDecline), "FailNext")
	_, err := s.lookup(t, a)
	require.NoError(t, err, "Lookup")
	_, err = s.cancel(t, a, "cnl_"+a.req.OrderID+"_1", pg.Money{}, s.h.Amount)
	assertKind(t, err, "a cancel the PG refuses", pg.KindDeclined)
	l := s.ledger(t, a.req.OrderID)
	assert.Equal(t, 0, l.Cancels, "the refused cancel refunded nothing")
	assert.Equal(t, pg.StatusApproved, l.Status)

	p, err := s.cancel(t, a, "cnl_"+a.req.OrderID+"_2", pg.Money{}, s.h.Amount)
	require.NoError(t, err, "the refusal was scripted for one cancel (a lookup in between does not use it up)")
	assert.Equal(t, pg.StatusCanceled, p.Status)
	assert.Equal(t, 1, s.ledger(t, a.req.OrderID).Cancels)
}

func (s *suite) lookupByOrderID(t *testing.T) {
	if !s.h.Gateway.Capabilities().LookupByOrderID {
		t.Skip("the PG cannot look up by order id")
	}
	a := s.approved(t)
	p, err := s.h.Gateway.Lookup(s.ctx(t), pg.LookupRequest{OrderID: a.req.OrderID})
	require.NoError(t, err, "Lookup by order id")
	assert.Equal(t, a.payment.PaymentKey, p.PaymentKey)
	assert.Equal(t, pg.StatusApproved, p.Status)

	_, err = s.h.Gateway.Lookup(s.ctx(t), pg.LookupRequest{OrderID: s.h.NewOrderID()})
	assertKind(t, err, "Lookup of an order the PG never saw", pg.KindNotFound)
	assert.Equal(t, 1, s.ledger(t, a.req.OrderID).Approvals)
}

// secrets is the host's store of payment secrets, from what Approve returned.
func secrets(p *pg.Payment) func(ctx context.Context, paymentKey, orderID string) (string, bool) {
	return func(_ context.Context, paymentKey, orderID string) (string, bool) {
		if p.Secret == "" || (paymentKey != "" && paymentKey != p.PaymentKey) || (orderID != "" && orderID != p.OrderID) {
			return "", false
		}
		return p.Secret, true
	}
}

func (s *suite) webhookParts(t *testing.T) (pg.WebhookParser, WebhookSandbox) {
	t.Helper()
	wp, ok := s.h.Gateway.(pg.WebhookParser)
	if !ok {
		t.Skip("the gateway parses no webhooks")
	}
	ws, ok := s.h.Sandbox.(WebhookSandbox)
	if !ok {
		t.Skip("the sandbox does not implement WebhookSandbox")
	}
	return wp, ws
}

func (s *suite) webhook(t *testing.T) {
	wp, ws := s.webhookParts(t)
	a := s.approved(t)
	first, retry, err := ws.Webhooks(s.ctx(t), a.req.OrderID)
	require.NoError(t, err, "Webhooks")
	before := s.ledger(t, a.req.OrderID)

	ev, err := wp.ParseWebhook(s.ctx(t), first.Request(secrets(a.payment)))
	require.NoError(t, err, "a genuine delivery is accepted")
	assert.Equal(t, s.h.Gateway.Name(), ev.PG)
	assert.Equal(t, a.req.OrderID, ev.OrderID)
	assert.NotEmpty(t, ev.DedupKey)
	want, err := s.lookup(t, a)
	require.NoError(t, err)
	assert.Equal(t, want.Status, ev.Status, "the event says what the PG says")

	again, err := wp.ParseWebhook(s.ctx(t), retry.Request(secrets(a.payment)))
	require.NoError(t, err, "the PG's retry of the same news is accepted")
	assert.Equal(t, ev.DedupKey, again.DedupKey, "a retried delivery of the same news collides")

	unknownSecret, err := wp.ParseWebhook(s.ctx(t), first.Request(nil))
	require.NoError(t, err, "a genuine delivery is accepted when the host has no stored secret")
	assert.Equal(t, ev.DedupKey, unknownSecret.DedupKey)
	assert.Equal(t, want.Status, unknownSecret.Status)
	assert.Equal(t, before, s.ledger(t, a.req.OrderID), "parsing webhooks moves no money")

	if s.h.Gateway.Capabilities().PartialCancel {
		_, err := s.cancel(t, a, "cnl_"+a.req.OrderID, s.won(1), s.h.Amount)
		require.NoError(t, err)
		next, _, err := ws.Webhooks(s.ctx(t), a.req.OrderID)
		require.NoError(t, err)
		ev2, err := wp.ParseWebhook(s.ctx(t), next.Request(secrets(a.payment)))
		require.NoError(t, err)
		assert.NotEqual(t, ev.DedupKey, ev2.DedupKey, "new news, new key")
		assert.Equal(t, pg.StatusPartialCanceled, ev2.Status)
	}
}

func (s *suite) forgedWebhook(t *testing.T) {
	wp, ws := s.webhookParts(t)
	a := s.approved(t)
	forged, err := ws.ForgedWebhooks(s.ctx(t), a.req.OrderID)
	require.NoError(t, err, "ForgedWebhooks")
	require.NotEmpty(t, forged)
	before := s.ledger(t, a.req.OrderID)
	for i, d := range forged {
		ev, err := wp.ParseWebhook(s.ctx(t), d.Request(secrets(a.payment)))
		require.Error(t, err, "forged delivery %d accepted as %+v", i, ev)
		assert.True(t, errors.Is(err, pg.ErrWebhookRejected), "forged delivery %d: %v", i, err)
	}
	assert.Equal(t, before, s.ledger(t, a.req.OrderID), "forged deliveries move no money")
}

// decimalFraction is n tenths.
func decimalFraction(n int64) decimal.Decimal { return decimal.New(n, -1) }

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
