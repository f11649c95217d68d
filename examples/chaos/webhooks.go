package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// webhookFaults sends PG notifications from outside the servers: the
// sandboxes send them (POST /{pg}/_sandbox/webhooks) in the PG's own wire
// format, again, late, out of order or forged.
type webhookFaults struct {
	h      *harness
	mu     sync.Mutex
	counts map[string]int64
	// violations: a genuine notification refused, or a forged one taken.
	refusedGenuine, acceptedForged atomic.Int64
	lines                          []string
}

func (w *webhookFaults) add(name string, n int64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.counts == nil {
		w.counts = map[string]int64{}
	}
	w.counts[name] += n
}

func (w *webhookFaults) count(name string) int64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.counts[name]
}

type sendResult struct {
	Delivery int    `json:"delivery"`
	URL      string `json:"url"`
	Status   int    `json:"status"`
	Answer   string `json:"answer"`
}

// send asks the flow's sandbox to send its notifications of kind to the
// instances at urls, and tallies the answers; forged ones must be refused
// (4xx), genuine ones acknowledged (2xx; no answer or 5xx from a dying
// instance is what the PG's own retries are for).
func (w *webhookFaults) send(f *flow, kind, send string, urls []string) {
	for i := range urls {
		urls[i] += "/webhooks/" + f.pg
	}
	raw, _ := json.Marshal(map[string]any{"orderId": f.orderID, "send": send, "to": urls})
	resp, err := w.h.client.Post(w.h.pgURL+"/"+f.pg+"/_sandbox/webhooks", "application/json", bytes.NewReader(raw))
	if err != nil {
		w.add(kind+" not sent (sandbox unreachable)", 1)
		return
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode == http.StatusNotFound {
		// No notification about the order (a payment never made, a
		// card payment at a PG that notifies deposits only).
		w.add(kind+" none to send", 1)
		return
	}
	var out struct{ Results []sendResult }
	if resp.StatusCode != http.StatusOK || json.Unmarshal(body, &out) != nil {
		w.add(kind+" not sent (sandbox refused)", 1)
		w.note("  webhook %s for order %s: sandbox answered %d %s", kind, f.orderID, resp.StatusCode, body)
		return
	}
	w.tally(f, kind, out.Results)
}

func (w *webhookFaults) tally(f *flow, kind string, results []sendResult) {
	forged := kind == "webhook-forged"
	for _, r := range results {
		w.add(kind+" deliveries", 1)
		switch {
		case r.Status == 0:
			w.add(kind+" not answered", 1)
		case r.Status >= 500:
			w.add(kind+" answered 5xx", 1)
		case r.Status >= 400 && forged:
			w.add(kind+" refused", 1)
		case r.Status >= 400:
			w.refusedGenuine.Add(1)
			w.note("  genuine webhook refused: %s order %s (%s, faults %v): %d %s", kind, f.orderID, f.pg, f.faults, r.Status, r.Answer)
		case forged && f.pg == "tosspay" && r.Delivery != 1:
			// Toss signs no payment notification: when paygate holds no
			// secret for the payment it fetches the payment from Toss and
			// takes only Toss's answer, so a forgery naming the real
			// payment is acknowledged with nothing of it kept (the
			// invariants check the books against Toss's). Delivery 1
			// names a payment Toss does not have: always refused.
			w.add(kind+" acknowledged after the PG's lookup", 1)
		case forged:
			w.acceptedForged.Add(1)
			w.note("  forged webhook accepted: order %s (%s, faults %v), delivery %d: %d %s", f.orderID, f.pg, f.faults, r.Delivery, r.Status, r.Answer)
		default:
			w.add(kind+" acknowledged", 1)
		}
	}
}

func (w *webhookFaults) note(format string, args ...any) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.lines) < 50 {
		w.lines = append(w.lines, fmt.Sprintf(format, args...))
	}
}

// forgedKakao posts what KakaoPay never sends (it has no webhooks): a
// "payment approved" body for the order. The server has no intake for it.
func (w *webhookFaults) forgedKakao(f *flow) {
	raw, _ := json.Marshal(map[string]any{"tid": "T" + f.orderID, "partner_order_id": f.orderID, "status": "SUCCESS_PAYMENT",
		"amount": map[string]any{"total": f.amount}})
	status := 0
	resp, err := w.h.client.Post(w.h.pick()+"/webhooks/kakaopay", "application/json", bytes.NewReader(raw))
	if err == nil {
		status = resp.StatusCode
		_ = resp.Body.Close()
	}
	w.tally(f, "webhook-forged", []sendResult{{Status: status}})
}

// after sends the flow's webhook faults once the flow is done.
func (w *webhookFaults) after(f *flow) {
	if f.has("webhook-dup") {
		// The same notification reaching two instances at once.
		a, b := w.h.pick(), w.h.pick()
		w.send(f, "webhook-dup", "latest", []string{a, b})
	}
	if f.has("webhook-reorder") {
		w.send(f, "webhook-reorder", "reversed", []string{w.h.pick()})
	}
	if f.has("webhook-late") {
		// Late: once the payment has settled (refunded, compensated or
		// simply done), its first news again.
		w.h.waitSettled(f, 5*time.Second)
		w.send(f, "webhook-late", "first", []string{w.h.pick()})
	}
	if f.has("webhook-forged") {
		if f.pg == "kakaopay" {
			w.forgedKakao(f)
		} else {
			w.send(f, "webhook-forged", "forged", []string{w.h.pick()})
		}
	}
}
