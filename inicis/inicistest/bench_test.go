package inicistest_test

import (
	"context"
	"fmt"
	"log/slog"
	"testing"

	"github.com/paygate/paygate/inicis"
	"github.com/paygate/paygate/inicis/inicistest"
	"github.com/paygate/paygate/pg"
	"github.com/paygate/paygate/pg/pgtest"
)

// BenchmarkApproveAndLookup measures one buyer authentication, approval and
// inquiry through the adapter against the sandbox over loopback HTTP.
func BenchmarkApproveAndLookup(b *testing.B) {
	srv := inicistest.NewServer(inicistest.Config{})
	defer srv.Close()
	cfg := srv.GatewayConfig()
	cfg.Logger = slog.New(slog.DiscardHandler)
	gw, err := inicis.New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		oid := fmt.Sprintf("bench-%d", i)
		auth, err := srv.Pay(ctx, pgtest.PayRequest{OrderID: oid, Amount: pg.Won(15000)})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := gw.Approve(ctx, pg.ApproveRequest{OrderID: oid, Amount: pg.Won(15000), Redirect: auth.Redirect}); err != nil {
			b.Fatal(err)
		}
		if _, err := gw.Lookup(ctx, pg.LookupRequest{OrderID: oid}); err != nil {
			b.Fatal(err)
		}
	}
}
