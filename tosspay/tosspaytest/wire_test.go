package tosspaytest_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/paygate/paygate/pg"
	"github.com/paygate/paygate/pg/pgtest"
	"github.com/paygate/paygate/tosspay"
	"github.com/paygate/paygate/tosspay/tosspaytest"
)

// Confirming order B with the paymentKey of order A is refused, whatever
// A's status, and never as ALREADY_PROCESSED_PAYMENT or with A's Payment:
// either would read as B's approval.
func TestConfirm_KeyOfAnotherOrder_RefusedWhateverItsStatus(t *testing.T) {
	t.Parallel()
	srv, gw := setup(t, tosspaytest.Config{})
	ctx := context.Background()
	paidA, err := srv.Pay(ctx, pgtest.PayRequest{OrderID: "order-key-a", Amount: pg.Won(10000)})
	require.NoError(t, err)
	_, err = gw.Approve(ctx, approveReq("order-key-a", paidA, pg.Won(10000)))
	require.NoError(t, err)
	paidB, err := srv.Pay(ctx, pgtest.PayRequest{OrderID: "order-key-b", Amount: pg.Won(10000)})
	require.NoError(t, err)
	paidC, err := srv.Pay(ctx, pgtest.PayRequest{OrderID: "order-key-c", Amount: pg.Won(10000)})
	require.NoError(t, err)

	for name, key := range map[string]string{"A is DONE": paidA.PaymentKey, "C is IN_PROGRESS": paidC.PaymentKey} {
		st, body := raw(t, srv, "POST", "/v1/payments/confirm", srv.SecretKey(), "",
			`{"paymentKey":"`+key+`","orderId":"order-key-b","amount":10000}`)
		assert.Equal(t, http.StatusBadRequest, st, name)
		assert.Equal(t, "INVALID_REQUEST", code(t, body), name)

		_, err := gw.Approve(ctx, pg.ApproveRequest{PaymentID: "pay_b_" + key[:8], OrderID: "order-key-b", Amount: pg.Won(10000), PaymentKey: key})
		assert.Equal(t, pg.KindInvalid, pg.KindOf(err), "%s: a definite refusal, nothing to look up: %v", name, err)
	}
	byOrder := map[string]pgtest.LedgerEntry{}
	for _, e := range srv.Ledger() {
		byOrder[e.OrderID] = e
	}
	assert.Equal(t, 1, byOrder["order-key-a"].Approvals)
	assert.Equal(t, 0, byOrder["order-key-b"].Approvals)
	assert.Equal(t, 0, byOrder["order-key-c"].Approvals, "C's session was not spent by B's attempt")

	// Each order's own key still confirms it.
	for _, o := range []struct {
		id  string
		res pgtest.PayResult
	}{{"order-key-b", paidB}, {"order-key-c", paidC}} {
		p, err := gw.Approve(ctx, approveReq(o.id, o.res, pg.Won(10000)))
		require.NoError(t, err)
		assert.Equal(t, o.id, p.OrderID, "the order comes from Toss's answer")
	}

	// A lookup by A's key for B is refused the same way by the adapter.
	_, err = gw.Lookup(ctx, pg.LookupRequest{PaymentKey: paidA.PaymentKey, OrderID: "order-key-b"})
	var pe *pg.Error
	require.ErrorAs(t, err, &pe)
	assert.Equal(t, "ORDER_MISMATCH", pe.Code)
}

// POST /v1/virtual-accounts issues accounts outside the checkout; live Toss
// took the orderId 71, as a JSON number.
func TestIssueVirtualAccount_ShortOrderID_LookupDepositAndCallback(t *testing.T) {
	t.Parallel()
	srv, gw := setup(t, tosspaytest.Config{})
	ctx := context.Background()

	st, body := raw(t, srv, "POST", "/v1/virtual-accounts", srv.SecretKey(), "issue-71",
		`{"amount":30000,"orderId":71,"orderName":"기부금 입금","customerName":"김토스","bank":"11","validHours":1}`)
	require.Equal(t, http.StatusOK, st, string(body))
	var issued struct {
		PaymentKey, OrderID, Status, Version string
		VirtualAccount                       struct{ BankCode, CustomerName, DueDate string }
	}
	require.NoError(t, json.Unmarshal(body, &issued))
	assert.Equal(t, "71", issued.OrderID)
	assert.Equal(t, "WAITING_FOR_DEPOSIT", issued.Status)
	assert.Equal(t, "11", issued.VirtualAccount.BankCode)
	assert.Equal(t, "김토스", issued.VirtualAccount.CustomerName)

	p, err := gw.Lookup(ctx, pg.LookupRequest{OrderID: "71"})
	require.NoError(t, err)
	assert.Equal(t, issued.PaymentKey, p.PaymentKey)
	assert.Equal(t, "71", p.OrderID)
	assert.Equal(t, pg.StatusWaitingForDeposit, p.Status)
	require.NotNil(t, p.VirtualAccount)
	assert.Equal(t, "11", p.VirtualAccount.Bank)

	require.NoError(t, srv.Deposit(ctx, "71"))
	cb, err := srv.DepositCallback("71")
	require.NoError(t, err)
	// The host knows no secret for an order it did not make: the adapter
	// verifies by fetching order 71.
	ev, err := gw.ParseWebhook(ctx, cb.Request(nil))
	require.NoError(t, err)
	assert.Equal(t, pg.WebhookDeposit, ev.Type)
	assert.Equal(t, "71", ev.OrderID)
	assert.Equal(t, issued.PaymentKey, ev.PaymentKey)
	assert.Equal(t, pg.StatusApproved, ev.Status)
	first, _, err := srv.Webhooks(ctx, "71")
	require.NoError(t, err)
	ev2, err := gw.ParseWebhook(ctx, first.Request(nil))
	require.NoError(t, err)
	assert.Equal(t, pg.StatusApproved, ev2.Status)
	assert.Equal(t, 1, srv.Ledger()[0].Approvals)

	for name, tt := range map[string]struct {
		body, code string
	}{
		"same order again":    {`{"amount":1000,"orderId":"71","orderName":"x","customerName":"y","bank":"11"}`, "DUPLICATED_ORDER_ID"},
		"Hangul order id":     {`{"amount":1000,"orderId":"주문","orderName":"x","customerName":"y","bank":"11"}`, "INVALID_ORDER_ID"},
		"65-character id":     {`{"amount":1000,"orderId":"` + strings.Repeat("7", 65) + `","orderName":"x","customerName":"y","bank":"11"}`, "INVALID_ORDER_ID"},
		"fractional order id": {`{"amount":1000,"orderId":7.5,"orderName":"x","customerName":"y","bank":"11"}`, "INVALID_REQUEST"},
		"no bank":             {`{"amount":1000,"orderId":"72","orderName":"x","customerName":"y"}`, "INVALID_REQUEST"},
	} {
		st, b := raw(t, srv, "POST", "/v1/virtual-accounts", srv.SecretKey(), "", tt.body)
		assert.Equal(t, http.StatusBadRequest, st, name)
		assert.Equal(t, tt.code, code(t, b), name)
	}
	_, err = srv.Pay(ctx, pgtest.PayRequest{OrderID: "72", Amount: pg.Won(1000)})
	assert.ErrorIs(t, err, tosspaytest.ErrBadOrder, "the payment window keeps the 6-character rule")
}

// A sandbox pinned to version 1.4 writes what such merchants get: names,
// transactionKey, easyPay as a string. The adapter reads it all.
func TestAPIVersion14_OldShapes_ReadByTheAdapter(t *testing.T) {
	t.Parallel()
	srv, gw := setup(t, tosspaytest.Config{APIVersion: tosspaytest.APIVersion14})
	ctx := context.Background()

	paid, err := srv.Pay(ctx, pgtest.PayRequest{OrderID: "order-v14-card", Amount: pg.Won(5000)})
	require.NoError(t, err)
	p, err := gw.Approve(ctx, approveReq("order-v14-card", paid, pg.Won(5000)))
	require.NoError(t, err)
	assert.Equal(t, pg.StatusApproved, p.Status)
	assert.Equal(t, "현대", p.Data[tosspay.DataCardCompany])
	assert.NotContains(t, p.Data, tosspay.DataCardIssuerCode)
	assert.NotEmpty(t, p.Data[tosspay.DataLastTransactionKey], "read from transactionKey")

	st, body := raw(t, srv, "GET", "/v1/payments/"+paid.PaymentKey, srv.SecretKey(), "", "")
	require.Equal(t, http.StatusOK, st)
	var shape map[string]json.RawMessage
	require.NoError(t, json.Unmarshal(body, &shape))
	assert.JSONEq(t, `"1.4"`, string(shape["version"]))
	assert.Contains(t, shape, "transactionKey")
	assert.NotContains(t, shape, "lastTransactionKey")
	assert.Contains(t, string(shape["card"]), `"company":"현대"`)
	assert.NotContains(t, string(shape["card"]), "issuerCode")

	vaPaid, err := srv.PayVirtualAccount(ctx, pgtest.PayRequest{OrderID: "order-v14-va", Amount: pg.Won(7000)})
	require.NoError(t, err)
	va, err := gw.Approve(ctx, approveReq("order-v14-va", vaPaid, pg.Won(7000)))
	require.NoError(t, err)
	require.NotNil(t, va.VirtualAccount)
	assert.Equal(t, "우리", va.VirtualAccount.Bank, "the name, as version 1.4 sends it")
	assert.Equal(t, "우리", va.Data[tosspay.DataBankName])

	// The webhook carries the same old shape and is verified by its secret.
	first, _, err := srv.Webhooks(ctx, "order-v14-card")
	require.NoError(t, err)
	assert.Contains(t, string(first.Body), `"company":"현대"`)
	ev, err := gw.ParseWebhook(ctx, first.Request(func(context.Context, string, string) (string, bool) { return p.Secret, true }))
	require.NoError(t, err)
	require.NotNil(t, ev.Payment)
	assert.Equal(t, "현대", ev.Payment.Data[tosspay.DataCardCompany])
}

// Settlement answers carry the total in fee; with OmitSettlementFees they
// have no fees[], as some live answers, and the fee is still right.
func TestSettlements_TopLevelFee_WithAndWithoutFeesArray(t *testing.T) {
	t.Parallel()
	for _, omit := range []bool{false, true} {
		clk := newClock()
		srv, gw := setup(t, tosspaytest.Config{Now: clk.Now, OmitSettlementFees: omit})
		ctx := context.Background()
		res, err := srv.Pay(ctx, pgtest.PayRequest{OrderID: "order-fee-1", Amount: pg.Won(10000)})
		require.NoError(t, err)
		_, err = gw.Approve(ctx, approveReq("order-fee-1", res, pg.Won(10000)))
		require.NoError(t, err)
		clk.Advance(24 * time.Hour)

		st, body := raw(t, srv, "GET", "/v1/settlements?startDate=2026-03-02&endDate=2026-03-02", srv.SecretKey(), "", "")
		require.Equal(t, http.StatusOK, st)
		var rows []map[string]json.RawMessage
		require.NoError(t, json.Unmarshal(body, &rows))
		require.Len(t, rows, 1)
		assert.JSONEq(t, `320`, string(rows[0]["fee"]))
		_, hasFees := rows[0]["fees"]
		assert.Equal(t, !omit, hasFees, "omit %v", omit)

		day := time.Date(2026, 3, 2, 0, 0, 0, 0, time.FixedZone("KST", 9*3600))
		got, err := gw.Settlements(ctx, pg.ReportQuery{From: day, To: day.Add(24*time.Hour - time.Second)})
		require.NoError(t, err)
		require.Len(t, got, 1)
		assert.True(t, pg.Won(320).Equal(got[0].Fee), "omit %v: fee %s", omit, got[0].Fee)
		assert.True(t, pg.Won(9680).Equal(got[0].Payout))
	}
}
