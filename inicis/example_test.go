package inicis_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/paygate/paygate/inicis"
	"github.com/paygate/paygate/inicis/inicistest"
	"github.com/paygate/paygate/pg"
	"github.com/paygate/paygate/pg/pgtest"
)

// A host app's test: the sandbox plays Inicis and the buyer.
func Example() {
	ctx := context.Background()
	srv := inicistest.NewServer(inicistest.Config{})
	defer srv.Close()

	gw, err := inicis.New(srv.GatewayConfig())
	if err != nil {
		panic(err)
	}
	prepared, _ := gw.Prepare(ctx, pg.PrepareRequest{
		OrderID: "order-1", OrderName: "티셔츠", Amount: pg.Won(15000),
		SuccessURL: "https://shop.example/inicis/return",
	})
	// The buyer pays in the window opened with the signed form.
	auth, err := srv.PayForm(ctx, prepared.Client, "Card", pgtest.FaultNone)
	if err != nil {
		panic(err)
	}
	payment, err := gw.Approve(ctx, pg.ApproveRequest{
		PaymentID: "pay_1", OrderID: "order-1", Amount: pg.Won(15000),
		Redirect: auth.Redirect, Prepared: prepared.Data,
	})
	if err != nil {
		panic(err)
	}
	fmt.Println(payment.Status, payment.Amount)

	refunded, err := gw.Cancel(ctx, pg.CancelRequest{
		PaymentKey: payment.PaymentKey, Amount: pg.Won(5000), Balance: payment.Balance, Reason: "부분 반품",
	})
	if err != nil {
		panic(err)
	}
	fmt.Println(refunded.Status, refunded.Balance)
	// Output:
	// APPROVED 15000 KRW
	// PARTIAL_CANCELED 10000 KRW
}

// Prepare signs the INIpay Standard form; the page posts these fields
// through INIStdPay.js.
func ExampleGateway_Prepare() {
	gw, _ := inicis.New(inicis.TestConfig())
	prepared, err := gw.Prepare(context.Background(), pg.PrepareRequest{
		OrderID: "order-1", OrderName: "티셔츠", Amount: pg.Won(15000),
		Method: pg.MethodCard, SuccessURL: "https://shop.example/inicis/return",
	})
	if err != nil {
		panic(err)
	}
	for _, k := range []string{"mid", "oid", "price", "currency", "gopaymethod", "mKey"} {
		fmt.Printf("%s=%s\n", k, prepared.Client[k])
	}
	// Output:
	// mid=INIpayTest
	// oid=order-1
	// price=15000
	// currency=WON
	// gopaymethod=Card
	// mKey=3a9503069192f207491d4b19bd743fc249a761ed94246c8c42fed06c3cd15a33
}

// Approve refuses an authUrl that is not the allow-listed Inicis address
// for the redirect's idc_name, before sending anything.
func ExampleGateway_Approve_untrustedURL() {
	gw, _ := inicis.New(inicis.TestConfig())
	_, err := gw.Approve(context.Background(), pg.ApproveRequest{
		OrderID: "order-1", Amount: pg.Won(15000),
		Redirect: map[string]string{
			"resultCode": "0000", "authToken": "token", "idc_name": "stg",
			"authUrl": "https://attacker.example/api/payAuth",
		},
	})
	fmt.Println(errors.Is(err, inicis.ErrUntrustedURL), pg.KindOf(err).String())
	// Output: true invalid
}

// Lookup by order id resolves an approval whose answer was lost.
func ExampleGateway_Lookup() {
	ctx := context.Background()
	srv := inicistest.NewServer(inicistest.Config{})
	defer srv.Close()
	gw, _ := inicis.New(srv.GatewayConfig())

	auth, _ := srv.Pay(ctx, pgtest.PayRequest{OrderID: "order-7", Amount: pg.Won(9900), Fault: pgtest.FaultTimeout})
	_, err := gw.Approve(ctx, pg.ApproveRequest{OrderID: "order-7", Amount: pg.Won(9900), Redirect: auth.Redirect})
	fmt.Println("approve:", pg.KindOf(err).String())

	p, err := gw.Lookup(ctx, pg.LookupRequest{OrderID: "order-7"})
	if err != nil {
		panic(err)
	}
	fmt.Println("lookup:", p.Status, p.Amount)
	// Output:
	// approve: unknown
	// lookup: APPROVED 9900 KRW
}
