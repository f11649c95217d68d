package tosspay_test

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/paygate/paygate/pg"
	"github.com/paygate/paygate/pg/pgtest"
	"github.com/paygate/paygate/tosspay"
	"github.com/paygate/paygate/tosspay/tosspaytest"
)

// A host app confirms the payment the buyer made in Toss's window, refunds
// part of it, and reads the notification Toss sends about it. The sandbox
// stands in for api.tosspayments.com.
func Example() {
	ctx := context.Background()
	toss := tosspaytest.NewServer(tosspaytest.Options{})
	defer toss.Close()

	gw, err := tosspay.New(tosspay.Config{SecretKey: toss.SecretKey(), BaseURL: toss.URL})
	if err != nil {
		panic(err)
	}
	// The buyer pays; Toss redirects to successUrl?paymentKey=…&orderId=…&amount=….
	redirect, err := toss.Pay(ctx, pgtest.PayRequest{OrderID: "order-20260301-0001", Amount: pg.Won(15000)})
	if err != nil {
		panic(err)
	}
	p, err := gw.Approve(ctx, pg.ApproveRequest{
		PaymentID: "pay_01JNEXAMPLE", OrderID: "order-20260301-0001",
		Amount: pg.Won(15000), PaymentKey: redirect.PaymentKey,
	})
	if err != nil {
		panic(err)
	}
	fmt.Println(p.Status, p.Amount)

	p, err = gw.Cancel(ctx, pg.CancelRequest{
		CancelID: "cnl_01JNEXAMPLE", PaymentKey: p.PaymentKey,
		Amount: pg.Won(5000), Balance: p.Balance, Reason: "one item out of stock",
	})
	if err != nil {
		panic(err)
	}
	fmt.Println(p.Status, p.Balance)

	delivery, _, err := toss.Webhooks(ctx, "order-20260301-0001")
	if err != nil {
		panic(err)
	}
	secret := p.Secret // stored by the host from the confirm answer
	ev, err := gw.ParseWebhook(ctx, delivery.Request(func(context.Context, string, string) (string, bool) {
		return secret, true
	}))
	if err != nil {
		panic(err)
	}
	fmt.Println(ev.Type, ev.Status)
	// Output:
	// APPROVED 15000 KRW
	// PARTIAL_CANCELED 10000 KRW
	// PAYMENT_STATUS_CHANGED PARTIAL_CANCELED
}

// New takes a Config: the secret key is all it needs; the rest has
// defaults (the live API, 10 s per attempt, three attempts).
func ExampleNew() {
	gw, err := tosspay.New(tosspay.Config{
		SecretKey: "test_sk_zXLkKEypNArWmo50nX3lmeaxYG5R", // the docs' test key
		Timeout:   5 * time.Second,
	})
	if err != nil {
		panic(err)
	}
	caps := gw.Capabilities()
	fmt.Println(gw, "idempotency keys:", caps.IdempotencyKeys, "lookup by order:", caps.LookupByOrderID)

	_, err = tosspay.New(tosspay.Config{})
	fmt.Println(err)
	// Output:
	// tosspay.Gateway(https://api.tosspayments.com) idempotency keys: true lookup by order: true
	// tosspay: Config.SecretKey is required
}

// Toss has no server-side prepare: the browser opens the window with the
// client key. ValidatePrepare refuses, before anything is written, a
// checkout the window would refuse.
func ExampleGateway_ValidatePrepare() {
	gw, err := tosspay.New(tosspay.Config{SecretKey: "test_sk_zXLkKEypNArWmo50nX3lmeaxYG5R"})
	if err != nil {
		panic(err)
	}
	fmt.Println(gw.ValidatePrepare(pg.PrepareRequest{OrderID: "order-20260301-0003", OrderName: "티셔츠 외 2건", Amount: pg.Won(15000)}))
	err = gw.ValidatePrepare(pg.PrepareRequest{OrderID: "o-1", OrderName: "티셔츠", Amount: pg.Won(15000)})
	var pe *pg.Error
	if errors.As(err, &pe) {
		fmt.Println(errors.Is(err, pg.ErrInvalid), pe.Code)
	}
	// Output:
	// <nil>
	// true INVALID_ORDER_ID
}

// Approve confirms what the buyer authenticated in the window, with an
// Idempotency-Key derived from the PaymentID: a resend after a lost
// answer gets the first result.
func ExampleGateway_Approve() {
	ctx := context.Background()
	toss := tosspaytest.NewServer(tosspaytest.Options{})
	defer toss.Close()
	gw, err := tosspay.New(tosspay.Config{SecretKey: toss.SecretKey(), BaseURL: toss.URL})
	if err != nil {
		panic(err)
	}
	redirect, err := toss.Pay(ctx, pgtest.PayRequest{OrderID: "order-20260301-0004", Amount: pg.Won(15000)})
	if err != nil {
		panic(err)
	}
	req := pg.ApproveRequest{PaymentID: "pay_01JNEXAMPLE4", OrderID: "order-20260301-0004", Amount: pg.Won(15000), PaymentKey: redirect.PaymentKey}
	p, err := gw.Approve(ctx, req)
	if err != nil {
		panic(err)
	}
	fmt.Println(p.Status, p.PGStatus, p.Amount, p.Method)

	// Sent again (a retry after a timeout), Toss answers the first result.
	again, err := gw.Approve(ctx, req)
	if err != nil {
		panic(err)
	}
	fmt.Println(again.Status, "approvals at the PG:", toss.Ledger()[0].Approvals)
	// Output:
	// APPROVED DONE 15000 KRW CARD
	// APPROVED approvals at the PG: 1
}

// Cancel refunds part of a payment, guarded by the balance the host knows
// (refundableAmount): the same cancel resent with a stale balance is
// refused instead of refunded twice.
func ExampleGateway_Cancel() {
	ctx := context.Background()
	toss := tosspaytest.NewServer(tosspaytest.Options{})
	defer toss.Close()
	gw, err := tosspay.New(tosspay.Config{SecretKey: toss.SecretKey(), BaseURL: toss.URL})
	if err != nil {
		panic(err)
	}
	redirect, err := toss.Pay(ctx, pgtest.PayRequest{OrderID: "order-20260301-0005", Amount: pg.Won(10000)})
	if err != nil {
		panic(err)
	}
	p, err := gw.Approve(ctx, pg.ApproveRequest{PaymentID: "pay_01JNEXAMPLE5", OrderID: "order-20260301-0005", Amount: pg.Won(10000), PaymentKey: redirect.PaymentKey})
	if err != nil {
		panic(err)
	}
	p, err = gw.Cancel(ctx, pg.CancelRequest{CancelID: "cnl_1", PaymentKey: p.PaymentKey, Amount: pg.Won(3000), Balance: pg.Won(10000), Reason: "size exchange"})
	if err != nil {
		panic(err)
	}
	fmt.Println(p.Status, "balance", p.Balance)

	// A second cancel that still thinks the balance is 10000 is refused.
	_, err = gw.Cancel(ctx, pg.CancelRequest{CancelID: "cnl_2", PaymentKey: p.PaymentKey, Amount: pg.Won(3000), Balance: pg.Won(10000), Reason: "size exchange"})
	fmt.Println("stale balance refused, look it up:", errors.Is(err, pg.ErrAlreadyDone))
	// Output:
	// PARTIAL_CANCELED balance 7000 KRW
	// stale balance refused, look it up: true
}

// An approval whose outcome is unknown (a timeout after Toss got the
// request) is resolved by looking the order up.
func ExampleGateway_Lookup() {
	ctx := context.Background()
	toss := tosspaytest.NewServer(tosspaytest.Options{})
	defer toss.Close()
	gw, err := tosspay.New(tosspay.Config{SecretKey: toss.SecretKey(), BaseURL: toss.URL})
	if err != nil {
		panic(err)
	}
	if _, err := toss.Pay(ctx, pgtest.PayRequest{OrderID: "order-20260301-0002", Amount: pg.Won(9900)}); err != nil {
		panic(err)
	}
	p, err := gw.Lookup(ctx, pg.LookupRequest{OrderID: "order-20260301-0002"})
	if err != nil {
		panic(err)
	}
	// Authenticated by the buyer, never confirmed: nothing was captured.
	fmt.Println(p.Status, p.PGStatus)
	// Output: PENDING IN_PROGRESS
}

// Toss signs no webhook. A delivery is checked against the payment's
// secret the host stored from the confirm answer; without one, the
// adapter fetches the payment back and trusts only what Toss says.
func ExampleGateway_ParseWebhook() {
	ctx := context.Background()
	toss := tosspaytest.NewServer(tosspaytest.Options{})
	defer toss.Close()
	gw, err := tosspay.New(tosspay.Config{SecretKey: toss.SecretKey(), BaseURL: toss.URL})
	if err != nil {
		panic(err)
	}
	redirect, err := toss.Pay(ctx, pgtest.PayRequest{OrderID: "order-20260301-0006", Amount: pg.Won(20000)})
	if err != nil {
		panic(err)
	}
	p, err := gw.Approve(ctx, pg.ApproveRequest{PaymentID: "pay_01JNEXAMPLE6", OrderID: "order-20260301-0006", Amount: pg.Won(20000), PaymentKey: redirect.PaymentKey})
	if err != nil {
		panic(err)
	}
	delivery, _, err := toss.Webhooks(ctx, "order-20260301-0006")
	if err != nil {
		panic(err)
	}

	// Verified by the stored secret: no call to Toss.
	ev, err := gw.ParseWebhook(ctx, delivery.Request(func(context.Context, string, string) (string, bool) {
		return p.Secret, true
	}))
	if err != nil {
		panic(err)
	}
	fmt.Println(ev.Type, ev.Status, ev.Amount, "by lookup:", ev.ByLookup)

	// No secret known: verified by fetching the payment.
	ev, err = gw.ParseWebhook(ctx, delivery.Request(nil))
	if err != nil {
		panic(err)
	}
	fmt.Println(ev.Type, ev.Status, ev.Amount, "by lookup:", ev.ByLookup)
	// Output:
	// PAYMENT_STATUS_CHANGED APPROVED 20000 KRW by lookup: false
	// PAYMENT_STATUS_CHANGED APPROVED 20000 KRW by lookup: true
}

// The transaction report lists every approval and cancel of a period, for
// reconciliation against the settlement ledger.
func ExampleGateway_Transactions() {
	ctx := context.Background()
	toss := tosspaytest.NewServer(tosspaytest.Options{})
	defer toss.Close()
	gw, err := tosspay.New(tosspay.Config{SecretKey: toss.SecretKey(), BaseURL: toss.URL})
	if err != nil {
		panic(err)
	}
	from := time.Now().Add(-time.Hour)
	redirect, err := toss.Pay(ctx, pgtest.PayRequest{OrderID: "order-20260301-0007", Amount: pg.Won(12000)})
	if err != nil {
		panic(err)
	}
	p, err := gw.Approve(ctx, pg.ApproveRequest{PaymentID: "pay_01JNEXAMPLE7", OrderID: "order-20260301-0007", Amount: pg.Won(12000), PaymentKey: redirect.PaymentKey})
	if err != nil {
		panic(err)
	}
	if _, err := gw.Cancel(ctx, pg.CancelRequest{CancelID: "cnl_7", PaymentKey: p.PaymentKey, Amount: pg.Won(2000), Balance: p.Balance, Reason: "discount"}); err != nil {
		panic(err)
	}
	txs, err := gw.Transactions(ctx, pg.ReportQuery{From: from, To: time.Now().Add(time.Hour)})
	if err != nil {
		panic(err)
	}
	for _, tx := range txs {
		fmt.Println(tx.OrderID, tx.Status, tx.Amount, "cancel:", tx.Cancel)
	}
	// Output:
	// order-20260301-0007 APPROVED 12000 KRW cancel: false
	// order-20260301-0007 PARTIAL_CANCELED 2000 KRW cancel: true
}

// The settlement report lists what Toss pays out for the sales of a day,
// fee included, for reconciliation against the settlement ledger. Toss
// reports a day's sales from the next day on.
func ExampleGateway_Settlements() {
	ctx := context.Background()
	// The sandbox's clock, moved on a day below.
	day := time.Date(2026, 3, 2, 10, 0, 0, 0, time.FixedZone("KST", 9*60*60))
	var clock atomic.Pointer[time.Time]
	clock.Store(&day)
	toss := tosspaytest.NewServer(tosspaytest.Options{Now: func() time.Time { return *clock.Load() }})
	defer toss.Close()
	gw, err := tosspay.New(tosspay.Config{SecretKey: toss.SecretKey(), BaseURL: toss.URL})
	if err != nil {
		panic(err)
	}
	redirect, err := toss.Pay(ctx, pgtest.PayRequest{OrderID: "order-20260302-0008", Amount: pg.Won(10000)})
	if err != nil {
		panic(err)
	}
	if _, err := gw.Approve(ctx, pg.ApproveRequest{PaymentID: "pay_01JNEXAMPLE8", OrderID: "order-20260302-0008", Amount: pg.Won(10000), PaymentKey: redirect.PaymentKey}); err != nil {
		panic(err)
	}
	next := day.AddDate(0, 0, 1)
	clock.Store(&next)
	rows, err := gw.Settlements(ctx, pg.ReportQuery{From: day, To: day})
	if err != nil {
		panic(err)
	}
	for _, s := range rows {
		fmt.Println(s.SoldDate.Format(time.DateOnly), s.OrderID, s.Amount, "fee", s.Fee, "payout", s.Payout)
	}
	// Output:
	// 2026-03-02 order-20260302-0008 10000 KRW fee 320 KRW payout 9680 KRW
}
