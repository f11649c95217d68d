package pg_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/shopspring/decimal"

	"github.com/paygate/paygate/pg"
)

func ExampleNewMoney() {
	price, err := pg.NewMoney(decimal.RequireFromString("10.25"), pg.USD)
	if err != nil {
		panic(err)
	}
	fmt.Println(price, price.Int64())

	_, err = pg.NewMoney(decimal.RequireFromString("10.255"), pg.USD)
	fmt.Println(errors.Is(err, pg.ErrInvalidMoney), err)
	// Output:
	// 10.25 USD 1025
	// true pg: invalid money: USD allows 2 decimal places, got 10.255
}

func ExampleParseMoney() {
	total, err := pg.ParseMoney("15000", pg.KRW)
	fmt.Println(total, err)

	// Won has no minor unit: half a won is refused, never rounded.
	_, err = pg.ParseMoney("1000.5", pg.KRW)
	fmt.Println(err)
	// Output:
	// 15000 KRW <nil>
	// pg: invalid money: KRW has no minor unit, got 1000.5
}

func ExampleMoney_Sub() {
	balance := pg.Won(15000)
	balance, err := balance.Sub(pg.Won(5000))
	fmt.Println(balance, err)

	_, err = balance.Sub(pg.Won(20000))
	fmt.Println(err)
	// Output:
	// 10000 KRW <nil>
	// pg: invalid money: negative amount -10000 KRW
}

func ExampleMoney_MarshalJSON() {
	b, err := json.Marshal(struct {
		Total pg.Money `json:"total"`
		Tip   pg.Money `json:"tip"`
	}{Total: pg.Won(15000)})
	if err != nil {
		panic(err)
	}
	fmt.Println(string(b))
	// Output:
	// {"total":{"amount":15000,"currency":"KRW"},"tip":null}
}

func ExampleMoney_UnmarshalJSON() {
	// PGs send amounts as numbers or as strings; both decode exactly.
	for _, in := range []string{
		`{"amount":12345678901234567,"currency":"KRW"}`,
		`{"amount":"10.25","currency":"USD"}`,
		`{"amount":1000.5,"currency":"KRW"}`,
	} {
		var m pg.Money
		if err := json.Unmarshal([]byte(in), &m); err != nil {
			fmt.Println("refused:", err)
			continue
		}
		fmt.Println(m)
	}
	// Output:
	// 12345678901234567 KRW
	// 10.25 USD
	// refused: pg: invalid money: KRW has no minor unit, got 1000.5
}

func ExampleRouter_Choose() {
	// fakeGateway stands in for adapters such as tosspay and kakaopay.
	reg, err := pg.NewRegistry(
		&fakeGateway{name: "tosspay"},
		&fakeGateway{name: "kakaopay", caps: pg.Capabilities{
			Methods: []pg.Method{pg.MethodEasyPay, pg.MethodMoney, pg.MethodCard},
		}},
		&fakeGateway{name: "inicis"},
	)
	if err != nil {
		panic(err)
	}
	router, err := pg.NewRouter(reg, []pg.Rule{
		{PG: "kakaopay", Priority: 20, Methods: []pg.Method{pg.MethodEasyPay, pg.MethodMoney}},
		{PG: "inicis", Priority: 10, Methods: []pg.Method{pg.MethodCard}, MinAmount: pg.Won(1_000_000)},
		{PG: "tosspay", Priority: 0},
	}, pg.RouterConfig{})
	if err != nil {
		panic(err)
	}

	for _, req := range []pg.RouteRequest{
		{Method: pg.MethodCard, Amount: pg.Won(50_000)},
		{Method: pg.MethodCard, Amount: pg.Won(2_000_000)},
		{Method: pg.MethodEasyPay, Amount: pg.Won(50_000)},
		{PG: "kakaopay", Method: pg.MethodCard, Amount: pg.Won(2_000_000)}, // the buyer picked it
	} {
		gw, err := router.Choose(req)
		if err != nil {
			fmt.Println(err)
			continue
		}
		fmt.Println(req.Method, req.Amount, "→", gw.Name())
	}
	_, err = router.Choose(pg.RouteRequest{Method: pg.MethodCard, Amount: pg.MustMoney("10", pg.USD)})
	fmt.Println(errors.Is(err, pg.ErrNoRoute))
	// Output:
	// CARD 50000 KRW → tosspay
	// CARD 2000000 KRW → inicis
	// EASY_PAY 50000 KRW → kakaopay
	// CARD 2000000 KRW → kakaopay
	// true
}

func ExampleRouter_Report() {
	now := time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC)
	reg, _ := pg.NewRegistry(&fakeGateway{name: "tosspay"}, &fakeGateway{name: "inicis"})
	router, _ := pg.NewRouter(reg, []pg.Rule{
		{PG: "tosspay", Priority: 10},
		{PG: "inicis", Priority: 0},
	}, pg.RouterConfig{FailureThreshold: 2, CoolDown: time.Minute, Now: func() time.Time { return now }})
	req := pg.RouteRequest{Method: pg.MethodCard, Amount: pg.Won(30_000)}

	maintenance := &pg.Error{PG: "tosspay", Op: "prepare", Kind: pg.KindUnavailable, HTTPStatus: 503}
	router.Report("tosspay", maintenance)
	router.Report("tosspay", maintenance)
	gw, _ := router.Choose(req)
	fmt.Println(router.State("tosspay"), "→", gw.Name())

	now = now.Add(time.Minute)
	gw, _ = router.Choose(req) // the one probe
	fmt.Println(router.State("tosspay"), "→", gw.Name())
	router.Report("tosspay", nil)
	gw, _ = router.Choose(req)
	fmt.Println(router.State("tosspay"), "→", gw.Name())
	// Output:
	// open → inicis
	// half-open → tosspay
	// closed → tosspay
}

// A PG call's error is branched on by kind, never by the PG's own codes.
func ExampleError() {
	outcome := func(err error) string {
		switch {
		case err == nil:
			return "approved"
		case errors.Is(err, pg.ErrDeclined):
			return "declined: the buyer may try again"
		case errors.Is(err, pg.ErrUnavailable):
			return "not processed: try later"
		case errors.Is(err, pg.ErrAlreadyDone):
			return "already done: look it up"
		default:
			return "unknown: look it up, never assume"
		}
	}
	for _, err := range []error{
		nil,
		fmt.Errorf("tosspay: confirm order %q: %w", "o-1", &pg.Error{
			PG: "tosspay", Op: "approve", Kind: pg.KindDeclined, Code: "REJECT_CARD_COMPANY", HTTPStatus: 403,
		}),
		&pg.Error{PG: "kakaopay", Op: "approve", Kind: pg.KindForHTTPStatus(503), HTTPStatus: 503},
		&pg.Error{PG: "tosspay", Op: "approve", Kind: pg.KindAlreadyDone, Code: "ALREADY_PROCESSED_PAYMENT"},
		fmt.Errorf("inicis: approve: %w", context.DeadlineExceeded),
	} {
		fmt.Println(outcome(err))
	}
	// Output:
	// approved
	// declined: the buyer may try again
	// not processed: try later
	// already done: look it up
	// unknown: look it up, never assume
}

func ExampleKindOf() {
	declined := &pg.Error{PG: "tosspay", Op: "approve", Kind: pg.KindDeclined, Code: "EXCEED_MAX_DAILY_PAYMENT_COUNT"}
	fmt.Println(pg.KindOf(fmt.Errorf("approve: %w", declined)).String())
	fmt.Println(pg.KindOf(context.Canceled).String()) // cut short: it may have happened
	fmt.Println(declined)
	// Output:
	// declined
	// unknown
	// tosspay approve: declined EXCEED_MAX_DAILY_PAYMENT_COUNT
}

func ExampleCheckTransition() {
	fmt.Println(pg.CheckTransition(pg.StatusApproved, pg.StatusPartialCanceled))
	// A late webhook saying DONE never revives a canceled payment.
	err := pg.CheckTransition(pg.StatusCanceled, pg.StatusApproved)
	fmt.Println(errors.Is(err, pg.ErrIllegalTransition), err)
	// Output:
	// <nil>
	// true pg: illegal status transition: CANCELED → APPROVED
}

func ExampleRegistry() {
	var reg pg.Registry
	_ = reg.Register(&fakeGateway{name: "tosspay"})
	_ = reg.Register(&fakeGateway{name: "inicis"})
	fmt.Println(reg.Names())
	fmt.Println(reg.Register(&fakeGateway{name: "tosspay"}))

	_, err := reg.Get("kakaopay")
	fmt.Println(errors.Is(err, pg.ErrNoGateway))
	// Output:
	// [inicis tosspay]
	// pg: gateway "tosspay" registered twice
	// true
}
