package kakaopaytest_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/paygate/paygate/kakaopay"
	"github.com/paygate/paygate/kakaopay/kakaopaytest"
	"github.com/paygate/paygate/pg"
	"github.com/paygate/paygate/pg/pgtest"
)

// A host app's test runs the KakaoPay flow against the sandbox: ready
// (Prepare), the buyer in KakaoPay's window (Pay), approve, then a cancel
// the sandbox was scripted to refuse, and the PG side's books.
func ExampleNewServer() {
	ctx := context.Background()
	srv := kakaopaytest.NewServer(kakaopaytest.Config{})
	defer srv.Close()
	gw, err := kakaopay.New(kakaopay.Config{
		CID: kakaopaytest.TestCID, SecretKey: kakaopaytest.DefaultSecretKey, BaseURL: srv.URL,
		ApprovalURL: "https://shop.example/pay/kakao/approve",
		CancelURL:   "https://shop.example/pay/kakao/cancel",
		FailURL:     "https://shop.example/pay/kakao/fail",
	})
	if err != nil {
		panic(err)
	}

	prep, err := gw.Prepare(ctx, pg.PrepareRequest{OrderID: "order-1", OrderName: "초코파이", Amount: pg.Won(22000), CustomerID: "buyer-1"})
	if err != nil {
		panic(err)
	}
	paid, err := srv.Pay(ctx, pgtest.PayRequest{OrderID: "order-1", Amount: pg.Won(22000)})
	if err != nil {
		panic(err)
	}
	p, err := gw.Approve(ctx, pg.ApproveRequest{PaymentID: "pay_1", OrderID: "order-1", Amount: pg.Won(22000),
		Redirect: paid.Redirect, Prepared: prep.Data})
	if err != nil {
		panic(err)
	}
	fmt.Println("approve:", p.Status)

	// KakaoPay refuses the order's next cancel, once.
	if err := srv.FailNext(pgtest.OpCancel, "order-1", pgtest.FaultDecline); err != nil {
		panic(err)
	}
	cancel := pg.CancelRequest{PaymentKey: p.PaymentKey, OrderID: "order-1", Amount: pg.Won(2000), Balance: pg.Won(22000),
		Reason: "one item returned", Prepared: prep.Data}
	_, err = gw.Cancel(ctx, cancel)
	fmt.Println("first cancel declined:", errors.Is(err, pg.ErrDeclined))
	after, err := gw.Cancel(ctx, cancel)
	if err != nil {
		panic(err)
	}
	fmt.Println("second cancel:", after.Status, after.Balance)

	for _, e := range srv.Ledger() {
		fmt.Println("ledger:", e.OrderID, e.Status, e.Approvals, e.Approved, e.Cancels, e.Canceled)
	}
	// Output:
	// approve: APPROVED
	// first cancel declined: true
	// second cancel: PARTIAL_CANCELED 20000 KRW
	// ledger: order-1 PARTIAL_CANCELED 1 22000 KRW 1 2000 KRW
}

// The buyer's fault rides along with Pay; FailNext scripts any later call.
// Here the approval's answer is lost: the adapter cannot tell, and a lookup
// finds the payment captured once.
func ExampleSandbox_FailNext() {
	ctx := context.Background()
	srv := kakaopaytest.NewServer(kakaopaytest.Config{})
	defer srv.Close()
	gw, err := kakaopay.New(kakaopay.Config{
		CID: kakaopaytest.TestCID, SecretKey: kakaopaytest.DefaultSecretKey, BaseURL: srv.URL,
		ApprovalURL: "https://shop.example/ok", CancelURL: "https://shop.example/cancel", FailURL: "https://shop.example/fail",
	})
	if err != nil {
		panic(err)
	}
	prep, err := gw.Prepare(ctx, pg.PrepareRequest{OrderID: "order-2", OrderName: "우유", Amount: pg.Won(3000), CustomerID: "buyer-2"})
	if err != nil {
		panic(err)
	}
	paid, err := srv.Pay(ctx, pgtest.PayRequest{OrderID: "order-2", Amount: pg.Won(3000)})
	if err != nil {
		panic(err)
	}
	if err := srv.FailNext(pgtest.OpApprove, "order-2", pgtest.FaultTimeout); err != nil {
		panic(err)
	}
	_, err = gw.Approve(ctx, pg.ApproveRequest{PaymentID: "pay_2", OrderID: "order-2", Amount: pg.Won(3000),
		Redirect: paid.Redirect, Prepared: prep.Data})
	fmt.Println("approve:", pg.KindOf(err).String())
	found, err := gw.Lookup(ctx, pg.LookupRequest{OrderID: "order-2", Prepared: prep.Data})
	if err != nil {
		panic(err)
	}
	fmt.Println("lookup:", found.Status, "approvals at the PG:", srv.Ledger()[0].Approvals)

	err = srv.FailNext(pgtest.OpNetCancel, "order-2", pgtest.FaultError500)
	fmt.Println("net cancel:", errors.Is(err, pgtest.ErrUnsupported))
	// Output:
	// approve: unknown
	// lookup: APPROVED approvals at the PG: 1
	// net cancel: true
}
