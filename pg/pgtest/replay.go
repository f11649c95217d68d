package pgtest

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"sync"
	"time"
)

// What POST {ControlPrefix}webhooks sends ("send"). A sandbox serves the
// ones its PG has news for and refuses the others with 400.
const (
	// SendLatest is the latest notification about the order, as the PG
	// delivers it (a duplicate when it was delivered already).
	SendLatest = "latest"
	// SendFirst is the first notification about the order's payment: late
	// news once the payment has moved on (a DONE after a refund).
	SendFirst = "first"
	// SendReversed is every notification about the order's payment,
	// newest first: cancel statuses before the approval's.
	SendReversed = "reversed"
	// SendForged is the sandbox's ForgedWebhooks: deliveries the PG never
	// made, which a verifying host refuses.
	SendForged = "forged"
)

// ErrNoNews is wrapped by a sandbox's refusal to send notifications about
// an order it has none for.
var ErrNoNews = errors.New("pgtest: no notification about the order")

// WebhooksRequest is the body of POST {ControlPrefix}webhooks.
type WebhooksRequest struct {
	OrderID string   `json:"orderId"`
	Send    string   `json:"send"`
	To      []string `json:"to"`
}

// WebhookResult is one transmission POST {ControlPrefix}webhooks made.
type WebhookResult struct {
	// Delivery is the delivery's index in the order sent, URL where it went.
	Delivery int    `json:"delivery"`
	URL      string `json:"url"`
	// Status is the receiver's HTTP status, 0 when it did not answer.
	Status int `json:"status"`
	// Answer is the start of the receiver's answer (at most 64 bytes).
	Answer string `json:"answer"`
}

// ServeWebhooks serves POST {ControlPrefix}webhooks {"orderId", "send",
// "to": [URL, ...]}: pick returns the deliveries of "send" about the order
// (an error wrapping ErrNoNews answers 404, any other 400), and each
// delivery is sent once, in its PG's wire format, to every URL of "to" at
// the same time (two URLs: the same notification reaching two instances at
// once), one delivery after the other. A delivery whose RemoteAddr is a
// loopback address is sent from that address, so a receiver that trusts
// only some loopback sources sees the others as foreign. The answer is 200
// {"results": [WebhookResult, ...]}: what each receiver answered, not
// whether the PG would deliver again.
func ServeWebhooks(client *http.Client, pick func(ctx context.Context, orderID, send string) ([]WebhookDelivery, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var req WebhooksRequest
		if err := DecodeControl(r, &req); err != nil {
			ControlError(w, http.StatusBadRequest, "INVALID_REQUEST", `body must be {"orderId", "send", "to"}: `+err.Error())
			return
		}
		if req.OrderID == "" || len(req.To) == 0 || len(req.To) > 8 {
			ControlError(w, http.StatusBadRequest, "INVALID_REQUEST", `"orderId" and one to eight URLs in "to" are required`)
			return
		}
		for _, u := range req.To {
			if pu, err := url.Parse(u); err != nil || (pu.Scheme != "http" && pu.Scheme != "https") || pu.Host == "" {
				ControlError(w, http.StatusBadRequest, "INVALID_REQUEST", "not an http(s) URL: "+u)
				return
			}
		}
		ds, err := pick(r.Context(), req.OrderID, req.Send)
		switch {
		case errors.Is(err, ErrNoNews):
			ControlError(w, http.StatusNotFound, "NO_NEWS", err.Error())
			return
		case err != nil:
			ControlError(w, http.StatusBadRequest, "INVALID_REQUEST", err.Error())
			return
		}
		results := make([]WebhookResult, 0, len(ds)*len(req.To))
		for i, d := range ds {
			out := make([]WebhookResult, len(req.To))
			var wg sync.WaitGroup
			for j, u := range req.To {
				wg.Add(1)
				go func() {
					defer wg.Done()
					out[j] = sendOnce(r.Context(), client, d, u)
					out[j].Delivery = i
				}()
			}
			wg.Wait()
			results = append(results, out...)
		}
		ControlJSON(w, http.StatusOK, map[string]any{"results": results})
	}
}

// sendOnce posts d to target, from d.RemoteAddr's address when that is a
// loopback one.
func sendOnce(ctx context.Context, client *http.Client, d WebhookDelivery, target string) WebhookResult {
	res := WebhookResult{URL: target}
	c := client
	if c == nil {
		c = &http.Client{Timeout: 10 * time.Second}
	}
	if ap, err := netip.ParseAddrPort(d.RemoteAddr); err == nil && ap.Addr().IsLoopback() {
		dialer := &net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: ap.Addr().AsSlice()}}
		c = &http.Client{Timeout: c.Timeout, Transport: &http.Transport{DialContext: dialer.DialContext, DisableKeepAlives: true}}
		if c.Timeout == 0 {
			c.Timeout = 10 * time.Second
		}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(d.Body))
	if err != nil {
		return res
	}
	req.Header = d.Header.Clone()
	resp, err := c.Do(req)
	if err != nil {
		return res
	}
	defer resp.Body.Close()
	ans, _ := io.ReadAll(io.LimitReader(resp.Body, 64))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
	res.Status, res.Answer = resp.StatusCode, string(ans)
	return res
}
