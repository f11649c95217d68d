package tosspay_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/paygate/paygate/pg"
	"github.com/paygate/paygate/pg/pgtest"
	"github.com/paygate/paygate/tosspay"
	"github.com/paygate/paygate/tosspay/tosspaytest"
)

// BenchmarkApprove measures one buyer payment and its confirm against the
// sandbox over loopback HTTP: the adapter's and pghttp's cost per approval.
func BenchmarkApprove(b *testing.B) {
	srv := tosspaytest.NewServer(tosspaytest.Options{})
	defer srv.Close()
	gw, err := tosspay.New(tosspay.Config{SecretKey: srv.SecretKey(), BaseURL: srv.URL})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		order := fmt.Sprintf("bench-order-%08d", i)
		res, err := srv.Pay(ctx, pgtest.PayRequest{OrderID: order, Amount: pg.Won(15000)})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := gw.Approve(ctx, pg.ApproveRequest{PaymentID: "pay_" + order, OrderID: order, Amount: pg.Won(15000), PaymentKey: res.PaymentKey}); err != nil {
			b.Fatal(err)
		}
	}
}
