package kakaopay_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/paygate/paygate/kakaopay"
	"github.com/paygate/paygate/kakaopay/kakaopaytest"
	"github.com/paygate/paygate/pg"
	"github.com/paygate/paygate/pg/pgtest"
)

// BenchmarkPayment_AgainstSandbox runs ready, the buyer's payment and
// approve over local HTTP: the adapter's and sandbox's cost per payment.
func BenchmarkPayment_AgainstSandbox(b *testing.B) {
	sb := kakaopaytest.NewServer(kakaopaytest.Options{})
	defer sb.Close()
	gw, err := kakaopay.New(kakaopay.Config{
		CID: kakaopaytest.TestCID, SecretKey: kakaopaytest.DefaultSecretKey, BaseURL: sb.URL,
		ApprovalURL: "https://s.example/ok", CancelURL: "https://s.example/c", FailURL: "https://s.example/f",
	})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		order := fmt.Sprintf("order-%d", i)
		prep, err := gw.Prepare(ctx, pg.PrepareRequest{OrderID: order, Amount: pg.Won(15000)})
		if err != nil {
			b.Fatal(err)
		}
		paid, err := sb.Pay(ctx, pgtest.PayRequest{OrderID: order})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := gw.Approve(ctx, pg.ApproveRequest{OrderID: order, Amount: pg.Won(15000), Redirect: paid.Redirect, Prepared: prep.Data}); err != nil {
			b.Fatal(err)
		}
	}
}
