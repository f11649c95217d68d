package inicistest_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"

	"github.com/paygate/paygate/inicis"
	"github.com/paygate/paygate/inicis/inicistest"
	"github.com/paygate/paygate/pg"
	"github.com/paygate/paygate/pg/pgtest"
)

// Scripted faults: Inicis approves, the answer is lost; the ledger shows
// the PG side captured once.
func ExampleNewServer() {
	ctx := context.Background()
	srv := inicistest.NewServer(inicistest.Config{})
	defer srv.Close()
	gw, _ := inicis.New(srv.GatewayConfig())

	auth, _ := srv.Pay(ctx, pgtest.PayRequest{OrderID: "order-1", Amount: pg.Won(12000), Fault: pgtest.FaultTimeout})
	_, err := gw.Approve(ctx, pg.ApproveRequest{OrderID: "order-1", Amount: pg.Won(12000), Redirect: auth.Redirect})
	fmt.Println("approve:", pg.KindOf(err).String())

	for _, e := range srv.Ledger() {
		fmt.Println(e.OrderID, e.Status, e.Approvals, e.Approved)
	}
	// Output:
	// approve: unknown
	// order-1 APPROVED 1 12000 KRW
}

// A virtual account: approval issues it, Deposit pays it and notifies the
// shop, which verifies the notification and answers "OK".
func ExampleSandbox_Deposit() {
	ctx := context.Background()
	srv := inicistest.NewServer(inicistest.Config{})
	defer srv.Close()
	gw, _ := inicis.New(srv.GatewayConfig())

	shop := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		ev, err := gw.ParseWebhook(r.Context(), pg.WebhookRequest{Body: body, RemoteAddr: r.RemoteAddr})
		if err != nil {
			http.Error(w, "FAIL", http.StatusBadRequest)
			return
		}
		fmt.Println("notified:", ev.Type, ev.OrderID, ev.Amount)
		gw.AckWebhook(w)
	}))
	defer shop.Close()
	srv.SetWebhookURL(shop.URL)

	auth, _ := srv.PayVirtualAccount(ctx, pgtest.PayRequest{OrderID: "order-2", Amount: pg.Won(30000)})
	p, _ := gw.Approve(ctx, pg.ApproveRequest{OrderID: "order-2", Amount: pg.Won(30000), Redirect: auth.Redirect})
	fmt.Println("approved:", p.Status)
	if err := srv.Deposit(ctx, "order-2"); err != nil {
		panic(err)
	}
	// Output:
	// approved: WAITING_FOR_DEPOSIT
	// notified: DEPOSIT order-2 30000 KRW
}

// FailNext scripts the order's next refund (full or partial: one op,
// pgtest.OpCancel): Inicis applies it and the answer is lost. INIAPI has no
// idempotency key, so the adapter reports the outcome unknown; the inquiry
// and the ledger show the refund happened once.
func ExampleSandbox_FailNext() {
	ctx := context.Background()
	srv := inicistest.NewServer(inicistest.Config{})
	defer srv.Close()
	gw, _ := inicis.New(srv.GatewayConfig())

	auth, _ := srv.Pay(ctx, pgtest.PayRequest{OrderID: "order-3", Amount: pg.Won(10000)})
	p, err := gw.Approve(ctx, pg.ApproveRequest{OrderID: "order-3", Amount: pg.Won(10000), Redirect: auth.Redirect})
	if err != nil {
		panic(err)
	}
	if err := srv.FailNext(pgtest.OpCancel, "order-3", pgtest.FaultTimeout); err != nil {
		panic(err)
	}
	_, err = gw.Cancel(ctx, pg.CancelRequest{PaymentKey: p.PaymentKey, Amount: pg.Won(4000), Balance: pg.Won(10000)})
	fmt.Println("cancel:", pg.KindOf(err).String())

	got, err := gw.Lookup(ctx, pg.LookupRequest{PaymentKey: p.PaymentKey})
	if err != nil {
		panic(err)
	}
	fmt.Println("lookup:", got.Status, got.Balance)
	l := srv.Ledger()[0]
	fmt.Println("ledger:", l.Cancels, l.Canceled)
	// Output:
	// cancel: unknown
	// lookup: PARTIAL_CANCELED 6000 KRW
	// ledger: 1 4000 KRW
}
