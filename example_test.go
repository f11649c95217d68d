package paygate_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
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

// A host on MySQL mounts what paygate built for it — the webhook intake
// and the Idempotency-Key middleware around its own handlers — and refunds
// through Cancel.
func Example_mySQLWebhooksAndCancel() {
	ctx := context.Background()
	db, err := store.Open(ctx, "mysql:shop:secret@tcp(db.internal:3306)/paygate?parseTime=true&interpolateParams=true")
	if err != nil {
		panic(err)
	}
	if err := db.Migrate(ctx); err != nil { // explicit, before New
		panic(err)
	}
	gw, _ := inicis.New(inicis.Config{ /* MID, sign key, INIAPI key and IV from the merchant admin */ })
	gateways, _ := pg.NewRegistry(gw)
	pay, err := paygate.New(paygate.Config{
		DB: db, Gateways: gateways, Orders: exampleShop{},
		Fees: settlement.RateFee{Rate: decimal.RequireFromString("0.032")},
	})
	if err != nil {
		panic(err)
	}
	go func() { _ = pay.Run(ctx) }()

	mux := http.NewServeMux()
	mux.Handle("POST /webhooks/{pg}", pay.WebhookHandler())
	keys := pay.Idempotency()
	mux.Handle("POST /refunds/{paymentId}", keys.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// The shop decides on refunds: authenticate the operator first.
		v, err := pay.Cancel(r.Context(), paygate.CancelRequest{
			PaymentID: r.PathValue("paymentId"), Reason: "returned by the buyer",
			IdempotencyKey: r.Header.Get("Idempotency-Key"),
		})
		switch {
		case errors.Is(err, paygate.ErrInProgress):
			http.Error(w, err.Error(), http.StatusConflict)
		case err != nil:
			http.Error(w, err.Error(), http.StatusBadRequest)
		default:
			fmt.Fprintf(w, "%s refunded, %s left\n", v.CanceledAmount, v.Balance)
		}
	})))
	_ = http.ListenAndServe("127.0.0.1:8080", mux)
}
