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

	"github.com/paygate/paygate/kakaopay"
	"github.com/paygate/paygate/pg"
	"github.com/paygate/paygate/pg/pgtest"
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

// The process serves KakaoPay's API to the adapter and the test controls
// under /_sandbox/, until stopped.
func TestRun_ServesTheSandboxUntilStopped(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	out := &syncBuffer{}
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"-addr", "127.0.0.1:0", "-secret-key", "DEVCMD", "-cid", "TC0ONETIME,CMDCID0001"}, out)
	}()

	re := regexp.MustCompile(`base URL (\S+) secret key (\S+) cid (\S+)`)
	var m []string
	require.Eventually(t, func() bool { m = re.FindStringSubmatch(out.String()); return m != nil }, 20*time.Second, 10*time.Millisecond)
	assert.Equal(t, "DEVCMD", m[2])

	gw, err := kakaopay.New(kakaopay.Config{CID: "CMDCID0001", SecretKey: m[2], BaseURL: m[1],
		ApprovalURL: "https://shop.example/ok", CancelURL: "https://shop.example/cancel", FailURL: "https://shop.example/fail"})
	require.NoError(t, err)
	ctx2 := context.Background()
	prep, err := gw.Prepare(ctx2, pg.PrepareRequest{OrderID: "order-cmd-1", OrderName: "cmd", Amount: pg.Won(9000), CustomerID: "buyer-1",
		SuccessURL: "https://shop.example/ok", CancelURL: "https://shop.example/cancel", FailURL: "https://shop.example/fail"})
	require.NoError(t, err)

	resp, err := http.Post(m[1]+"/_sandbox/pay", "application/json", strings.NewReader(`{"orderId":"order-cmd-1","amount":9000}`))
	require.NoError(t, err)
	var paid struct {
		Redirect map[string]string `json:"redirect"`
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&paid))
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	p, err := gw.Approve(ctx2, pg.ApproveRequest{PaymentID: "pay_cmd", OrderID: "order-cmd-1", Amount: pg.Won(9000), Redirect: paid.Redirect, Prepared: prep.Data})
	require.NoError(t, err)
	assert.Equal(t, pg.StatusApproved, p.Status)

	resp, err = http.Get(m[1] + "/_sandbox/ledger")
	require.NoError(t, err)
	var ledger []pgtest.LedgerEntry
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&ledger))
	resp.Body.Close()
	require.Len(t, ledger, 1)
	assert.Equal(t, 1, ledger[0].Approvals)

	cancel()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(20 * time.Second):
		t.Fatal("the sandbox did not stop")
	}
}

func TestRun_RefusesBadFlags(t *testing.T) {
	for _, args := range [][]string{{"-addr", "not an address"}, {"-nope"}, {"-hold-max", "-1s"}, {"-tid-ttl", "soon"}} {
		err := run(context.Background(), args, &bytes.Buffer{})
		assert.Error(t, err, "%v", args)
	}
}
