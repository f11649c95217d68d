package tosspay_test

import (
	"context"
	"fmt"

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

	gw, err := tosspay.New(toss.SecretKey(), tosspay.WithBaseURL(toss.URL))
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

// An approval whose outcome is unknown (a timeout after Toss got the
// request) is resolved by looking the order up.
func ExampleGateway_Lookup() {
	ctx := context.Background()
	toss := tosspaytest.NewServer(tosspaytest.Options{})
	defer toss.Close()
	gw, err := tosspay.New(toss.SecretKey(), tosspay.WithBaseURL(toss.URL))
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
