package kakaopaytest_test

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/paygate/paygate/kakaopay/kakaopaytest"
	"github.com/paygate/paygate/pg"
	"github.com/paygate/paygate/pg/pgtest"
)

// FailNext scripts ready, approve and order of one order: other orders'
// calls pass, each script is used once, and an approval's script goes
// before the fault the buyer's Pay gave the payment, which waits its turn.
func TestFailNext_ReadyApproveAndLookupOfTheOrder(t *testing.T) {
	t.Parallel()
	srv := kakaopaytest.NewServer(kakaopaytest.Config{})
	defer srv.Close()
	c := newClient(t, srv.URL, false)

	require.NoError(t, srv.FailNext(pgtest.OpPrepare, "order-a", pgtest.FaultError500))
	tidB := c.ready("order-b", 3000)
	status, body := c.call("ready", readyParams("order-a", 2000))
	assert.Equal(t, http.StatusInternalServerError, status)
	assert.Equal(t, "-1", errorCode(body))
	tidA := c.ready("order-a", 2000)

	require.NoError(t, srv.FailNext(pgtest.OpPrepare, "order-c", pgtest.FaultTimeout))
	_, _, err := c.try("ready", readyParams("order-c", 1000))
	require.Error(t, err, "the answer is lost")
	l := srv.Ledger()
	require.Len(t, l, 3, "order-c was readied all the same")
	assert.Equal(t, "order-c", l[2].OrderID)

	require.NoError(t, srv.FailNext(pgtest.OpLookup, "order-b", pgtest.FaultTimeoutUnapproved))
	status, _ = c.call("order", map[string]any{"cid": kakaopaytest.TestCID, "tid": tidA})
	assert.Equal(t, http.StatusOK, status, "another order's lookup")
	_, _, err = c.try("order", map[string]any{"cid": kakaopaytest.TestCID, "tid": tidB})
	require.Error(t, err, "order-b's lookup is lost")
	status, _ = c.call("order", map[string]any{"cid": kakaopaytest.TestCID, "tid": tidB})
	assert.Equal(t, http.StatusOK, status, "once")

	tok := pay(t, srv, "order-b", 3000, pgtest.FaultDecline)
	require.NoError(t, srv.FailNext(pgtest.OpApprove, "order-b", pgtest.FaultError500))
	status, body = c.call("approve", c.approveParams(tidB, "order-b", tok))
	assert.Equal(t, http.StatusInternalServerError, status, "the script first: %v", body)
	status, body = c.call("approve", c.approveParams(tidB, "order-b", tok))
	assert.Equal(t, http.StatusBadRequest, status)
	assert.Equal(t, "-780", errorCode(body), "then the payment's own decline")
	assert.Equal(t, 0, srv.Ledger()[0].Approvals+srv.Ledger()[1].Approvals)
}

func TestFailNext_RefusesWhatKakaoPayCannotPlay(t *testing.T) {
	t.Parallel()
	sb := kakaopaytest.New(kakaopaytest.Config{})
	defer sb.Close()
	assert.Error(t, sb.FailNext("ready", "", pgtest.FaultError500), "ops are pgtest's names")
	for _, c := range []struct {
		op pgtest.Op
		f  pgtest.Fault
	}{{pgtest.OpNetCancel, pgtest.FaultError500}, {pgtest.OpPrepare, pgtest.FaultDecline}, {pgtest.OpLookup, pgtest.FaultDecline}} {
		err := sb.FailNext(c.op, "o", c.f)
		assert.True(t, errors.Is(err, pgtest.ErrUnsupported), "%s %s: %v", c.op, c.f, err)
	}
}

// With a HoldMax a lost answer is held until the client gives up: the
// client sees its own timeout, the approval took effect.
func TestHoldMax_HoldsALostAnswerUntilTheClientGivesUp(t *testing.T) {
	t.Parallel()
	srv := kakaopaytest.NewServer(kakaopaytest.Config{HoldMax: time.Minute})
	defer srv.Close()
	c := newClient(t, srv.URL, false)
	tid := c.ready("order-hold", 5000)
	tok := pay(t, srv, "order-hold", 5000, pgtest.FaultTimeout)
	c.hc = &http.Client{Timeout: 300 * time.Millisecond}
	_, _, err := c.try("approve", c.approveParams(tid, "order-hold", tok))
	var ue *url.Error
	require.ErrorAs(t, err, &ue)
	assert.True(t, ue.Timeout(), "held, not cut at once: %v", err)
	assert.Equal(t, 1, srv.Ledger()[0].Approvals)
}

// The test controls live under /_sandbox/; the old buyer path is gone.
func TestControlEndpoints_UnderTheSandboxPrefix(t *testing.T) {
	t.Parallel()
	srv := kakaopaytest.NewServer(kakaopaytest.Config{})
	defer srv.Close()
	c := newClient(t, srv.URL, true)
	tid := c.ready("order-ctl", 6000)
	post := func(path, body string) (int, []byte) {
		resp, err := http.Post(srv.URL+path, "application/json", strings.NewReader(body))
		require.NoError(t, err)
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		return resp.StatusCode, b
	}

	st, b := post("/_sandbox/pay", `{"orderId":"order-ctl","amount":6000}`)
	require.Equal(t, http.StatusOK, st, string(b))
	var paid struct {
		Redirect map[string]string `json:"redirect"`
	}
	require.NoError(t, json.Unmarshal(b, &paid))
	st, b = post("/_sandbox/faults", `{"op":"approve","fault":"decline","orderId":"order-ctl"}`)
	require.Equal(t, http.StatusNoContent, st, string(b))
	status, body := c.call("approve", c.approveParams(tid, "order-ctl", paid.Redirect["pg_token"]))
	assert.Equal(t, http.StatusBadRequest, status)
	assert.Equal(t, "-780", errorCode(body))

	st, b = post("/_sandbox/faults", `{"op":"netCancel","fault":"error500"}`)
	assert.Equal(t, http.StatusBadRequest, st)
	assert.Contains(t, string(b), `"UNSUPPORTED"`)

	resp, err := http.Get(srv.URL + "/_sandbox/ledger")
	require.NoError(t, err)
	var ledger []pgtest.LedgerEntry
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&ledger))
	resp.Body.Close()
	require.Len(t, ledger, 1)
	assert.Equal(t, tid, ledger[0].PaymentKey)
	assert.Equal(t, pg.StatusFailed, ledger[0].Status)
	assert.True(t, pg.Won(0).Equal(ledger[0].Canceled))

	st, _ = post("/pay", `{"orderId":"order-ctl"}`)
	assert.Equal(t, http.StatusNotFound, st, "the buyer is played under /_sandbox/ only")
}
