package tosspaytest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/paygate/paygate/pg/pgtest"
)

// Toss sends PAYMENT_STATUS_CHANGED for moves to these statuses only, never
// for READY or IN_PROGRESS (pg-apis.md 1.5).
var notified = map[string]bool{"DONE": true, "CANCELED": true, "PARTIAL_CANCELED": true, "ABORTED": true, "EXPIRED": true}

// tossAddr is the peer address deliveries appear to come from.
const tossAddr = "13.124.18.147:443"

type depositJSON struct {
	CreatedAt      string `json:"createdAt"`
	Secret         string `json:"secret"`
	Status         string `json:"status"`
	TransactionKey string `json:"transactionKey"`
	OrderID        string `json:"orderId"`
}

type envelopeJSON struct {
	EventType string      `json:"eventType"`
	CreatedAt string      `json:"createdAt"`
	Data      paymentJSON `json:"data"`
}

// newsLocked records a status change of p and, when a webhook URL is set,
// sends it.
func (s *Sandbox) newsLocked(p *payment, now time.Time) {
	if p.va != nil {
		// Every virtual-account change is also a flat DEPOSIT_CALLBACK.
		body, _ := json.Marshal(depositJSON{CreatedAt: now.In(kst).Format("2006-01-02T15:04:05.000000"),
			Secret: p.secret, Status: p.status, TransactionKey: p.lastTxKey, OrderID: p.orderID})
		s.deposits[p.key] = append(s.deposits[p.key], event{createdAt: now, body: body})
		s.webhooks.send(s.webhookURL, body)
	}
	if !notified[p.status] && !(p.va != nil && p.status == "WAITING_FOR_DEPOSIT") {
		return
	}
	body, _ := json.Marshal(envelopeJSON{
		EventType: "PAYMENT_STATUS_CHANGED",
		// Toss writes createdAt without an offset, microseconds.
		CreatedAt: now.In(kst).Format("2006-01-02T15:04:05.000000"),
		Data:      s.paymentJSONLocked(p),
	})
	s.events[p.key] = append(s.events[p.key], event{createdAt: now, body: body})
	s.webhooks.send(s.webhookURL, body)
}

// transmissionHeaders are the headers of one transmission: a new id for
// every send, retries counted.
func (s *Sandbox) transmissionHeaders(retried int) http.Header {
	return http.Header{
		"Content-Type":                                    {"application/json"},
		"Tosspayments-Webhook-Transmission-Time":          {formatTime(s.cfg.Now())},
		"Tosspayments-Webhook-Transmission-Id":            {"whtrans_" + randomID(24)},
		"Tosspayments-Webhook-Transmission-Retried-Count": {strconv.Itoa(retried)},
	}
}

// SetWebhookURL changes where later news is delivered ("" delivers none).
func (s *Sandbox) SetWebhookURL(u string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.webhookURL = u
}

// Delivery is one webhook transmission the sandbox made.
type Delivery struct {
	Header http.Header
	Body   []byte
	// Status is the receiver's answer (0 when it did not answer).
	Status int
	At     time.Time
}

// dispatcher sends webhooks with Toss's retry schedule.
type dispatcher struct {
	s      *Sandbox
	client *http.Client
	wg     sync.WaitGroup

	mu  sync.Mutex
	log []Delivery
}

func newDispatcher(s *Sandbox) *dispatcher {
	c := s.cfg.WebhookClient
	if c == nil {
		c = &http.Client{Timeout: 10 * time.Second}
	}
	return &dispatcher{s: s, client: c}
}

// send delivers body to target in the background (nowhere when target is
// empty): the first send now, then a retry after each wait of the schedule
// until the receiver answers 200.
func (d *dispatcher) send(target string, body []byte) {
	if target == "" {
		return
	}
	select {
	case <-d.s.closed:
		return
	default:
	}
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		for attempt := 0; ; attempt++ {
			if d.deliver(target, body, attempt) {
				return
			}
			if attempt >= len(d.s.cfg.WebhookSchedule) {
				return
			}
			t := time.NewTimer(d.s.cfg.WebhookSchedule[attempt])
			select {
			case <-t.C:
			case <-d.s.closed:
				t.Stop()
				return
			}
		}
	}()
}

func (d *dispatcher) deliver(target string, body []byte, retried int) bool {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-d.s.closed:
			cancel()
		case <-ctx.Done():
		}
	}()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(body))
	if err != nil {
		return true // a bad URL never gets better
	}
	req.Header = d.s.transmissionHeaders(retried)
	rec := Delivery{Header: req.Header.Clone(), Body: body, At: time.Now()}
	resp, err := d.client.Do(req)
	if err == nil {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
		resp.Body.Close()
		rec.Status = resp.StatusCode
	}
	d.mu.Lock()
	d.log = append(d.log, rec)
	d.mu.Unlock()
	if rec.Status != http.StatusOK {
		d.s.log.Warn("webhook not acknowledged", "url", target, "status", rec.Status, "retried", retried, "err", err)
	}
	return rec.Status == http.StatusOK
}

func (d *dispatcher) wait() { d.wg.Wait() }

// Deliveries returns every webhook transmission made so far.
func (s *Sandbox) Deliveries() []Delivery {
	s.webhooks.mu.Lock()
	defer s.webhooks.mu.Unlock()
	return append([]Delivery(nil), s.webhooks.log...)
}

// Webhooks returns the PAYMENT_STATUS_CHANGED delivery of the latest news
// about the order's latest payment, as first sent and as Toss's retry of it
// (new transmission id and time, retried-count 1, same body).
func (s *Sandbox) Webhooks(_ context.Context, orderID string) (first, retry pgtest.WebhookDelivery, err error) {
	body, err := s.latestNews(orderID)
	if err != nil {
		return first, retry, err
	}
	first = pgtest.WebhookDelivery{Header: s.transmissionHeaders(0), Body: body, RemoteAddr: tossAddr}
	retry = pgtest.WebhookDelivery{Header: s.transmissionHeaders(1), Body: body, RemoteAddr: tossAddr}
	return first, retry, nil
}

func (s *Sandbox) latestNews(orderID string) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var key string
	if p := s.latestLocked(orderID); p != nil {
		key = p.key
	}
	evs := s.events[key]
	if len(evs) == 0 {
		return nil, fmt.Errorf("tosspaytest: no webhook news for order %q", orderID)
	}
	return evs[len(evs)-1].body, nil
}

// ForgedWebhooks returns deliveries Toss never sent: the order's latest news
// with a wrong secret and a tampered status and amount; the same with the
// secret removed and a payment key Toss does not have; and a flat deposit
// callback for the order with a wrong secret.
func (s *Sandbox) ForgedWebhooks(_ context.Context, orderID string) ([]pgtest.WebhookDelivery, error) {
	body, err := s.latestNews(orderID)
	if err != nil {
		return nil, err
	}
	var env envelopeJSON
	if err := json.Unmarshal(body, &env); err != nil {
		return nil, err
	}
	env.Data.v14 = s.cfg.APIVersion == APIVersion14
	tampered := env
	wrong := "ps_forged" + randomID(12)
	tampered.Data.Secret = &wrong
	tampered.Data.Status = "CANCELED"
	tampered.Data.BalanceAmount = "0"
	tampered.Data.TotalAmount = "1"

	invented := env
	invented.Data.Secret = nil
	invented.Data.PaymentKey = "tsbx" + randomID(20)
	invented.Data.OrderID = "forged-" + randomID(10)

	deposit := map[string]string{
		"createdAt": env.CreatedAt, "secret": wrong, "status": "DONE",
		"transactionKey": randomID(32), "orderId": env.Data.OrderID,
	}
	var out []pgtest.WebhookDelivery
	for _, v := range []any{tampered, invented, deposit} {
		b, err := json.Marshal(v)
		if err != nil {
			return nil, err
		}
		out = append(out, pgtest.WebhookDelivery{Header: s.transmissionHeaders(0), Body: b, RemoteAddr: "198.51.100.7:40000"})
	}
	return out, nil
}

// DepositCallback returns the latest DEPOSIT_CALLBACK about the order's
// virtual account, as Toss delivers it.
func (s *Sandbox) DepositCallback(orderID string) (pgtest.WebhookDelivery, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var key string
	if p := s.latestLocked(orderID); p != nil {
		key = p.key
	}
	evs := s.deposits[key]
	if len(evs) == 0 {
		return pgtest.WebhookDelivery{}, fmt.Errorf("tosspaytest: no deposit callback for order %q", orderID)
	}
	return pgtest.WebhookDelivery{Header: s.transmissionHeaders(0), Body: evs[len(evs)-1].body, RemoteAddr: tossAddr}, nil
}

// pickWebhooks returns the PAYMENT_STATUS_CHANGED deliveries of send about
// the order's latest payment (pgtest.ServeWebhooks), each with new
// transmission headers as Toss gives every transmission: pgtest.SendLatest
// the latest news, SendFirst the first (late once the payment moved on),
// SendReversed all of it newest first, SendForged ForgedWebhooks.
func (s *Sandbox) pickWebhooks(ctx context.Context, orderID, send string) ([]pgtest.WebhookDelivery, error) {
	if send == pgtest.SendForged {
		if _, err := s.latestNews(orderID); err != nil {
			return nil, fmt.Errorf("%w: %w", pgtest.ErrNoNews, err)
		}
		return s.ForgedWebhooks(ctx, orderID)
	}
	s.mu.Lock()
	var evs []event
	if p := s.latestLocked(orderID); p != nil {
		evs = append(evs, s.events[p.key]...)
	}
	s.mu.Unlock()
	if len(evs) == 0 {
		return nil, fmt.Errorf("%w %q", pgtest.ErrNoNews, orderID)
	}
	switch send {
	case pgtest.SendLatest:
		evs = evs[len(evs)-1:]
	case pgtest.SendFirst:
		evs = evs[:1]
	case pgtest.SendReversed:
		slices.Reverse(evs)
	default:
		return nil, fmt.Errorf("tosspaytest: cannot send %q (latest, first, reversed or forged)", send)
	}
	out := make([]pgtest.WebhookDelivery, len(evs))
	for i, e := range evs {
		out[i] = pgtest.WebhookDelivery{Header: s.transmissionHeaders(0), Body: e.body, RemoteAddr: tossAddr}
	}
	return out, nil
}
