package tosspaytest_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/paygate/paygate/pg"
	"github.com/paygate/paygate/pg/pgtest"
	"github.com/paygate/paygate/tosspay"
	"github.com/paygate/paygate/tosspay/tosspaytest"
)

// receiver records the webhooks it is sent and answers status.
type receiver struct {
	mu     sync.Mutex
	got    []http.Header
	bodies [][]byte
	status int
}

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	b, _ := io.ReadAll(req.Body)
	r.mu.Lock()
	r.got = append(r.got, req.Header.Clone())
	r.bodies = append(r.bodies, b)
	st := r.status
	r.mu.Unlock()
	w.WriteHeader(st)
}

// statuses reads the Payment status of each PAYMENT_STATUS_CHANGED body.
func (r *receiver) statuses(t *testing.T) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, b := range r.bodies {
		var env struct {
			EventType string
			Data      struct{ Status string }
		}
		require.NoError(t, json.Unmarshal(b, &env))
		out = append(out, env.EventType+" "+env.Data.Status)
	}
	return out
}

func sendWebhooks(t *testing.T, srv *tosspaytest.Server, orderID, send string, to ...string) (int, []pgtest.WebhookResult) {
	t.Helper()
	raw, err := json.Marshal(pgtest.WebhooksRequest{OrderID: orderID, Send: send, To: to})
	require.NoError(t, err)
	resp, err := http.Post(srv.URL+pgtest.ControlPrefix+"webhooks", "application/json", bytes.NewReader(raw))
	require.NoError(t, err)
	defer resp.Body.Close()
	var out struct{ Results []pgtest.WebhookResult }
	if resp.StatusCode == http.StatusOK {
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&out))
	}
	return resp.StatusCode, out.Results
}

// POST /_sandbox/webhooks sends the order's notifications again as Toss
// sends them — the latest (to two receivers at once), the first (late once
// the payment moved on), all newest first — each transmission with an id of
// its own, and forged ones the adapter refuses.
func TestServeWebhooks_SendsTheOrdersNewsAgainLateReversedOrForged(t *testing.T) {
	t.Parallel()
	srv, gw := setup(t, tosspaytest.Config{})
	ctx := context.Background()
	res, err := srv.Pay(ctx, pgtest.PayRequest{OrderID: "order-rw-1", Amount: pg.Won(10000)})
	require.NoError(t, err)
	p, err := gw.Approve(ctx, approveReq("order-rw-1", res, pg.Won(10000)))
	require.NoError(t, err)
	_, err = gw.Cancel(ctx, pg.CancelRequest{CancelID: "c1", PaymentKey: p.PaymentKey, Amount: pg.Won(2500), Balance: pg.Won(10000), Reason: "r"})
	require.NoError(t, err)

	a, b := &receiver{status: http.StatusOK}, &receiver{status: http.StatusInternalServerError}
	ha, hb := httptest.NewServer(a), httptest.NewServer(b)
	t.Cleanup(ha.Close)
	t.Cleanup(hb.Close)

	st, results := sendWebhooks(t, srv, "order-rw-1", pgtest.SendLatest, ha.URL, hb.URL)
	require.Equal(t, http.StatusOK, st)
	require.Len(t, results, 2)
	assert.Equal(t, map[string]int{ha.URL: 200, hb.URL: 500}, map[string]int{results[0].URL: results[0].Status, results[1].URL: results[1].Status})
	assert.Equal(t, []string{"PAYMENT_STATUS_CHANGED PARTIAL_CANCELED"}, a.statuses(t))
	assert.Equal(t, []string{"PAYMENT_STATUS_CHANGED PARTIAL_CANCELED"}, b.statuses(t))

	_, _ = sendWebhooks(t, srv, "order-rw-1", pgtest.SendFirst, ha.URL)
	_, results = sendWebhooks(t, srv, "order-rw-1", pgtest.SendReversed, ha.URL)
	require.Len(t, results, 2)
	assert.Equal(t, []int{0, 1}, []int{results[0].Delivery, results[1].Delivery})
	assert.Equal(t, []string{"PAYMENT_STATUS_CHANGED PARTIAL_CANCELED", "PAYMENT_STATUS_CHANGED DONE",
		"PAYMENT_STATUS_CHANGED PARTIAL_CANCELED", "PAYMENT_STATUS_CHANGED DONE"}, a.statuses(t))
	ids := map[string]bool{}
	for _, h := range a.got {
		ids[h.Get(tosspay.HeaderTransmissionID)] = true
	}
	assert.Len(t, ids, 4, "every transmission has an id of its own")

	// The genuine ones verify; every forged one is refused.
	a.mu.Lock()
	genuine := append([][]byte(nil), a.bodies...)
	a.mu.Unlock()
	for _, body := range genuine {
		_, err := gw.ParseWebhook(ctx, pg.WebhookRequest{Body: body})
		require.NoError(t, err)
	}
	f := &receiver{status: http.StatusUnauthorized}
	hf := httptest.NewServer(f)
	t.Cleanup(hf.Close)
	_, results = sendWebhooks(t, srv, "order-rw-1", pgtest.SendForged, hf.URL)
	require.Len(t, results, 3)
	secret := func(context.Context, string, string) (string, bool) { return srv.Payments()[0].Secret, true }
	for i, body := range f.bodies {
		_, err := gw.ParseWebhook(ctx, pg.WebhookRequest{Body: body, Secret: secret})
		assert.ErrorIs(t, err, pg.ErrWebhookRejected, "forged delivery %d", i)
	}

	st, _ = sendWebhooks(t, srv, "no-such-order", pgtest.SendLatest, ha.URL)
	assert.Equal(t, http.StatusNotFound, st)
	st, _ = sendWebhooks(t, srv, "order-rw-1", "sideways", ha.URL)
	assert.Equal(t, http.StatusBadRequest, st)
	st, _ = sendWebhooks(t, srv, "order-rw-1", pgtest.SendLatest, "file:///etc/passwd")
	assert.Equal(t, http.StatusBadRequest, st)
	st, _ = sendWebhooks(t, srv, "order-rw-1", pgtest.SendLatest)
	assert.Equal(t, http.StatusBadRequest, st)
}
