package tosspaytest_test

import (
	"context"
	"encoding/base64"
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

	"github.com/paygate/paygate/pg"
	"github.com/paygate/paygate/pg/pgtest"
	"github.com/paygate/paygate/tosspay/tosspaytest"
)

// A script takes the next call of its op about its order: other orders'
// calls and other ops (a lookup between) leave it alone, and it is used up
// by one call. A script for any order takes the next call of its op.
func TestFailNext_ScriptsTheOrdersNextCallOfThatOp(t *testing.T) {
	t.Parallel()
	srv, gw := setup(t, tosspaytest.Config{})
	ctx := context.Background()
	keys := map[string]string{}
	for _, order := range []string{"order-fn-a", "order-fn-b"} {
		res, err := srv.Pay(ctx, pgtest.PayRequest{OrderID: order, Amount: pg.Won(10000)})
		require.NoError(t, err)
		p, err := gw.Approve(ctx, approveReq(order, res, pg.Won(10000)))
		require.NoError(t, err)
		keys[order] = p.PaymentKey
	}
	cancel := func(order, id string) error {
		_, err := gw.Cancel(ctx, pg.CancelRequest{CancelID: id, PaymentKey: keys[order], Amount: pg.Won(1000), Reason: "test"})
		return err
	}

	require.NoError(t, srv.FailNext(pgtest.OpCancel, "order-fn-a", pgtest.FaultDecline))
	_, err := gw.Lookup(ctx, pg.LookupRequest{OrderID: "order-fn-a"})
	require.NoError(t, err, "a lookup does not take a cancel's script")
	require.NoError(t, cancel("order-fn-b", "b1"), "another order's cancel does not take it")
	err = cancel("order-fn-a", "a1")
	var pe *pg.Error
	require.ErrorAs(t, err, &pe)
	assert.Equal(t, "NOT_CANCELABLE_PAYMENT", pe.Code)
	require.NoError(t, cancel("order-fn-a", "a2"), "the script was used up")

	require.NoError(t, srv.FailNext(pgtest.OpLookup, "", pgtest.FaultError500))
	st, b := raw(t, srv, "GET", "/v1/payments/orders/order-fn-b", srv.SecretKey(), "", "")
	assert.Equal(t, http.StatusInternalServerError, st, string(b))
	st, _ = raw(t, srv, "GET", "/v1/payments/"+keys["order-fn-b"], srv.SecretKey(), "", "")
	assert.Equal(t, http.StatusOK, st)

	require.NoError(t, srv.FailNext(pgtest.OpApprove, "", pgtest.FaultDecline))
	res, err := srv.Pay(ctx, pgtest.PayRequest{OrderID: "order-fn-c", Amount: pg.Won(5000)})
	require.NoError(t, err)
	_, err = gw.Approve(ctx, approveReq("order-fn-c", res, pg.Won(5000)))
	require.ErrorAs(t, err, &pe)
	assert.Equal(t, "REJECT_CARD_COMPANY", pe.Code)

	l := srv.Ledger()
	require.Len(t, l, 3)
	assert.Equal(t, 1, l[0].Cancels, "order a: refused once, then refunded once")
	assert.Equal(t, 1, l[1].Cancels)
	assert.Equal(t, 0, l[2].Approvals)
}

// A refusal scripted for one call is not Toss's answer to the request for
// good: the same request sent again under the same Idempotency-Key is
// processed (a lost answer, by contrast, is replayed: see
// TestApprove_LostAnswerOnce_RecoveredByResendWithSameKey).
func TestFailNext_ScriptedRefusalIsNotKeptUnderTheIdempotencyKey(t *testing.T) {
	t.Parallel()
	srv, gw := setup(t, tosspaytest.Config{})
	ctx := context.Background()
	res, err := srv.Pay(ctx, pgtest.PayRequest{OrderID: "order-idem-ref", Amount: pg.Won(10000)})
	require.NoError(t, err)
	body := `{"paymentKey":"` + res.PaymentKey + `","orderId":"order-idem-ref","amount":10000}`
	require.NoError(t, srv.FailNext(pgtest.OpApprove, "order-idem-ref", pgtest.FaultDecline))
	st, b := raw(t, srv, "POST", "/v1/payments/confirm", srv.SecretKey(), "confirm-1", body)
	assert.Equal(t, http.StatusForbidden, st)
	assert.Equal(t, "REJECT_CARD_COMPANY", code(t, b))
	st, b = raw(t, srv, "POST", "/v1/payments/confirm", srv.SecretKey(), "confirm-1", body)
	assert.Equal(t, http.StatusBadRequest, st, "processed again: the declined payment was ABORTED")
	assert.Equal(t, "ALREADY_PROCESSED_PAYMENT", code(t, b))

	res, err = srv.Pay(ctx, pgtest.PayRequest{OrderID: "order-idem-ref2", Amount: pg.Won(10000)})
	require.NoError(t, err)
	p, err := gw.Approve(ctx, approveReq("order-idem-ref2", res, pg.Won(10000)))
	require.NoError(t, err)
	require.NoError(t, srv.FailNext(pgtest.OpCancel, "order-idem-ref2", pgtest.FaultDecline))
	cancel := `{"cancelReason":"r","cancelAmount":1000}`
	st, b = raw(t, srv, "POST", "/v1/payments/"+p.PaymentKey+"/cancel", srv.SecretKey(), "cancel-1", cancel)
	assert.Equal(t, http.StatusForbidden, st)
	assert.Equal(t, "NOT_CANCELABLE_PAYMENT", code(t, b))
	st, b = raw(t, srv, "POST", "/v1/payments/"+p.PaymentKey+"/cancel", srv.SecretKey(), "cancel-1", cancel)
	assert.Equal(t, http.StatusOK, st, "the same cancel, sent again, goes through: %s", b)
	assert.Equal(t, 1, srv.Ledger()[1].Cancels)
}

func TestFailNext_RefusesWhatTossCannotPlay(t *testing.T) {
	t.Parallel()
	sb := tosspaytest.New(tosspaytest.Config{})
	defer sb.Close()
	assert.Error(t, sb.FailNext(pgtest.OpApprove, "", "meteor"))
	assert.Error(t, sb.FailNext("refund", "", pgtest.FaultDecline))
	for _, c := range []struct {
		op pgtest.Op
		f  pgtest.Fault
	}{{pgtest.OpPrepare, pgtest.FaultError500}, {pgtest.OpNetCancel, pgtest.FaultTimeout}, {pgtest.OpLookup, pgtest.FaultDecline}} {
		err := sb.FailNext(c.op, "order-x1", c.f)
		assert.True(t, errors.Is(err, pgtest.ErrUnsupported), "%s %s: %v", c.op, c.f, err)
	}
	_, err := sb.Pay(context.Background(), pgtest.PayRequest{OrderID: "order-ff-1", Amount: pg.Won(100), Fault: "meteor"})
	assert.Error(t, err)
	_, err = sb.Pay(context.Background(), pgtest.PayRequest{OrderID: "order-ff-1", Amount: pg.MustMoney("1", pg.EUR)})
	assert.ErrorIs(t, err, tosspaytest.ErrBadAmount)
}

// Without a HoldMax a lost answer's connection is cut at once: the client
// sees a reset, not its own timeout.
func TestHoldMax_ZeroCutsALostAnswerAtOnce(t *testing.T) {
	t.Parallel()
	srv := tosspaytest.NewServer(tosspaytest.Config{})
	t.Cleanup(srv.Close)
	ctx := context.Background()
	res, err := srv.Pay(ctx, pgtest.PayRequest{OrderID: "order-hold-0", Amount: pg.Won(8000), Fault: pgtest.FaultTimeout})
	require.NoError(t, err)
	req, err := http.NewRequest(http.MethodPost, srv.URL+"/v1/payments/confirm",
		strings.NewReader(`{"paymentKey":"`+res.PaymentKey+`","orderId":"order-hold-0","amount":8000}`))
	require.NoError(t, err)
	req.Header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(srv.SecretKey()+":")))
	req.Header.Set("Content-Type", "application/json")
	_, err = (&http.Client{Timeout: 10 * time.Second}).Do(req)
	var ue *url.Error
	require.ErrorAs(t, err, &ue)
	assert.False(t, ue.Timeout(), "cut, not held until the client gave up: %v", err)
	assert.Equal(t, 1, srv.Ledger()[0].Approvals, "the confirm took effect")
}

// The test controls live under /_sandbox/, next to the PG's own paths:
// scripting a fault, the ledger (as pgtest.LedgerEntry reads it), a
// deposit, and a 404 in the controls' own shape for anything else there.
func TestControlEndpoints_UnderTheSandboxPrefix(t *testing.T) {
	t.Parallel()
	srv, gw := setup(t, tosspaytest.Config{})
	ctx := context.Background()
	post := func(path, body string) (int, []byte) {
		resp, err := http.Post(srv.URL+path, "application/json", strings.NewReader(body))
		require.NoError(t, err)
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		return resp.StatusCode, b
	}

	st, b := post("/_sandbox/pay", `{"orderId":"order-ctl-1","amount":12000,"method":"VIRTUAL_ACCOUNT"}`)
	require.Equal(t, http.StatusOK, st, string(b))
	var paid struct {
		PaymentKey string            `json:"paymentKey"`
		Redirect   map[string]string `json:"redirect"`
	}
	require.NoError(t, json.Unmarshal(b, &paid))
	assert.Equal(t, paid.PaymentKey, paid.Redirect["paymentKey"])

	st, b = post("/_sandbox/faults", `{"op":"approve","fault":"error500","orderId":"order-ctl-1"}`)
	require.Equal(t, http.StatusNoContent, st, string(b))
	st, _ = raw(t, srv, "POST", "/v1/payments/confirm", srv.SecretKey(), "",
		`{"paymentKey":"`+paid.PaymentKey+`","orderId":"order-ctl-1","amount":12000}`)
	assert.Equal(t, http.StatusInternalServerError, st, "the scripted fault")
	_, err := gw.Approve(ctx, pg.ApproveRequest{PaymentID: "pay_ctl", OrderID: "order-ctl-1", Amount: pg.Won(12000), PaymentKey: paid.PaymentKey})
	require.NoError(t, err)

	st, b = post("/_sandbox/deposit", `{"orderId":"order-ctl-1"}`)
	require.Equal(t, http.StatusNoContent, st, string(b))
	st, b = post("/_sandbox/deposit", `{"orderId":"order-ctl-1"}`)
	assert.Equal(t, http.StatusConflict, st, "deposited already: %s", b)

	for _, body := range []string{`{"op":"prepare","fault":"error500"}`, `{"op":"approve","fault":"meteor"}`, `{"fault":"decline","tip":1}`, `[`} {
		st, b = post("/_sandbox/faults", body)
		assert.Equal(t, http.StatusBadRequest, st, body)
		assert.Contains(t, string(b), `"success":false`, body)
	}

	resp, err := http.Get(srv.URL + "/_sandbox/ledger")
	require.NoError(t, err)
	var ledger []pgtest.LedgerEntry
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&ledger))
	resp.Body.Close()
	want, err := json.Marshal(srv.Ledger())
	require.NoError(t, err)
	got, err := json.Marshal(ledger)
	require.NoError(t, err)
	assert.JSONEq(t, string(want), string(got), "the ledger reads back as it was served")
	require.Len(t, ledger, 1)
	assert.Equal(t, pg.StatusApproved, ledger[0].Status)

	resp, err = http.Get(srv.URL + "/_sandbox/nothing")
	require.NoError(t, err)
	b, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.Equal(t, http.StatusNotFound, resp.StatusCode)
	assert.Contains(t, string(b), `"NOT_FOUND"`)
	for _, old := range []string{"/sandbox/pay", "/sandbox/fail-next", "/sandbox/deposit"} {
		st, _ = post(old, `{"orderId":"order-ctl-2","amount":1000}`)
		assert.Equal(t, http.StatusNotFound, st, "%s is no route any more", old)
	}
}
