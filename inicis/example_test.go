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

// A checkout on a phone opens INIpay Mobile: the browser posts the P_*
// form to Client["actionUrl"]; the window's result goes to Approve as the
// redirect, and the adapter approves it at the allow-listed P_REQ_URL.
func ExampleGateway_Prepare_mobile() {
	ctx := context.Background()
	srv := inicistest.NewServer(inicistest.Config{})
	defer srv.Close()
	gw, err := inicis.New(srv.GatewayConfig())
	if err != nil {
		panic(err)
	}
	prepared, err := gw.Prepare(ctx, pg.PrepareRequest{
		OrderID: "order-m1", OrderName: "머그컵", Amount: pg.Won(12000), Device: pg.DeviceMobile,
		SuccessURL: "https://shop.example/inicis/next",
	})
	if err != nil {
		panic(err)
	}
	fmt.Println(prepared.Client["P_OID"], prepared.Client["P_AMT"], prepared.Client["P_INI_PAYMENT"])
	// The buyer pays in the mobile window; Inicis posts P_STATUS, P_TID,
	// P_REQ_URL and P_RMESG1 to P_NEXT_URL.
	auth, err := srv.PayMobileForm(ctx, prepared.Client, pgtest.FaultNone)
	if err != nil {
		panic(err)
	}
	payment, err := gw.Approve(ctx, pg.ApproveRequest{
		PaymentID: "pay_m1", OrderID: "order-m1", Amount: pg.Won(12000),
		Redirect: auth.Redirect, Prepared: prepared.Data,
	})
	if err != nil {
		panic(err)
	}
	fmt.Println(payment.Status, payment.Amount, payment.PaymentKey[:10])
	// Output:
	// order-m1 12000 CARD
	// APPROVED 12000 KRW INIMX_CARD
}

// New takes a Config. MID and SignKey take payments; APIKey, APIIV and
// ClientIP (this server's address, registered with Inicis) cancel and look
// up. Every wrong field is named at once.
func ExampleNew() {
	gw, err := inicis.New(inicis.Config{
		MID: inicis.TestMID, SignKey: inicis.TestSignKey,
		APIKey: inicis.TestAPIKey, APIIV: inicis.TestAPIIV, ClientIP: "203.0.113.10",
		BaseURL: inicis.TestBaseURL,
	})
	if err != nil {
		panic(err)
	}
	caps := gw.Capabilities()
	fmt.Println(gw, "partial cancel:", caps.PartialCancel, "webhooks:", caps.Webhooks)

	_, err = inicis.New(inicis.Config{MID: inicis.TestMID, APIKey: "too-short"})
	fmt.Println(err)
	// Output:
	// inicis.Gateway(INIpayTest, https://stginiapi.inicis.com) partial cancel: true webhooks: true
	// inicis: Config.SignKey is required
	// Config.APIKey must be 16 characters
}

// ValidatePrepare refuses, without calling Inicis, a checkout the payment
// window would refuse; Code names the form field.
func ExampleGateway_ValidatePrepare() {
	gw, err := inicis.New(inicis.TestConfig())
	if err != nil {
		panic(err)
	}
	ok := pg.PrepareRequest{OrderID: "order-1", OrderName: "티셔츠", Amount: pg.Won(15000), SuccessURL: "https://shop.example/inicis/return"}
	fmt.Println(gw.ValidatePrepare(ok))

	long := ok
	long.OrderName = "겨울 한정판 캐시미어 터틀넥 니트 스웨터 외 3건" // over 40 bytes, two per Korean character
	var pe *pg.Error
	if err := gw.ValidatePrepare(long); errors.As(err, &pe) {
		fmt.Println(errors.Is(err, pg.ErrInvalid), pe.Code)
	}
	// Output:
	// <nil>
	// true INVALID_GOODNAME
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

// Approve checks the redirect Inicis posted to the shop's returnUrl and
// POSTs the signed approval to the allow-listed authUrl; the answer must be
// for the order and amount asked, or it is net-canceled at once.
func ExampleGateway_Approve() {
	ctx := context.Background()
	srv := inicistest.NewServer(inicistest.Config{})
	defer srv.Close()
	gw, err := inicis.New(srv.GatewayConfig())
	if err != nil {
		panic(err)
	}
	prepared, err := gw.Prepare(ctx, pg.PrepareRequest{
		OrderID: "order-2", OrderName: "양말", Amount: pg.Won(8000), SuccessURL: "https://shop.example/inicis/return",
	})
	if err != nil {
		panic(err)
	}
	auth, err := srv.PayForm(ctx, prepared.Client, "Card", pgtest.FaultNone)
	if err != nil {
		panic(err)
	}
	p, err := gw.Approve(ctx, pg.ApproveRequest{
		PaymentID: "pay_2", OrderID: "order-2", Amount: pg.Won(8000), Redirect: auth.Redirect, Prepared: prepared.Data,
	})
	if err != nil {
		panic(err)
	}
	fmt.Println(p.Status, p.Amount, p.Method)
	// Output: APPROVED 8000 KRW CARD
}

// Cancel refunds through INIAPI. A partial refund carries the balance left
// after it (confirmPrice), so the same refund resent after a lost answer
// is refused instead of applied twice.
func ExampleGateway_Cancel() {
	ctx := context.Background()
	srv := inicistest.NewServer(inicistest.Config{})
	defer srv.Close()
	gw, err := inicis.New(srv.GatewayConfig())
	if err != nil {
		panic(err)
	}
	auth, err := srv.Pay(ctx, pgtest.PayRequest{OrderID: "order-3", Amount: pg.Won(20000)})
	if err != nil {
		panic(err)
	}
	p, err := gw.Approve(ctx, pg.ApproveRequest{OrderID: "order-3", Amount: pg.Won(20000), Redirect: auth.Redirect})
	if err != nil {
		panic(err)
	}
	refund := pg.CancelRequest{PaymentKey: p.PaymentKey, OrderID: "order-3", Amount: pg.Won(5000), Balance: pg.Won(20000), Reason: "부분 반품"}
	after, err := gw.Cancel(ctx, refund)
	if err != nil {
		panic(err)
	}
	fmt.Println(after.Status, "balance", after.Balance)

	_, err = gw.Cancel(ctx, refund)
	fmt.Println("resent:", errors.Is(err, pg.ErrAlreadyDone))

	// The rest of the balance, refunded in full.
	after, err = gw.Cancel(ctx, pg.CancelRequest{PaymentKey: p.PaymentKey, OrderID: "order-3", Amount: after.Balance, Balance: after.Balance, Reason: "전체 반품"})
	if err != nil {
		panic(err)
	}
	fmt.Println(after.Status, "balance", after.Balance)
	// Output:
	// PARTIAL_CANCELED balance 15000 KRW
	// resent: true
	// CANCELED balance 0 KRW
}

// A virtual account is issued by the approval and paid later; Inicis
// notifies the deposit. ParseWebhook accepts a notification only from
// Inicis's addresses, for this merchant, and (by default) once INIAPI
// confirms the deposit; AckWebhook then answers "OK".
func ExampleGateway_ParseWebhook() {
	ctx := context.Background()
	srv := inicistest.NewServer(inicistest.Config{})
	defer srv.Close()
	gw, err := inicis.New(srv.GatewayConfig())
	if err != nil {
		panic(err)
	}
	auth, err := srv.PayVirtualAccount(ctx, pgtest.PayRequest{OrderID: "order-4", Amount: pg.Won(30000)})
	if err != nil {
		panic(err)
	}
	p, err := gw.Approve(ctx, pg.ApproveRequest{OrderID: "order-4", Amount: pg.Won(30000), Redirect: auth.Redirect})
	if err != nil {
		panic(err)
	}
	fmt.Println("approved:", p.Status)
	if err := srv.Deposit(ctx, "order-4"); err != nil {
		panic(err)
	}
	delivery, _, err := srv.Webhooks(ctx, "order-4")
	if err != nil {
		panic(err)
	}
	ev, err := gw.ParseWebhook(ctx, delivery.Request(nil))
	if err != nil {
		panic(err)
	}
	fmt.Println("notified:", ev.Type, ev.Status, ev.Amount, ev.PaymentKey == p.PaymentKey)

	forged := delivery
	forged.RemoteAddr = "198.51.100.7:40000" // not an Inicis address
	_, err = gw.ParseWebhook(ctx, forged.Request(nil))
	fmt.Println("forged:", errors.Is(err, pg.ErrWebhookRejected))
	// Output:
	// approved: WAITING_FOR_DEPOSIT
	// notified: DEPOSIT APPROVED 30000 KRW true
	// forged: true
}

// NetCancel (망취소) undoes an approval the shop cannot keep, right after
// Inicis approved it (the order could not be written, say). It is sent to
// the allow-listed netCancelUrl of the same redirect; it is not a refund.
func ExampleGateway_NetCancel() {
	ctx := context.Background()
	srv := inicistest.NewServer(inicistest.Config{})
	defer srv.Close()
	gw, err := inicis.New(srv.GatewayConfig())
	if err != nil {
		panic(err)
	}
	auth, err := srv.Pay(ctx, pgtest.PayRequest{OrderID: "order-5", Amount: pg.Won(12000)})
	if err != nil {
		panic(err)
	}
	req := pg.ApproveRequest{OrderID: "order-5", Amount: pg.Won(12000), Redirect: auth.Redirect}
	if _, err := gw.Approve(ctx, req); err != nil {
		panic(err)
	}
	fmt.Println("net cancel:", gw.NetCancel(ctx, req))
	p, err := gw.Lookup(ctx, pg.LookupRequest{OrderID: "order-5"})
	if err != nil {
		panic(err)
	}
	fmt.Println("lookup:", p.Status)
	// Output:
	// net cancel: <nil>
	// lookup: CANCELED
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
