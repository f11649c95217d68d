package kakaopay_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/paygate/paygate/kakaopay"
	"github.com/paygate/paygate/kakaopay/kakaopaytest"
	"github.com/paygate/paygate/pg"
	"github.com/paygate/paygate/pg/pgtest"
)

// These tests run the adapter against the sandbox over real HTTP.

type harness struct {
	t   *testing.T
	sb  *kakaopaytest.Server
	gw  *kakaopay.Gateway
	ctx context.Context
}

func newHarness(t *testing.T, legacy bool, opts kakaopaytest.Options) *harness {
	t.Helper()
	sb := kakaopaytest.NewServer(opts)
	t.Cleanup(sb.Close)
	key := kakaopaytest.DefaultSecretKey
	if legacy {
		key = kakaopaytest.DefaultAdminKey
	}
	gw, err := kakaopay.New(kakaopay.Config{
		CID: kakaopaytest.TestCID, SecretKey: key, Legacy: legacy, BaseURL: sb.URL,
		ApprovalURL: "https://shop.example/pay/kakao/ok",
		CancelURL:   "https://shop.example/pay/kakao/cancel",
		FailURL:     "https://shop.example/pay/kakao/fail",
		HTTPClient:  sb.Client(),
	})
	require.NoError(t, err)
	return &harness{t: t, sb: sb, gw: gw, ctx: context.Background()}
}

func (h *harness) prepare(orderID string, amount int64) *pg.Prepared {
	h.t.Helper()
	p, err := h.gw.Prepare(h.ctx, pg.PrepareRequest{OrderID: orderID, OrderName: "초코파이 외 1건", Amount: pg.Won(amount), CustomerID: "user-7"})
	require.NoError(h.t, err)
	return p
}

func (h *harness) pay(orderID string, amount int64, f pgtest.Fault) map[string]string {
	h.t.Helper()
	res, err := h.sb.Pay(h.ctx, pgtest.PayRequest{OrderID: orderID, Amount: pg.Won(amount), Fault: f})
	require.NoError(h.t, err)
	return res.Redirect
}

func (h *harness) approve(orderID string, amount int64, prep *pg.Prepared, redirect map[string]string) (*pg.Payment, error) {
	return h.gw.Approve(h.ctx, pg.ApproveRequest{
		PaymentID: "pay_" + orderID, OrderID: orderID, Amount: pg.Won(amount),
		Redirect: redirect, Prepared: prep.Data,
	})
}

func (h *harness) lookup(orderID string, prep *pg.Prepared) *pg.Payment {
	h.t.Helper()
	p, err := h.gw.Lookup(h.ctx, pg.LookupRequest{OrderID: orderID, Prepared: prep.Data})
	require.NoError(h.t, err)
	return p
}

func requireKind(t *testing.T, err error, kind pg.Kind) *pg.Error {
	t.Helper()
	require.Error(t, err)
	var pe *pg.Error
	require.True(t, errors.As(err, &pe), "not a *pg.Error: %v", err)
	require.Equal(t, kind, pe.Kind, "%v", err)
	require.True(t, errors.Is(err, kind))
	return pe
}

func TestFullFlow_BothAPIs(t *testing.T) {
	t.Parallel()
	for _, legacy := range []bool{false, true} {
		t.Run(fmt.Sprintf("legacy=%v", legacy), func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, legacy, kakaopaytest.Options{})
			prep := h.prepare("order-1", 15000)
			assert.Len(t, prep.Data[kakaopay.DataTID], 20)
			assert.Equal(t, kakaopaytest.TestCID, prep.Data[kakaopay.DataCID])
			assert.Equal(t, "order-1", prep.Data[kakaopay.DataPartnerOrderID])
			assert.Equal(t, "user-7", prep.Data[kakaopay.DataPartnerUserID])
			assert.Contains(t, prep.Client[kakaopay.ClientRedirectPC], h.sb.URL+"/v1/")
			assert.NotEmpty(t, prep.Client[kakaopay.ClientRedirectMobile])
			assert.NotEmpty(t, prep.Client[kakaopay.ClientRedirectApp])
			assert.NotContains(t, prep.Client, kakaopay.DataTID, "the client map is for the browser")

			before := h.lookup("order-1", prep)
			assert.Equal(t, pg.StatusPending, before.Status)
			assert.Equal(t, "READY", before.PGStatus)

			pay, err := h.approve("order-1", 15000, prep, h.pay("order-1", 15000, pgtest.FaultNone))
			require.NoError(t, err)
			assert.Equal(t, pg.StatusApproved, pay.Status)
			assert.Equal(t, prep.Data[kakaopay.DataTID], pay.PaymentKey)
			assert.Equal(t, "order-1", pay.OrderID)
			assert.True(t, pg.Won(15000).Equal(pay.Amount))
			assert.True(t, pg.Won(15000).Equal(pay.Balance))
			assert.Equal(t, pg.MethodCard, pay.Method)
			assert.False(t, pay.ApprovedAt.IsZero())
			assert.WithinDuration(t, time.Now(), pay.ApprovedAt, time.Minute, "Seoul time read as Seoul time")
			assert.NotEmpty(t, pay.Data[kakaopay.DataAID])

			got := h.lookup("order-1", prep)
			assert.Equal(t, pg.StatusApproved, got.Status)
			assert.Equal(t, "SUCCESS_PAYMENT", got.PGStatus)

			part, err := h.gw.Cancel(h.ctx, pg.CancelRequest{
				CancelID: "cxl_1", OrderID: "order-1", Amount: pg.Won(4000), Balance: pg.Won(15000),
				Reason: "size swap", Prepared: prep.Data,
			})
			require.NoError(t, err)
			assert.Equal(t, pg.StatusPartialCanceled, part.Status)
			assert.True(t, pg.Won(11000).Equal(part.Balance))
			require.Len(t, part.Cancels, 1)
			assert.True(t, pg.Won(4000).Equal(part.Cancels[0].Amount))

			full, err := h.gw.Cancel(h.ctx, pg.CancelRequest{CancelID: "cxl_2", OrderID: "order-1", Prepared: prep.Data})
			require.NoError(t, err, "a full cancel without a known balance looks it up")
			assert.Equal(t, pg.StatusCanceled, full.Status)
			assert.True(t, full.Balance.IsZero())

			after := h.lookup("order-1", prep)
			assert.Equal(t, pg.StatusCanceled, after.Status)
			require.Len(t, after.Cancels, 2)
			assert.Equal(t, "cxl_1", after.Cancels[0].Reason, "the cancel id comes back as payload")
			assert.True(t, pg.Won(11000).Equal(after.Cancels[1].Amount))

			_, err = h.gw.Cancel(h.ctx, pg.CancelRequest{CancelID: "cxl_3", OrderID: "order-1", Prepared: prep.Data})
			requireKind(t, err, pg.KindAlreadyDone)

			ledger := h.sb.Ledger()
			require.Len(t, ledger, 1)
			assert.Equal(t, 1, ledger[0].Approvals)
			assert.Equal(t, 2, ledger[0].Cancels)
			assert.True(t, pg.Won(15000).Equal(ledger[0].Canceled))
		})
	}
}

func TestApprove_Faults_ResolvedByLookup(t *testing.T) {
	t.Parallel()
	tests := []struct {
		fault      pgtest.Fault
		kind       pg.Kind
		afterwards pg.Status // Lookup after the failed approval
		approvals  int
	}{
		{pgtest.FaultDecline, pg.KindDeclined, pg.StatusFailed, 0},
		{pgtest.FaultTimeout, pg.KindUnknown, pg.StatusApproved, 1},
		{pgtest.FaultTimeoutUnapproved, pg.KindUnknown, pg.StatusPending, 0},
		{pgtest.FaultError500, pg.KindUnknown, pg.StatusPending, 0},
	}
	for _, tt := range tests {
		t.Run(string(tt.fault), func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, false, kakaopaytest.Options{})
			prep := h.prepare("order", 9900)
			redirect := h.pay("order", 9900, tt.fault)
			_, err := h.approve("order", 9900, prep, redirect)
			requireKind(t, err, tt.kind)

			got := h.lookup("order", prep)
			assert.Equal(t, tt.afterwards, got.Status)
			assert.Equal(t, tt.approvals, h.sb.Ledger()[0].Approvals, "never resent blindly")

			if tt.afterwards == pg.StatusApproved {
				// Approving again after the lost answer is refused, not applied.
				_, err = h.approve("order", 9900, prep, redirect)
				requireKind(t, err, pg.KindAlreadyDone)
				assert.Equal(t, 1, h.sb.Ledger()[0].Approvals)
			}
		})
	}
}

func TestApprove_Refusals(t *testing.T) {
	t.Parallel()
	h := newHarness(t, false, kakaopaytest.Options{})
	prep := h.prepare("order", 5000)
	redirect := h.pay("order", 5000, pgtest.FaultNone)

	_, err := h.approve("order", 4000, prep, redirect)
	pe := requireKind(t, err, pg.KindDeclined)
	assert.Equal(t, "-722", pe.Code, "KakaoPay refuses another amount than the one readied")

	_, err = h.approve("order", 5000, prep, map[string]string{"pg_token": "forged"})
	pe = requireKind(t, err, pg.KindInvalid)
	assert.Equal(t, "-708", pe.Code)
	assert.Equal(t, 400, pe.HTTPStatus)

	other := map[string]string{}
	for k, v := range prep.Data {
		other[k] = v
	}
	other[kakaopay.DataTID] = "T0000000000000000000"
	_, err = h.gw.Approve(h.ctx, pg.ApproveRequest{OrderID: "order", Amount: pg.Won(5000), Redirect: redirect, Prepared: other})
	pe = requireKind(t, err, pg.KindNotFound)
	assert.Equal(t, "-721", pe.Code)

	assert.Zero(t, h.sb.Ledger()[0].Approvals)
	_, err = h.approve("order", 5000, prep, redirect)
	require.NoError(t, err, "refusals changed nothing")
}

func TestApprove_ExpiredTID_Declined(t *testing.T) {
	t.Parallel()
	clk := &clock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	h := newHarness(t, false, kakaopaytest.Options{Now: clk.Now})
	prep := h.prepare("order", 5000)
	redirect := h.pay("order", 5000, pgtest.FaultNone)
	clk.Advance(kakaopaytest.DefaultTIDTTL + time.Second)

	_, err := h.approve("order", 5000, prep, redirect)
	pe := requireKind(t, err, pg.KindDeclined)
	assert.Equal(t, "-723", pe.Code)
	assert.Equal(t, pg.StatusFailed, h.lookup("order", prep).Status)
}

func TestCancel_RetryAfterUnknownOutcome_AppliedOnce(t *testing.T) {
	t.Parallel()
	h := newHarness(t, false, kakaopaytest.Options{})
	prep := h.prepare("order", 10000)
	_, err := h.approve("order", 10000, prep, h.pay("order", 10000, pgtest.FaultNone))
	require.NoError(t, err)

	require.NoError(t, h.sb.ScriptCancel("order", pgtest.FaultTimeout))
	req := pg.CancelRequest{CancelID: "cxl_9", OrderID: "order", Amount: pg.Won(2500), Balance: pg.Won(10000), Prepared: prep.Data}
	_, err = h.gw.Cancel(h.ctx, req)
	requireKind(t, err, pg.KindUnknown)

	// The same cancel sent again carries the same guard: refused, not applied.
	_, err = h.gw.Cancel(h.ctx, req)
	pe := requireKind(t, err, pg.KindAlreadyDone)
	assert.Equal(t, "-710", pe.Code)

	// Without a guard, asking for more than is left is plainly wrong.
	_, err = h.gw.Cancel(h.ctx, pg.CancelRequest{CancelID: "cxl_10", OrderID: "order", Amount: pg.Won(7501), Prepared: prep.Data})
	pe = requireKind(t, err, pg.KindInvalid)
	assert.Equal(t, "-710", pe.Code)

	got := h.lookup("order", prep)
	assert.Equal(t, pg.StatusPartialCanceled, got.Status)
	assert.True(t, pg.Won(7500).Equal(got.Balance))
	require.Len(t, got.Cancels, 1)
	assert.Equal(t, "cxl_9", got.Cancels[0].Reason, "the lookup shows which cancel was applied")
	assert.Equal(t, 1, h.sb.Ledger()[0].Cancels)
}

func TestCancel_Faults(t *testing.T) {
	t.Parallel()
	tests := []struct {
		fault pgtest.Fault
		kind  pg.Kind
	}{
		{pgtest.FaultTimeoutUnapproved, pg.KindUnknown},
		{pgtest.FaultError500, pg.KindUnknown},
		{pgtest.FaultDecline, pg.KindDeclined},
	}
	for _, tt := range tests {
		t.Run(string(tt.fault), func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, false, kakaopaytest.Options{})
			prep := h.prepare("order", 3000)
			_, err := h.approve("order", 3000, prep, h.pay("order", 3000, pgtest.FaultNone))
			require.NoError(t, err)
			require.NoError(t, h.sb.ScriptCancel("order", tt.fault))
			_, err = h.gw.Cancel(h.ctx, pg.CancelRequest{CancelID: "c", OrderID: "order", Amount: pg.Won(3000), Balance: pg.Won(3000), Prepared: prep.Data})
			requireKind(t, err, tt.kind)
			assert.Zero(t, h.sb.Ledger()[0].Cancels)
		})
	}
}

func TestBadInput_RefusedBeforeSending(t *testing.T) {
	t.Parallel()
	h := newHarness(t, false, kakaopaytest.Options{})
	prep := h.prepare("order", 3000)
	redirect := h.pay("order", 3000, pgtest.FaultNone)
	tests := []struct {
		name string
		call func() error
	}{
		{"prepare without order id", func() error {
			_, err := h.gw.Prepare(h.ctx, pg.PrepareRequest{Amount: pg.Won(1000)})
			return err
		}},
		{"prepare without amount", func() error {
			_, err := h.gw.Prepare(h.ctx, pg.PrepareRequest{OrderID: "x"})
			return err
		}},
		{"prepare in dollars", func() error {
			_, err := h.gw.Prepare(h.ctx, pg.PrepareRequest{OrderID: "x", Amount: pg.MustMoney("10.00", pg.USD)})
			return err
		}},
		{"prepare of zero won", func() error {
			_, err := h.gw.Prepare(h.ctx, pg.PrepareRequest{OrderID: "x", Amount: pg.Won(0)})
			return err
		}},
		{"prepare with tax free above the amount", func() error {
			_, err := h.gw.Prepare(h.ctx, pg.PrepareRequest{OrderID: "x", Amount: pg.Won(1000), TaxFree: pg.Won(1001)})
			return err
		}},
		{"prepare with a 101-character order id", func() error {
			_, err := h.gw.Prepare(h.ctx, pg.PrepareRequest{OrderID: fmt.Sprintf("%0101d", 7), Amount: pg.Won(1000)})
			return err
		}},
		{"prepare with a relative success URL", func() error {
			_, err := h.gw.Prepare(h.ctx, pg.PrepareRequest{OrderID: "x", Amount: pg.Won(1000), SuccessURL: "/ok"})
			return err
		}},
		{"prepare by virtual account", func() error {
			_, err := h.gw.Prepare(h.ctx, pg.PrepareRequest{OrderID: "x", Amount: pg.Won(1000), Method: pg.MethodVirtualAccount})
			return err
		}},
		{"approve without pg_token", func() error {
			_, err := h.approve("order", 3000, prep, nil)
			return err
		}},
		{"approve without prepared data", func() error {
			_, err := h.gw.Approve(h.ctx, pg.ApproveRequest{OrderID: "order", Amount: pg.Won(3000), Redirect: redirect})
			return err
		}},
		{"approve of another order's tid", func() error {
			_, err := h.approve("other-order", 3000, prep, redirect)
			return err
		}},
		{"approve with a payment key that is not the tid", func() error {
			_, err := h.gw.Approve(h.ctx, pg.ApproveRequest{OrderID: "order", PaymentKey: "T1", Amount: pg.Won(3000), Redirect: redirect, Prepared: prep.Data})
			return err
		}},
		{"approve without amount", func() error {
			_, err := h.gw.Approve(h.ctx, pg.ApproveRequest{OrderID: "order", Redirect: redirect, Prepared: prep.Data})
			return err
		}},
		{"cancel above the balance", func() error {
			_, err := h.gw.Cancel(h.ctx, pg.CancelRequest{OrderID: "order", Amount: pg.Won(3001), Balance: pg.Won(3000), Prepared: prep.Data})
			return err
		}},
		{"cancel of zero", func() error {
			_, err := h.gw.Cancel(h.ctx, pg.CancelRequest{OrderID: "order", Amount: pg.Won(0), Prepared: prep.Data})
			return err
		}},
		{"cancel in dollars", func() error {
			_, err := h.gw.Cancel(h.ctx, pg.CancelRequest{OrderID: "order", Amount: pg.MustMoney("1.00", pg.USD), Prepared: prep.Data})
			return err
		}},
		{"cancel with tax free above the amount", func() error {
			_, err := h.gw.Cancel(h.ctx, pg.CancelRequest{OrderID: "order", Amount: pg.Won(100), TaxFree: pg.Won(101), Prepared: prep.Data})
			return err
		}},
		{"lookup by order id alone", func() error {
			_, err := h.gw.Lookup(h.ctx, pg.LookupRequest{OrderID: "order"})
			return err
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			requireKind(t, tt.call(), pg.KindInvalid)
		})
	}
	ledger := h.sb.Ledger()
	require.Len(t, ledger, 1, "nothing was readied")
	assert.Zero(t, ledger[0].Approvals)
	assert.Zero(t, ledger[0].Cancels)
	assert.Equal(t, pg.StatusPending, h.lookup("order", prep).Status, "the buyer's authentication is intact")
}

func TestLookup_UnknownTID_NotFound(t *testing.T) {
	t.Parallel()
	h := newHarness(t, false, kakaopaytest.Options{})
	_, err := h.gw.Lookup(h.ctx, pg.LookupRequest{PaymentKey: "T0000000000000000000"})
	pe := requireKind(t, err, pg.KindNotFound)
	assert.Equal(t, "-721", pe.Code)
}

func TestWrongKey_Invalid(t *testing.T) {
	t.Parallel()
	sb := kakaopaytest.NewServer(kakaopaytest.Options{})
	defer sb.Close()
	gw, err := kakaopay.New(kakaopay.Config{CID: kakaopaytest.TestCID, SecretKey: "DEVWRONG", BaseURL: sb.URL,
		ApprovalURL: "https://s.example/ok", CancelURL: "https://s.example/c", FailURL: "https://s.example/f"})
	require.NoError(t, err)
	_, err = gw.Prepare(context.Background(), pg.PrepareRequest{OrderID: "o", Amount: pg.Won(1000)})
	pe := requireKind(t, err, pg.KindInvalid)
	assert.Equal(t, 401, pe.HTTPStatus)
	assert.NotContains(t, err.Error(), "DEVWRONG")
}

// clock is a test clock that moves only when told.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// Approving order B with the tid of order A (already approved) is refused
// as KakaoPay refuses it, before the tid's status is looked at: never -702
// "already approved", which would read as B's approval.
func TestApprove_TIDOfAnotherOrder_RefusedNotAlreadyApproved(t *testing.T) {
	t.Parallel()
	for _, legacy := range []bool{false, true} {
		h := newHarness(t, legacy, kakaopaytest.Options{})
		prepA := h.prepare("order-a", 3000)
		redirectA := h.pay("order-a", 3000, pgtest.FaultNone)
		paid, err := h.approve("order-a", 3000, prepA, redirectA)
		require.NoError(t, err)
		assert.Equal(t, "order-a", paid.OrderID)

		// Order B's stored data names A's tid (a mix-up in the host's
		// records): the adapter sends it, KakaoPay refuses it.
		forB := map[string]string{
			kakaopay.DataTID: prepA.Data[kakaopay.DataTID], kakaopay.DataCID: kakaopaytest.TestCID,
			kakaopay.DataPartnerOrderID: "order-b", kakaopay.DataPartnerUserID: "user-7",
		}
		_, err = h.gw.Approve(h.ctx, pg.ApproveRequest{PaymentID: "pay_b", OrderID: "order-b", Amount: pg.Won(3000), Redirect: redirectA, Prepared: forB})
		pe := requireKind(t, err, pg.KindInvalid)
		assert.Equal(t, "-706", pe.Code, "legacy %v", legacy)

		forB[kakaopay.DataPartnerOrderID], forB[kakaopay.DataPartnerUserID] = "order-a", "someone-else"
		_, err = h.gw.Approve(h.ctx, pg.ApproveRequest{PaymentID: "pay_b", OrderID: "order-a", Amount: pg.Won(3000), Redirect: redirectA, Prepared: forB})
		pe = requireKind(t, err, pg.KindInvalid)
		assert.Equal(t, "-707", pe.Code)

		_, err = h.gw.Lookup(h.ctx, pg.LookupRequest{OrderID: "order-b", Prepared: map[string]string{kakaopay.DataTID: prepA.Data[kakaopay.DataTID]}})
		pe = requireKind(t, err, pg.KindInvalid)
		assert.Equal(t, "ORDER_MISMATCH", pe.Code, "a lookup for B by A's tid is not B's payment")

		ledger := h.sb.Ledger()
		require.Len(t, ledger, 1)
		assert.Equal(t, 1, ledger[0].Approvals, "approved once, for A")
	}
}

// Live order lookups can list actions without amount; the sandbox answers
// that way with OmitActionAmounts, and the adapter's lookups still work.
func TestLookup_ActionsWithoutAmount_AgainstTheSandbox(t *testing.T) {
	t.Parallel()
	for _, legacy := range []bool{false, true} {
		h := newHarness(t, legacy, kakaopaytest.Options{OmitActionAmounts: true})
		prep := h.prepare("order-noamt", 5000)
		p, err := h.approve("order-noamt", 5000, prep, h.pay("order-noamt", 5000, pgtest.FaultNone))
		require.NoError(t, err)
		assert.Equal(t, pg.StatusApproved, h.lookup("order-noamt", prep).Status)

		_, err = h.gw.Cancel(h.ctx, pg.CancelRequest{CancelID: "cxl_1", PaymentKey: p.PaymentKey, OrderID: "order-noamt", Amount: pg.Won(1200), Balance: pg.Won(5000), Prepared: prep.Data})
		require.NoError(t, err)
		got := h.lookup("order-noamt", prep)
		assert.Equal(t, pg.StatusPartialCanceled, got.Status)
		assert.True(t, pg.Won(3800).Equal(got.Balance), "%s", got.Balance)
		require.Len(t, got.Cancels, 1)
		assert.True(t, pg.Won(1200).Equal(got.Cancels[0].Amount), "the one cancel's amount is the canceled total")
		assert.Equal(t, "cxl_1", got.Cancels[0].Reason)

		_, err = h.gw.Cancel(h.ctx, pg.CancelRequest{CancelID: "cxl_2", PaymentKey: p.PaymentKey, OrderID: "order-noamt", Amount: pg.Won(800), Balance: pg.Won(3800), Prepared: prep.Data})
		require.NoError(t, err)
		got = h.lookup("order-noamt", prep)
		assert.True(t, pg.Won(3000).Equal(got.Balance))
		assert.Empty(t, got.Cancels, "two cancels without amounts cannot be told apart: left out, the balance still right")
	}
}
