package kakaopay_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/paygate/paygate/kakaopay"
	"github.com/paygate/paygate/kakaopay/kakaopaytest"
	"github.com/paygate/paygate/pg"
	"github.com/paygate/paygate/pg/pgtest"
)

// newSandboxGateway starts a sandbox and an adapter pointed at it.
func newSandboxGateway() (*kakaopaytest.Server, *kakaopay.Gateway) {
	sb := kakaopaytest.NewServer(kakaopaytest.Options{})
	gw, err := kakaopay.New(kakaopay.Config{
		CID:         kakaopaytest.TestCID,
		SecretKey:   kakaopaytest.DefaultSecretKey,
		BaseURL:     sb.URL,
		ApprovalURL: "https://shop.example/pay/kakao/approve",
		CancelURL:   "https://shop.example/pay/kakao/cancel",
		FailURL:     "https://shop.example/pay/kakao/fail",
	})
	if err != nil {
		panic(err)
	}
	return sb, gw
}

func ExampleNew() {
	gw, err := kakaopay.New(kakaopay.Config{
		CID:         kakaopay.TestCID,
		SecretKey:   "DEV0123456789ABCDEF", // the "Secret key(dev)" of the KakaoPay console
		ApprovalURL: "https://shop.example/pay/kakao/approve",
		CancelURL:   "https://shop.example/pay/kakao/cancel",
		FailURL:     "https://shop.example/pay/kakao/fail",
	})
	if err != nil {
		panic(err)
	}
	caps := gw.Capabilities()
	fmt.Println(gw.Name(), "partial cancel:", caps.PartialCancel, "idempotency keys:", caps.IdempotencyKeys)
	// Output: kakaopay partial cancel: true idempotency keys: false
}

func ExampleGateway_Prepare() {
	sb, gw := newSandboxGateway()
	defer sb.Close()
	ctx := context.Background()

	prep, err := gw.Prepare(ctx, pg.PrepareRequest{OrderID: "order-1", OrderName: "초코파이", Amount: pg.Won(2200)})
	if err != nil {
		panic(err)
	}
	// Data is stored with the checkout; Client goes to the browser.
	fmt.Println("tid stored:", len(prep.Data[kakaopay.DataTID]) == 20)
	fmt.Println("redirect to KakaoPay:", prep.Client[kakaopay.ClientRedirectPC] != "")
	// Output:
	// tid stored: true
	// redirect to KakaoPay: true
}

// ValidatePrepare refuses, before anything is written, a checkout
// KakaoPay's ready would refuse; Code names the ready field.
func ExampleGateway_ValidatePrepare() {
	sb, gw := newSandboxGateway()
	defer sb.Close()
	fmt.Println(gw.ValidatePrepare(pg.PrepareRequest{OrderID: "order-5", OrderName: "초코파이", Amount: pg.Won(2200)}))

	err := gw.ValidatePrepare(pg.PrepareRequest{OrderID: "order-6", Amount: pg.MustMoney("10", pg.USD)})
	var pe *pg.Error
	if errors.As(err, &pe) {
		fmt.Println(errors.Is(err, pg.ErrInvalid), pe.Code)
	}
	// Output:
	// <nil>
	// true INVALID_TOTAL_AMOUNT
}

func ExampleGateway_Approve() {
	sb, gw := newSandboxGateway()
	defer sb.Close()
	ctx := context.Background()

	prep, _ := gw.Prepare(ctx, pg.PrepareRequest{OrderID: "order-2", Amount: pg.Won(15000)})
	// The buyer pays in KakaoPay's window; the redirect carries pg_token.
	paid, _ := sb.Pay(ctx, pgtest.PayRequest{OrderID: "order-2", Amount: pg.Won(15000)})

	p, err := gw.Approve(ctx, pg.ApproveRequest{
		PaymentID: "pay_01", OrderID: "order-2", Amount: pg.Won(15000),
		Redirect: paid.Redirect, Prepared: prep.Data,
	})
	if err != nil {
		panic(err)
	}
	fmt.Println(p.Status, p.Amount, p.Method)
	// Output: APPROVED 15000 KRW CARD
}

func ExampleGateway_Lookup() {
	sb, gw := newSandboxGateway()
	defer sb.Close()
	ctx := context.Background()

	prep, _ := gw.Prepare(ctx, pg.PrepareRequest{OrderID: "order-3", Amount: pg.Won(5000)})
	paid, _ := sb.Pay(ctx, pgtest.PayRequest{OrderID: "order-3", Fault: pgtest.FaultTimeout})

	// KakaoPay approves, but the answer is lost.
	_, err := gw.Approve(ctx, pg.ApproveRequest{OrderID: "order-3", Amount: pg.Won(5000), Redirect: paid.Redirect, Prepared: prep.Data})
	fmt.Println("approve unknown:", errors.Is(err, pg.ErrUnknown))

	// Resolved by lookup, never by approving again.
	p, err := gw.Lookup(ctx, pg.LookupRequest{OrderID: "order-3", Prepared: prep.Data})
	if err != nil {
		panic(err)
	}
	fmt.Println(p.Status, p.PGStatus, "approvals at the PG:", sb.Ledger()[0].Approvals)
	// Output:
	// approve unknown: true
	// APPROVED SUCCESS_PAYMENT approvals at the PG: 1
}

func ExampleGateway_Cancel() {
	sb, gw := newSandboxGateway()
	defer sb.Close()
	ctx := context.Background()

	prep, _ := gw.Prepare(ctx, pg.PrepareRequest{OrderID: "order-4", Amount: pg.Won(10000)})
	paid, _ := sb.Pay(ctx, pgtest.PayRequest{OrderID: "order-4"})
	if _, err := gw.Approve(ctx, pg.ApproveRequest{OrderID: "order-4", Amount: pg.Won(10000), Redirect: paid.Redirect, Prepared: prep.Data}); err != nil {
		panic(err)
	}

	// A partial cancel guarded by the balance we know.
	p, err := gw.Cancel(ctx, pg.CancelRequest{
		CancelID: "cxl_1", OrderID: "order-4", Amount: pg.Won(3000), Balance: pg.Won(10000), Prepared: prep.Data,
	})
	if err != nil {
		panic(err)
	}
	fmt.Println(p.Status, "balance", p.Balance)

	// Sent again with the same guard, it is refused rather than applied twice.
	_, err = gw.Cancel(ctx, pg.CancelRequest{
		CancelID: "cxl_1", OrderID: "order-4", Amount: pg.Won(3000), Balance: pg.Won(10000), Prepared: prep.Data,
	})
	fmt.Println("resend:", errors.Is(err, pg.ErrAlreadyDone))
	// Output:
	// PARTIAL_CANCELED balance 7000 KRW
	// resend: true
}
