package tosspay

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/paygate/paygate/pg"
)

// Webhook event types the adapter handles (pg-apis.md 1.5).
const (
	EventPaymentStatusChanged = "PAYMENT_STATUS_CHANGED"
	EventCancelStatusChanged  = "CANCEL_STATUS_CHANGED"
	// EventDepositCallback has no eventType on the wire: a virtual-account
	// deposit callback is a flat body {createdAt, secret, status,
	// transactionKey, orderId}.
	EventDepositCallback = "DEPOSIT_CALLBACK"
)

// Webhook headers Toss sends with every delivery.
const (
	HeaderTransmissionTime    = "tosspayments-webhook-transmission-time"
	HeaderTransmissionID      = "tosspayments-webhook-transmission-id"
	HeaderTransmissionRetried = "tosspayments-webhook-transmission-retried-count"
)

// maxWebhookBytes bounds a delivery; a Payment object is a few kilobytes.
const maxWebhookBytes = 1 << 20

type webhookEnvelope struct {
	EventType string          `json:"eventType"`
	CreatedAt string          `json:"createdAt"`
	Data      json.RawMessage `json:"data"`
	// DEPOSIT_CALLBACK's flat fields.
	Secret         string `json:"secret"`
	Status         string `json:"status"`
	TransactionKey string `json:"transactionKey"`
	OrderID        string `json:"orderId"`
}

// ParseWebhook verifies and normalises a Toss payment webhook:
// PAYMENT_STATUS_CHANGED, DEPOSIT_CALLBACK and CANCEL_STATUS_CHANGED.
//
// Payment webhooks carry no signature. A delivery is verified by the
// payment's secret when the host knows it (req.Secret, stored from
// pg.Payment.Secret) and the delivery carries one: a mismatch is forged. When
// either is missing, the payment is fetched back from Toss and only the
// fetched state is trusted (Status, Amount and Payment come from it); a
// payment Toss does not have, or one whose keys differ from the delivery's,
// is forged. Forged and malformed deliveries fail with an error wrapping
// pg.ErrWebhookRejected. A fetch that fails for another reason returns that
// error, so the host answers non-200 and Toss delivers again.
//
// DedupKey is derived from what the delivery says (event type, payment,
// status, transaction key, balance), never from the transmission headers:
// a retried delivery of the same news gets the same key, whatever its
// transmission id and retried-count.
func (g *Gateway) ParseWebhook(ctx context.Context, req pg.WebhookRequest) (*pg.WebhookEvent, error) {
	if len(req.Body) == 0 {
		return nil, rejected("empty body")
	}
	if len(req.Body) > maxWebhookBytes {
		return nil, rejected(fmt.Sprintf("body of %d bytes", len(req.Body)))
	}
	var env webhookEnvelope
	if err := json.Unmarshal(req.Body, &env); err != nil {
		return nil, rejected("body is not a JSON object: " + err.Error())
	}
	switch env.EventType {
	case EventPaymentStatusChanged:
		return g.paymentStatusChanged(ctx, req, env)
	case EventCancelStatusChanged:
		return g.cancelStatusChanged(ctx, env)
	case "":
		if len(env.Data) == 0 && env.OrderID != "" && env.Status != "" {
			return g.depositCallback(ctx, req, env)
		}
		return nil, rejected("no eventType and not a deposit callback")
	default:
		// Events that carry no payment news (METHOD_UPDATED,
		// CUSTOMER_STATUS_CHANGED, payout.changed, …) are not forged, just
		// not for the payment flow: nothing to act on, and Toss must not
		// deliver them again (pg.WebhookParser's (nil, nil) contract).
		return nil, nil
	}
}

func (g *Gateway) paymentStatusChanged(ctx context.Context, req pg.WebhookRequest, env webhookEnvelope) (*pg.WebhookEvent, error) {
	var pj paymentJSON
	if err := json.Unmarshal(env.Data, &pj); err != nil {
		return nil, rejected("data is not a Payment: " + err.Error())
	}
	claimed, err := pj.toPayment()
	if err != nil {
		return nil, rejected(err.Error())
	}
	ev := &pg.WebhookEvent{
		PG: Name, Type: pg.WebhookPaymentStatus,
		DedupKey:   dedupKey(EventPaymentStatusChanged, pj.PaymentKey, pj.OrderID, pj.Status, pj.lastTxKey(), claimed.Balance.Amount().String(), fmt.Sprint(len(claimed.Cancels))),
		PaymentKey: claimed.PaymentKey, OrderID: claimed.OrderID,
		Status: claimed.Status, Amount: claimed.Amount,
	}
	ev.OccurredAt, _ = parseTime(env.CreatedAt)
	ok, err := verifySecret(ctx, req, claimed.PaymentKey, claimed.OrderID, claimed.Secret)
	if err != nil {
		return nil, err
	}
	if ok {
		// The secret proves the body came from Toss: its Payment, cancels
		// and balance included, is the news.
		ev.Payment = claimed
		return ev, nil
	}
	fetched, err := g.fetchForWebhook(ctx, claimed.PaymentKey, claimed.OrderID)
	if err != nil {
		return nil, err
	}
	ev.Status, ev.Amount, ev.Payment, ev.ByLookup = fetched.Status, fetched.Amount, fetched, true
	return ev, nil
}

func (g *Gateway) depositCallback(ctx context.Context, req pg.WebhookRequest, env webhookEnvelope) (*pg.WebhookEvent, error) {
	info, ok := statuses[env.Status]
	if !ok {
		return nil, rejected(fmt.Sprintf("unknown status %q", env.Status))
	}
	ev := &pg.WebhookEvent{
		PG: Name, Type: pg.WebhookDeposit,
		DedupKey: dedupKey(EventDepositCallback, env.OrderID, env.Status, env.TransactionKey),
		OrderID:  env.OrderID, Status: info.status,
	}
	ev.OccurredAt, _ = parseTime(env.CreatedAt)
	verified, err := verifySecret(ctx, req, "", env.OrderID, env.Secret)
	if err != nil {
		return nil, err
	}
	if verified {
		return ev, nil
	}
	fetched, err := g.fetchForWebhook(ctx, "", env.OrderID)
	if err != nil {
		return nil, err
	}
	ev.PaymentKey, ev.Status, ev.Amount, ev.Payment, ev.ByLookup = fetched.PaymentKey, fetched.Status, fetched.Amount, fetched, true
	return ev, nil
}

func (g *Gateway) cancelStatusChanged(ctx context.Context, env webhookEnvelope) (*pg.WebhookEvent, error) {
	var cj cancelJSON
	if err := json.Unmarshal(env.Data, &cj); err != nil {
		return nil, rejected("data is not a Cancel: " + err.Error())
	}
	if cj.TransactionKey == "" || cj.CancelStatus == "" {
		return nil, rejected("cancel without transactionKey or cancelStatus")
	}
	if cj.PaymentKey == "" && cj.OrderID == "" {
		return nil, rejected("cancel names no payment; cannot verify")
	}
	// A Cancel object carries no secret: only the fetched payment is trusted.
	fetched, err := g.fetchForWebhook(ctx, cj.PaymentKey, cj.OrderID)
	if err != nil {
		return nil, err
	}
	ev := &pg.WebhookEvent{
		PG: Name, Type: pg.WebhookCancelStatus,
		DedupKey:   dedupKey(EventCancelStatusChanged, cj.TransactionKey, cj.CancelStatus),
		PaymentKey: fetched.PaymentKey, OrderID: fetched.OrderID,
		Status: fetched.Status, Amount: fetched.Amount, Payment: fetched, ByLookup: true,
	}
	ev.OccurredAt, _ = parseTime(env.CreatedAt)
	return ev, nil
}

// verifySecret compares the delivery's secret with the one stored for the
// payment. It returns true when they match, false when either is unknown
// (verify by fetching instead), and a rejection when they differ.
func verifySecret(ctx context.Context, req pg.WebhookRequest, paymentKey, orderID, got string) (bool, error) {
	if req.Secret == nil || got == "" {
		return false, nil
	}
	want, ok := req.Secret(ctx, paymentKey, orderID)
	if !ok || want == "" {
		return false, nil
	}
	if subtle.ConstantTimeCompare([]byte(want), []byte(got)) != 1 {
		return false, rejected("secret does not match the payment's")
	}
	return true, nil
}

// fetchForWebhook looks the payment up at Toss and checks it is the one the
// delivery names.
func (g *Gateway) fetchForWebhook(ctx context.Context, paymentKey, orderID string) (*pg.Payment, error) {
	p, err := g.Lookup(ctx, pg.LookupRequest{PaymentKey: paymentKey, OrderID: orderID})
	if err != nil {
		switch pg.KindOf(err) {
		case pg.KindNotFound, pg.KindInvalid:
			return nil, rejected(fmt.Sprintf("payment %q / order %q not confirmed by Toss: %v", paymentKey, orderID, err))
		}
		return nil, fmt.Errorf("tosspay: webhook: fetching the payment to verify it: %w", err)
	}
	if (paymentKey != "" && p.PaymentKey != paymentKey) || (orderID != "" && p.OrderID != orderID) {
		return nil, rejected(fmt.Sprintf("delivery names payment %q order %q, Toss has %q %q", paymentKey, orderID, p.PaymentKey, p.OrderID))
	}
	return p, nil
}

func rejected(reason string) error {
	return fmt.Errorf("tosspay: webhook rejected: %s: %w", reason, pg.ErrWebhookRejected)
}

// dedupKey hashes the fields that identify one piece of news.
func dedupKey(event string, fields ...string) string {
	h := sha256.New()
	for _, f := range fields {
		h.Write([]byte(f))
		h.Write([]byte{0x1f})
	}
	return strings.ToLower(event) + ":" + hex.EncodeToString(h.Sum(nil))
}
