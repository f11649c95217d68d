package tosspaytest_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/paygate/paygate/pg"
	"github.com/paygate/paygate/pg/pgtest"
	"github.com/paygate/paygate/tosspay"
	"github.com/paygate/paygate/tosspay/tosspaytest"
)

// A host app's test scripts Toss losing the answer of a confirm it applied,
// then checks the PG side: captured once, and known to Lookup.
func ExampleNewServer() {
	ctx := context.Background()
	srv := tosspaytest.NewServer(tosspaytest.Config{HoldMax: 5 * time.Second})
	defer srv.Close()
	gw, err := tosspay.New(tosspay.Config{SecretKey: srv.SecretKey(), BaseURL: srv.URL,
		Timeout: 200 * time.Millisecond, MaxAttempts: 2, BackoffMin: 10 * time.Millisecond, BackoffMax: 20 * time.Millisecond})
	if err != nil {
		panic(err)
	}
	res, err := srv.Pay(ctx, pgtest.PayRequest{OrderID: "order-lost-0001", Amount: pg.Won(30000), Fault: pgtest.FaultTimeout})
	if err != nil {
		panic(err)
	}
	_, err = gw.Approve(ctx, pg.ApproveRequest{PaymentID: "pay_1", OrderID: "order-lost-0001", Amount: pg.Won(30000), PaymentKey: res.PaymentKey})
	fmt.Println("approve:", errors.Is(err, pg.ErrUnknown))

	p, err := gw.Lookup(ctx, pg.LookupRequest{OrderID: "order-lost-0001"})
	if err != nil {
		panic(err)
	}
	l := srv.Ledger()[0]
	fmt.Println("lookup:", p.Status, "ledger:", l.Approvals, l.Approved)
	// Output:
	// approve: true
	// lookup: APPROVED ledger: 1 30000 KRW
}

// FailNext scripts the order's next call of one kind, whatever else comes
// between: Toss refuses the first cancel (NOT_CANCELABLE_PAYMENT), the
// lookup before it is answered, the next cancel goes through.
func ExampleSandbox_FailNext() {
	ctx := context.Background()
	srv := tosspaytest.NewServer(tosspaytest.Config{})
	defer srv.Close()
	gw, err := tosspay.New(tosspay.Config{SecretKey: srv.SecretKey(), BaseURL: srv.URL})
	if err != nil {
		panic(err)
	}
	res, err := srv.Pay(ctx, pgtest.PayRequest{OrderID: "order-cancel-0001", Amount: pg.Won(20000)})
	if err != nil {
		panic(err)
	}
	p, err := gw.Approve(ctx, pg.ApproveRequest{PaymentID: "pay_1", OrderID: "order-cancel-0001", Amount: pg.Won(20000), PaymentKey: res.PaymentKey})
	if err != nil {
		panic(err)
	}

	if err := srv.FailNext(pgtest.OpCancel, "order-cancel-0001", pgtest.FaultDecline); err != nil {
		panic(err)
	}
	if _, err := gw.Lookup(ctx, pg.LookupRequest{OrderID: "order-cancel-0001"}); err != nil {
		panic(err)
	}
	cancel := pg.CancelRequest{CancelID: "c1", PaymentKey: p.PaymentKey, Amount: pg.Won(5000), Balance: pg.Won(20000), Reason: "returned"}
	_, err = gw.Cancel(ctx, cancel)
	var pe *pg.Error
	if errors.As(err, &pe) {
		fmt.Println("first cancel:", pe.Code, pe.Kind.String())
	}
	cancel.CancelID = "c2"
	after, err := gw.Cancel(ctx, cancel)
	if err != nil {
		panic(err)
	}
	fmt.Println("second cancel:", after.Status, after.Balance)
	l := srv.Ledger()[0]
	fmt.Println("ledger:", l.Status, l.Approved, l.Cancels, l.Canceled)
	// Output:
	// first cancel: NOT_CANCELABLE_PAYMENT declined
	// second cancel: PARTIAL_CANCELED 15000 KRW
	// ledger: PARTIAL_CANCELED 20000 KRW 1 5000 KRW
}

// The test controls over HTTP, for a sandbox in another process (the
// tosspay-sandbox command, or a server that mounts it): the buyer, a
// scripted fault and the ledger, under /_sandbox/.
func ExampleSandbox_ServeHTTP() {
	srv := tosspaytest.NewServer(tosspaytest.Config{})
	defer srv.Close()
	post := func(path, body string) int {
		resp, err := http.Post(srv.URL+path, "application/json", strings.NewReader(body))
		if err != nil {
			panic(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	fmt.Println("pay:", post("/_sandbox/pay", `{"orderId":"order-http-0001","amount":9900}`))
	fmt.Println("faults:", post("/_sandbox/faults", `{"op":"approve","fault":"decline","orderId":"order-http-0001"}`))

	gw, err := tosspay.New(tosspay.Config{SecretKey: srv.SecretKey(), BaseURL: srv.URL})
	if err != nil {
		panic(err)
	}
	key := srv.Ledger()[0].PaymentKey
	_, err = gw.Approve(context.Background(), pg.ApproveRequest{PaymentID: "pay_h", OrderID: "order-http-0001", Amount: pg.Won(9900), PaymentKey: key})
	fmt.Println("approve declined:", errors.Is(err, pg.ErrDeclined))

	resp, err := http.Get(srv.URL + "/_sandbox/ledger")
	if err != nil {
		panic(err)
	}
	defer resp.Body.Close()
	var ledger []pgtest.LedgerEntry
	if err := json.NewDecoder(resp.Body).Decode(&ledger); err != nil {
		panic(err)
	}
	fmt.Println("ledger:", ledger[0].OrderID, ledger[0].Status, ledger[0].Approvals)
	// Output:
	// pay: 200
	// faults: 204
	// approve declined: true
	// ledger: order-http-0001 FAILED 0
}
