package inicistest_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/paygate/paygate/inicis"
	"github.com/paygate/paygate/inicis/inicistest"
	"github.com/paygate/paygate/pg"
	"github.com/paygate/paygate/pg/pgtest"
)

// FailNext scripts the order's next call of one op: a full and a partial
// refund are both OpCancel, an inquiry OpLookup; another order's calls and
// other ops leave the script alone, and one call uses it up.
func TestFailNext_ScriptsTheOrdersNextCallOfThatOp(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	_, a, err := e.approve(t, "order-a", 10000, pgtest.FaultNone)
	require.NoError(t, err)
	_, b, err := e.approve(t, "order-b", 10000, pgtest.FaultNone)
	require.NoError(t, err)

	require.NoError(t, e.srv.FailNext(pgtest.OpCancel, "order-a", pgtest.FaultDecline))
	_, err = e.gw.Lookup(ctx, pg.LookupRequest{PaymentKey: a.PaymentKey})
	require.NoError(t, err, "an inquiry does not take a cancel's script")
	_, err = e.gw.Cancel(ctx, pg.CancelRequest{PaymentKey: b.PaymentKey, Amount: pg.Won(1000), Balance: pg.Won(10000)})
	require.NoError(t, err, "another order's refund does not take it")
	_, err = e.gw.Cancel(ctx, pg.CancelRequest{PaymentKey: a.PaymentKey, Amount: pg.Won(1000), Balance: pg.Won(10000)})
	require.ErrorIs(t, err, pg.ErrDeclined, "order-a's partial refund is refused")
	_, err = e.gw.Cancel(ctx, pg.CancelRequest{PaymentKey: a.PaymentKey})
	require.NoError(t, err, "and the script is used up: the full refund goes through")

	require.NoError(t, e.srv.FailNext(pgtest.OpLookup, "order-b", pgtest.FaultError500))
	inquiry := func(tid string) int {
		resp := postInquiry(t, e, tid)
		resp.Body.Close()
		return resp.StatusCode
	}
	assert.Equal(t, http.StatusOK, inquiry(a.PaymentKey), "another order's inquiry")
	assert.Equal(t, http.StatusInternalServerError, inquiry(b.PaymentKey), "order-b's inquiry fails")
	assert.Equal(t, http.StatusOK, inquiry(b.PaymentKey), "once")

	// A script for any order takes the next approval, before the fault the
	// buyer's Pay gave the payment.
	require.NoError(t, e.srv.FailNext(pgtest.OpApprove, "", pgtest.FaultDecline))
	_, _, err = e.approve(t, "order-c", 5000, pgtest.FaultNone)
	require.ErrorIs(t, err, pg.ErrDeclined)

	assert.Equal(t, 1, ledgerOf(t, e.srv.Sandbox, "order-a").Cancels)
	assert.Equal(t, pg.StatusCanceled, ledgerOf(t, e.srv.Sandbox, "order-a").Status)
	assert.Equal(t, 1, ledgerOf(t, e.srv.Sandbox, "order-b").Cancels)
	assert.Equal(t, 0, ledgerOf(t, e.srv.Sandbox, "order-c").Approvals)
}

// A net cancel can be scripted to be lost: it takes effect, the shop hears
// nothing.
func TestFailNext_NetCancelLost(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	req, _, err := e.approve(t, "order-nc", 3000, pgtest.FaultNone)
	require.NoError(t, err)
	require.NoError(t, e.srv.FailNext(pgtest.OpNetCancel, "order-nc", pgtest.FaultTimeout))
	require.Error(t, e.gw.NetCancel(context.Background(), req))
	assert.Equal(t, pg.StatusCanceled, ledgerOf(t, e.srv.Sandbox, "order-nc").Status)
}

func TestFailNext_RefusesWhatInicisCannotPlay(t *testing.T) {
	t.Parallel()
	sb := inicistest.New(inicistest.Config{})
	defer sb.Close()
	assert.Error(t, sb.FailNext("refund", "", pgtest.FaultError500), "ops are pgtest's names")
	assert.Error(t, sb.FailNext(pgtest.OpCancel, "", "meteor"))
	for _, c := range []struct {
		op pgtest.Op
		f  pgtest.Fault
	}{{pgtest.OpPrepare, pgtest.FaultError500}, {pgtest.OpLookup, pgtest.FaultDecline}, {pgtest.OpNetCancel, pgtest.FaultDecline}} {
		err := sb.FailNext(c.op, "o", c.f)
		assert.True(t, errors.Is(err, pgtest.ErrUnsupported), "%s %s: %v", c.op, c.f, err)
	}
}

// With a HoldMax a lost answer is held until the caller gives up; without
// one (the other tests) it is cut at once.
func TestHoldMax_HoldsALostAnswerUntilTheCallerGivesUp(t *testing.T) {
	t.Parallel()
	srv := inicistest.NewServer(inicistest.Config{HoldMax: time.Minute})
	t.Cleanup(srv.Close)
	cfg := srv.GatewayConfig()
	cfg.HTTPClient = &http.Client{Timeout: 300 * time.Millisecond}
	gw, err := inicis.New(cfg)
	require.NoError(t, err)
	ctx := context.Background()
	res, err := srv.Pay(ctx, pgtest.PayRequest{OrderID: "order-hold", Amount: pg.Won(4000), Fault: pgtest.FaultTimeout})
	require.NoError(t, err)
	start := time.Now()
	_, err = gw.Approve(ctx, pg.ApproveRequest{OrderID: "order-hold", Amount: pg.Won(4000), Redirect: res.Redirect})
	require.ErrorIs(t, err, pg.ErrUnknown)
	// Held until the client gave up (its 300 ms), not cut at once: how
	// the client reports giving up differs (a timeout while waiting for
	// headers, a cancel while reading the body), the wait does not.
	assert.GreaterOrEqual(t, time.Since(start), 300*time.Millisecond, "held, not cut at once: %v", err)
	assert.Equal(t, 1, ledgerOf(t, srv.Sandbox, "order-hold").Approvals)
}

// The test controls live under /_sandbox/: the buyer, scripted faults, the
// ledger, the bank's deposit and its cancel. The old paths are gone.
func TestControlEndpoints_UnderTheSandboxPrefix(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	recv := &webhookReceiver{gw: e.gw, events: map[string]*pg.WebhookEvent{}}
	hook := httptest.NewServer(recv)
	t.Cleanup(hook.Close)
	e.srv.SetWebhookURL(hook.URL)
	post := func(path, body string) (int, []byte) {
		resp, err := http.Post(e.srv.URL+path, "application/json", strings.NewReader(body))
		require.NoError(t, err)
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		return resp.StatusCode, b
	}

	st, b := post("/_sandbox/pay", `{"orderId":"order-ctl","amount":7000,"method":"VBank"}`)
	require.Equal(t, http.StatusOK, st, string(b))
	var paid struct {
		Redirect map[string]string `json:"redirect"`
	}
	require.NoError(t, json.Unmarshal(b, &paid))
	st, b = post("/_sandbox/deposit", `{"orderId":"order-ctl"}`)
	assert.Equal(t, http.StatusConflict, st, "no account before the approval: %s", b)

	st, b = post("/_sandbox/faults", `{"op":"approve","fault":"error500","orderId":"order-ctl"}`)
	require.Equal(t, http.StatusNoContent, st, string(b))
	ctx := context.Background()
	_, err := e.gw.Approve(ctx, pg.ApproveRequest{OrderID: "order-ctl", Amount: pg.Won(7000), Redirect: paid.Redirect})
	require.Error(t, err, "the scripted 500")
	assert.Equal(t, 0, ledgerOf(t, e.srv.Sandbox, "order-ctl").Approvals)

	st, b = post("/_sandbox/pay", `{"orderId":"order-ctl","amount":7000,"method":"VBank"}`)
	require.Equal(t, http.StatusOK, st, string(b))
	require.NoError(t, json.Unmarshal(b, &paid))
	p, err := e.gw.Approve(ctx, pg.ApproveRequest{OrderID: "order-ctl", Amount: pg.Won(7000), Redirect: paid.Redirect})
	require.NoError(t, err)
	assert.Equal(t, pg.StatusWaitingForDeposit, p.Status)

	st, b = post("/_sandbox/deposit", `{"orderId":"order-ctl"}`)
	require.Equal(t, http.StatusNoContent, st, string(b))
	st, b = post("/_sandbox/cancel-deposit", `{"orderId":"order-ctl"}`)
	require.Equal(t, http.StatusNoContent, st, string(b))
	recv.mu.Lock()
	assert.Equal(t, 2, recv.seen, "the deposit and its cancel were notified")
	recv.mu.Unlock()

	resp, err := http.Get(e.srv.URL + "/_sandbox/ledger")
	require.NoError(t, err)
	var ledger []pgtest.LedgerEntry
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&ledger))
	resp.Body.Close()
	require.Len(t, ledger, 2, "the failed attempt and the paid one")
	assert.Equal(t, pg.StatusCanceled, ledger[1].Status)
	assert.True(t, pg.Won(7000).Equal(ledger[1].Canceled))

	for _, body := range []string{`{"op":"prepare","fault":"error500"}`, `{"op":"lookup","fault":"decline"}`, `{"orderId":1}`} {
		st, b = post("/_sandbox/faults", body)
		assert.Equal(t, http.StatusBadRequest, st, body)
		assert.Contains(t, string(b), `"success":false`)
	}
	for _, old := range []string{"/pay", "/deposit", "/v2/pg/inquiry/deposit"} {
		st, _ = post(old, `{"orderId":"order-ctl"}`)
		assert.Equal(t, http.StatusNotFound, st, "%s is no route", old)
	}
}
