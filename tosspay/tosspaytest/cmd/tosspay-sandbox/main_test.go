package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/paygate/paygate/pg"
	"github.com/paygate/paygate/pg/pgtest"
	"github.com/paygate/paygate/tosspay"
)

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

func TestRun_ServesTheSandboxUntilStopped(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	out := &syncBuffer{}
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"-addr", "127.0.0.1:0", "-secret-key", "test_sk_cmd", "-webhook-schedule", "1s,2s", "-api-version", "1.4"}, out)
	}()

	re := regexp.MustCompile(`base URL (\S+) secret key (\S+)`)
	var m []string
	require.Eventually(t, func() bool { m = re.FindStringSubmatch(out.String()); return m != nil }, 20*time.Second, 10*time.Millisecond)
	assert.Equal(t, "test_sk_cmd", m[2])

	gw, err := tosspay.New(tosspay.Config{SecretKey: m[2], BaseURL: m[1]})
	require.NoError(t, err)
	_, err = gw.Lookup(context.Background(), pg.LookupRequest{OrderID: "order-none-1"})
	assert.Equal(t, pg.KindNotFound, pg.KindOf(err), "the API answers: %v", err)

	// A virtual account issued outside a checkout, answered in version 1.4's
	// shape (the bank by name).
	req, err := http.NewRequest(http.MethodPost, m[1]+"/v1/virtual-accounts",
		strings.NewReader(`{"amount":1000,"orderId":71,"orderName":"x","customerName":"y","bank":"20"}`))
	require.NoError(t, err)
	req.SetBasicAuth(m[2], "")
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	p, err := gw.Lookup(context.Background(), pg.LookupRequest{OrderID: "71"})
	require.NoError(t, err)
	require.NotNil(t, p.VirtualAccount)
	assert.Equal(t, "우리", p.VirtualAccount.Bank)

	// The test controls answer under /_sandbox/.
	resp, err = http.Get(m[1] + "/_sandbox/ledger")
	require.NoError(t, err)
	var ledger []pgtest.LedgerEntry
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&ledger))
	resp.Body.Close()
	require.Len(t, ledger, 1)
	assert.Equal(t, "71", ledger[0].OrderID)
	assert.Equal(t, pg.StatusWaitingForDeposit, ledger[0].Status)

	cancel()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(20 * time.Second):
		t.Fatal("the sandbox did not stop")
	}
}

func TestRun_RefusesBadFlags(t *testing.T) {
	for _, args := range [][]string{{"-webhook-schedule", "soon"}, {"-addr", "not an address"}, {"-nope"}, {"-api-version", "1.3"}, {"-hold-max", "-1s"}} {
		err := run(context.Background(), args, &bytes.Buffer{})
		assert.Error(t, err, "%v", args)
	}
}
