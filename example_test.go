package paygate_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/shopspring/decimal"

	"github.com/paygate/paygate"
	"github.com/paygate/paygate/inicis"
	"github.com/paygate/paygate/inicis/inicistest"
	"github.com/paygate/paygate/pg"
	"github.com/paygate/paygate/pg/pgtest"
	"github.com/paygate/paygate/settlement"
	"github.com/paygate/paygate/store"
)

// A host app embeds paygate: a database, the PG adapters, its own order
// service and a fee policy. Here the PG is the Inicis sandbox and the
// database an SQLite file.
func Example() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "paygate-example")
	defer os.RemoveAll(dir)

	db, err := store.Open(ctx, "sqlite:"+filepath.Join(dir, "paygate.db"))
	if err != nil {
		panic(err)
	}
	defer db.Close()
	if err := db.Migrate(ctx); err != nil {
		panic(err)
	}

	sandbox := inicistest.NewServer(inicistest.Config{})
	defer sandbox.Close()
	gw, _ := inicis.New(sandbox.GatewayConfig())
	gateways, _ := pg.NewRegistry(gw)

	pay, err := paygate.New(paygate.Config{
		DB:       db,
		Gateways: gateways,
		Orders:   exampleShop{},
		Fees:     settlement.RateFee{Rate: decimal.RequireFromString("0.032")},
		Logger:   slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		panic(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error)
	go func() { done <- pay.Run(runCtx) }() // orders, refunds, settlement, recovery

	// The checkout: the amount is fixed before the buyer sees the PG.
	checkout, _ := pay.Prepare(ctx, paygate.PrepareRequest{
		OrderID: "order-1001", OrderName: "Linen shirt", Amount: pg.Won(39000), PG: "inicis",
		SuccessURL: "https://shop.example/pay/return",
	})
	fmt.Println("checkout signed:", checkout.Client["signature"] != "")

	// The buyer pays in the PG's window; its redirect comes back.
	redirect, _ := sandbox.Pay(ctx, pgtest.PayRequest{OrderID: "order-1001", Amount: pg.Won(39000)})
	res, err := pay.Approve(ctx, paygate.ApproveRequest{
		PG: "inicis", OrderID: "order-1001", Amount: pg.Won(39000), Redirect: redirect.Redirect,
	})
	if err != nil {
		panic(err)
	}
	fmt.Println("approve:", res.Status)

	// The order and the settlement entry follow in the background.
	for {
		v, _ := pay.Payment(ctx, res.PaymentID)
		if len(v.Events) == 3 {
			for _, e := range v.Events {
				fmt.Println("event:", e.Type)
			}
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	stop()
	<-done
	// Unordered output:
	// checkout signed: true
	// approve: APPROVED
	// event: PAYMENT_APPROVED
	// event: ORDER_CREATED
	// event: SETTLEMENT_RECORDED
}

// exampleShop is the host's order service.
type exampleShop struct{}

func (exampleShop) CreateOrder(ctx context.Context, req paygate.OrderRequest) error {
	return nil // mark the order paid, idempotently by req.OrderID
}

func (exampleShop) RollbackOrder(ctx context.Context, req paygate.OrderRequest) error {
	return nil // mark the order canceled, idempotently
}
