package pgtest_test

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/paygate/paygate/pg"
	"github.com/paygate/paygate/pg/pgtest"
)

// A call takes its order's scripts first, in the order they were queued,
// then those for any order; each script is used once.
func TestFaultQueue_OrderFirstThenAnyOrder_EachOnce(t *testing.T) {
	var q pgtest.FaultQueue
	f, ok := q.Next(pgtest.OpCancel, "a")
	assert.False(t, ok)
	assert.Equal(t, pgtest.FaultNone, f)

	q.Push(pgtest.OpCancel, "", pgtest.FaultError500)
	q.Push(pgtest.OpCancel, "a", pgtest.FaultTimeout)
	q.Push(pgtest.OpCancel, "a", pgtest.FaultDecline)
	q.Push(pgtest.OpLookup, "a", pgtest.FaultTimeoutUnapproved)

	next := func(op pgtest.Op, order string) pgtest.Fault {
		f, ok := q.Next(op, order)
		require.True(t, ok, "%s %s", op, order)
		return f
	}
	assert.Equal(t, pgtest.FaultTimeout, next(pgtest.OpCancel, "a"))
	assert.Equal(t, pgtest.FaultDecline, next(pgtest.OpCancel, "a"))
	assert.Equal(t, pgtest.FaultError500, next(pgtest.OpCancel, "b"), "a script for any order")
	_, ok = q.Next(pgtest.OpCancel, "a")
	assert.False(t, ok, "all used up")
	_, ok = q.Next(pgtest.OpLookup, "b")
	assert.False(t, ok, "another order's lookup script is not b's")

	q.Push(pgtest.OpApprove, "c", pgtest.FaultDecline)
	q.Clear(pgtest.OpApprove, "c")
	_, ok = q.Next(pgtest.OpApprove, "c")
	assert.False(t, ok, "cleared")
	assert.Equal(t, pgtest.FaultTimeoutUnapproved, next(pgtest.OpLookup, "a"))
}

func TestCheckScript_UnknownAndUnplayable(t *testing.T) {
	playable := []pgtest.Fault{pgtest.FaultNone, pgtest.FaultError500}
	assert.NoError(t, pgtest.CheckScript("x", pgtest.OpLookup, pgtest.FaultError500, playable))
	for _, err := range []error{
		pgtest.CheckScript("x", "refund", pgtest.FaultError500, playable),
		pgtest.CheckScript("x", pgtest.OpLookup, "meteor", playable),
	} {
		require.Error(t, err)
		assert.False(t, errors.Is(err, pgtest.ErrUnsupported), "unknown, not unsupported: %v", err)
	}
	for _, err := range []error{
		pgtest.CheckScript("x", pgtest.OpLookup, pgtest.FaultDecline, playable),
		pgtest.CheckScript("x", pgtest.OpNetCancel, pgtest.FaultError500, nil),
	} {
		assert.True(t, errors.Is(err, pgtest.ErrUnsupported), "%v", err)
	}
}

// The ledger's wire shape is fixed (a sandbox in another process serves it,
// a test reads it back) and reads back to the same entries.
func TestLedgerEntry_JSONShapeAndRoundTrip(t *testing.T) {
	entries := []pgtest.LedgerEntry{
		{OrderID: "o-1", PaymentKey: "k-1", Approved: pg.Won(15000), Canceled: pg.Won(3000), Approvals: 1, Cancels: 1, Status: pg.StatusPartialCanceled},
		{OrderID: "o-2", PaymentKey: "", Canceled: pg.Won(0), Status: pg.StatusFailed},
		{OrderID: "o-3", PaymentKey: "k-3", Approved: pg.MustMoney("12.5", pg.USD), Canceled: pg.MustMoney("0", pg.USD), Approvals: 1, Status: pg.StatusApproved},
	}
	b, err := json.Marshal(entries)
	require.NoError(t, err)
	assert.JSONEq(t, `[
		{"orderId":"o-1","paymentKey":"k-1","approved":15000,"canceled":3000,"currency":"KRW","approvals":1,"cancels":1,"status":"PARTIAL_CANCELED"},
		{"orderId":"o-2","paymentKey":"","approved":0,"canceled":0,"currency":"KRW","approvals":0,"cancels":0,"status":"FAILED"},
		{"orderId":"o-3","paymentKey":"k-3","approved":12.5,"canceled":0,"currency":"USD","approvals":1,"cancels":0,"status":"APPROVED"}
	]`, string(b))

	var back []pgtest.LedgerEntry
	require.NoError(t, json.Unmarshal(b, &back))
	require.Len(t, back, len(entries))
	for i, want := range entries {
		got := back[i]
		assert.Equal(t, want.OrderID, got.OrderID)
		assert.Equal(t, want.Status, got.Status)
		assert.Equal(t, want.Approvals, got.Approvals)
		assert.Equal(t, want.Cancels, got.Cancels)
		assert.Equal(t, want.Approved.IsSet(), got.Approved.IsSet(), "entry %d approved set", i)
		if want.Approved.IsSet() {
			assert.True(t, want.Approved.Equal(got.Approved), "entry %d approved %s, got %s", i, want.Approved, got.Approved)
		}
		assert.True(t, want.Canceled.Equal(got.Canceled), "entry %d canceled %s, got %s", i, want.Canceled, got.Canceled)
	}
	var bad pgtest.LedgerEntry
	assert.Error(t, json.Unmarshal([]byte(`{"approved":"lots","currency":"KRW","approvals":1}`), &bad))
	assert.Error(t, json.Unmarshal([]byte(`{"approved":1.5,"currency":"KRW","approvals":1}`), &bad), "no fractional won")
}

// A sandbox mounted under a prefix serves its paths with or without the
// prefix still on them; only a whole path segment is a prefix.
func TestMount_StripsThePrefixOnlyWhenThePathCarriesIt(t *testing.T) {
	var m pgtest.Mount
	assert.Equal(t, "", m.BaseURL())
	m.Set("http://127.0.0.1:8080/sandbox/tosspay/")
	assert.Equal(t, "http://127.0.0.1:8080/sandbox/tosspay", m.BaseURL())
	assert.Equal(t, "/sandbox/tosspay", m.Prefix())
	for path, want := range map[string]string{
		"/sandbox/tosspay/v1/payments/confirm": "/v1/payments/confirm",
		"/v1/payments/confirm":                 "/v1/payments/confirm",
		"/sandbox/tosspayx/v1":                 "/sandbox/tosspayx/v1",
		"/sandbox/tosspay":                     "",
	} {
		r := httptest.NewRequest(http.MethodGet, path, nil)
		assert.Equal(t, want, m.Strip(r).URL.Path, path)
		assert.Equal(t, path, r.URL.Path, "the request itself is left alone")
	}
	m.Set("http://127.0.0.1:9101")
	assert.Equal(t, "", m.Prefix())
}

func TestIsControlPath(t *testing.T) {
	for path, want := range map[string]bool{
		"/_sandbox/pay": true, "/_sandbox": true, "/_sandbox/": true,
		"/_sandboxes": false, "/v1/_sandbox/pay": false, "/pay": false,
	} {
		assert.Equal(t, want, pgtest.IsControlPath(path), path)
	}
	assert.True(t, strings.HasPrefix(pgtest.ControlPrefix, "/") && strings.HasSuffix(pgtest.ControlPrefix, "/"))
}

func TestCheckDevice_OnlyTheSandboxsWindows(t *testing.T) {
	assert.NoError(t, pgtest.CheckDevice("", pg.DevicePC))
	assert.NoError(t, pgtest.CheckDevice(pg.DeviceMobile, pg.DevicePC, pg.DeviceMobile))
	assert.ErrorIs(t, pgtest.CheckDevice(pg.DeviceApp, pg.DevicePC, pg.DeviceMobile), pgtest.ErrNoWindow)
	assert.ErrorIs(t, pgtest.CheckDevice("tablet", pg.DevicePC, pg.DeviceMobile, pg.DeviceApp), pgtest.ErrNoWindow)
}
