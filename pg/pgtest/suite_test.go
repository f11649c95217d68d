package pgtest_test

import (
	"context"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/paygate/paygate/pg"
	"github.com/paygate/paygate/pg/pgtest"
	"github.com/paygate/paygate/tosspay"
	"github.com/paygate/paygate/tosspay/tosspaytest"
)

func tossHarness(t *testing.T) (*tosspay.Gateway, *tosspaytest.Server) {
	t.Helper()
	srv := tosspaytest.NewServer(tosspaytest.Config{HoldMax: 10 * time.Second})
	t.Cleanup(srv.Close)
	gw, err := tosspay.New(tosspay.Config{SecretKey: srv.SecretKey(), BaseURL: srv.URL,
		Timeout: 300 * time.Millisecond, MaxAttempts: 2, BackoffMin: 10 * time.Millisecond, BackoffMax: 20 * time.Millisecond})
	require.NoError(t, err)
	return gw, srv
}

func TestRun_TossAdapterConforms(t *testing.T) {
	gw, srv := tossHarness(t)
	pgtest.Run(t, pgtest.Harness{Gateway: gw, Sandbox: srv.Sandbox})
}

// broken is an adapter with two classic bugs: it reports declines as
// unknown outcomes, and it sends cancels without the balance guard under a
// fresh idempotency key each time.
type broken struct{ *tosspay.Gateway }

func (b broken) Approve(ctx context.Context, req pg.ApproveRequest) (*pg.Payment, error) {
	p, err := b.Gateway.Approve(ctx, req)
	if pg.KindOf(err) == pg.KindDeclined {
		return nil, &pg.Error{PG: "tosspay", Kind: pg.KindUnknown}
	}
	return p, err
}

func (b broken) Cancel(ctx context.Context, req pg.CancelRequest) (*pg.Payment, error) {
	req.Balance = pg.Money{}
	req.CancelID = req.CancelID + "-" + time.Now().Format("150405.000000000")
	return b.Gateway.Cancel(ctx, req)
}

// The suite must be able to fail: run it against the broken adapter in a
// child process and check the cases that should catch each bug did.
func TestRun_FailsABrokenAdapter(t *testing.T) {
	if os.Getenv("PGTEST_BROKEN_ADAPTER") == "1" {
		gw, srv := tossHarness(t)
		pgtest.Run(t, pgtest.Harness{Gateway: broken{gw}, Sandbox: srv.Sandbox})
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestRun_FailsABrokenAdapter$", "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), "PGTEST_BROKEN_ADAPTER=1")
	out, err := cmd.CombinedOutput()
	require.Error(t, err, "the suite passed a broken adapter:\n%s", out)
	for _, c := range []string{pgtest.CaseDeclined, pgtest.CaseCancelRetry} {
		assert.Contains(t, string(out), "--- FAIL: TestRun_FailsABrokenAdapter/"+c, "case %s did not catch its bug", c)
	}
	assert.Contains(t, string(out), "--- PASS: TestRun_FailsABrokenAdapter/"+pgtest.CaseApprove, "healthy paths still pass")
}
