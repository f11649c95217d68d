package inicistest_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/paygate/paygate/inicis"
	"github.com/paygate/paygate/inicis/inicistest"
	"github.com/paygate/paygate/pg"
	"github.com/paygate/paygate/pg/pgtest"
)

// POST /_sandbox/webhooks "forged" sends ForgedWebhooks over real
// connections, the foreign-source one from inicistest.ForeignLoopback: a
// gateway trusting 127.0.0.1 only refuses every one as received, and a card
// payment has no notification to send again.
func TestServeWebhooks_ForgedFromAForeignLoopbackAddress_AllRefused(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *inicis.Config) {
		c.NotiSources = []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}
	})
	_, _, err := e.approve(t, "order-rw-1", 1000, pgtest.FaultNone)
	require.NoError(t, err)

	var mu sync.Mutex
	var remotes []string
	var refused int
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		_, err := e.gw.ParseWebhook(r.Context(), pg.WebhookRequest{Header: r.Header, Body: body, RemoteAddr: r.RemoteAddr})
		host, _, _ := net.SplitHostPort(r.RemoteAddr)
		mu.Lock()
		remotes = append(remotes, host)
		if assert.ErrorIs(t, err, pg.ErrWebhookRejected) {
			refused++
		}
		mu.Unlock()
		w.WriteHeader(http.StatusUnauthorized)
	}))
	t.Cleanup(hook.Close)

	raw, err := json.Marshal(pgtest.WebhooksRequest{OrderID: "order-rw-1", Send: pgtest.SendForged, To: []string{hook.URL}})
	require.NoError(t, err)
	resp, err := http.Post(e.srv.URL+pgtest.ControlPrefix+"webhooks", "application/json", bytes.NewReader(raw))
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	var out struct{ Results []pgtest.WebhookResult }
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&out))
	forged, err := e.srv.ForgedWebhooks(context.Background(), "order-rw-1")
	require.NoError(t, err)
	require.Len(t, out.Results, len(forged))
	for _, r := range out.Results {
		assert.Equal(t, http.StatusUnauthorized, r.Status)
	}
	mu.Lock()
	defer mu.Unlock()
	assert.Equal(t, len(forged), refused)
	assert.Contains(t, remotes, inicistest.ForeignLoopback)

	raw, err = json.Marshal(pgtest.WebhooksRequest{OrderID: "order-rw-1", Send: pgtest.SendLatest, To: []string{hook.URL}})
	require.NoError(t, err)
	resp2, err := http.Post(e.srv.URL+pgtest.ControlPrefix+"webhooks", "application/json", bytes.NewReader(raw))
	require.NoError(t, err)
	resp2.Body.Close()
	assert.Equal(t, http.StatusNotFound, resp2.StatusCode, "Inicis notifies no card payment")
}
