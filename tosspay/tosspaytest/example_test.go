package tosspaytest_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/paygate/paygate/pg"
	"github.com/paygate/paygate/pg/pgtest"
	"github.com/paygate/paygate/tosspay"
	"github.com/paygate/paygate/tosspay/tosspaytest"
)

// A host app's test scripts Toss losing the answer of a confirm it applied,
// then checks the PG side: captured once, and known to Lookup.
func ExampleNewServer() {
	ctx := context.Background()
	srv := tosspaytest.NewServer(tosspaytest.Config{HoldMax: 5 * time.Second})
	defer srv.Close()
	gw, err := tosspay.New(srv.SecretKey(), tosspay.WithBaseURL(srv.URL),
		tosspay.WithTimeout(200*time.Millisecond), tosspay.WithRetry(2, 10*time.Millisecond, 20*time.Millisecond))
	if err != nil {
		panic(err)
	}
	res, err := srv.Pay(ctx, pgtest.PayRequest{OrderID: "order-lost-0001", Amount: pg.Won(30000), Fault: pgtest.FaultTimeout})
	if err != nil {
		panic(err)
	}
	_, err = gw.Approve(ctx, pg.ApproveRequest{PaymentID: "pay_1", OrderID: "order-lost-0001", Amount: pg.Won(30000), PaymentKey: res.PaymentKey})
	fmt.Println("approve:", errors.Is(err, pg.ErrUnknown))

	p, err := gw.Lookup(ctx, pg.LookupRequest{OrderID: "order-lost-0001"})
	if err != nil {
		panic(err)
	}
	l := srv.Ledger()[0]
	fmt.Println("lookup:", p.Status, "ledger:", l.Approvals, l.Approved)
	// Output:
	// approve: true
	// lookup: APPROVED ledger: 1 30000 KRW
}
