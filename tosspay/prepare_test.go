package tosspay_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/paygate/paygate/pg"
	"github.com/paygate/paygate/tosspay"
)

func TestValidatePrepare_OrderIDFollowsTossCheckoutRule(t *testing.T) {
	t.Parallel()
	gw, mt := mockGateway(t)
	noCalls(t, mt)
	var v pg.PrepareValidator = gw
	ok := pg.PrepareRequest{OrderID: "order-0001", OrderName: "토스 티셔츠 외 2건", Amount: pg.Won(15000)}

	for _, id := range []string{
		"order1", "a4CWyWY5m89PNh7xJwhk1", "ORDER_2026-03-02_0001", strings.Repeat("x", 64), "------", "123456",
	} {
		req := ok
		req.OrderID = id
		assert.NoError(t, v.ValidatePrepare(req), "%q", id)
	}

	refused := map[string]string{
		"empty":                  "",
		"5 characters":           "order",
		"65 characters":          strings.Repeat("x", 65),
		"Hangul":                 "주문-000001",
		"Hangul, 6 characters":   "주문번호여섯",
		"emoji":                  "order-🛒-0001",
		"path traversal":         "../../v1/payments",
		"slash":                  "order/0001",
		"space":                  "order 0001",
		"leading space":          " order0001",
		"U+0085 next line (C1)":  "order\u00850001",
		"U+009B CSI (C1)":        "order\u009b0001",
		"NUL":                    "order\x000001",
		"tab":                    "order\t0001",
		"DEL":                    "order\x7f0001",
		"dot (unofficial OAS)":   "order.0001",
		"equals sign":            "order=0001",
		"invalid UTF-8":          "order\xff0001",
		"fullwidth letters":      "ｏｒｄｅｒ００１",
		"percent-encoded escape": "order%2F0001",
	}
	for name, id := range refused {
		req := ok
		req.OrderID = id
		err := v.ValidatePrepare(req)
		var pe *pg.Error
		require.ErrorAs(t, err, &pe, name)
		assert.Equal(t, pg.KindInvalid, pe.Kind, name)
		assert.Equal(t, tosspay.CodeInvalidOrderID, pe.Code, name)
		assert.Equal(t, "tosspay", pe.PG, name)
		assert.True(t, errors.Is(err, pg.ErrInvalid), name)
	}
}

func TestValidatePrepare_OrderNameAndAmount(t *testing.T) {
	t.Parallel()
	gw, mt := mockGateway(t)
	noCalls(t, mt)
	ok := pg.PrepareRequest{OrderID: "order-0001", OrderName: "티셔츠", Amount: pg.Won(15000)}
	for name, req := range map[string]pg.PrepareRequest{
		"100 Hangul characters (300 bytes)": {OrderID: ok.OrderID, OrderName: strings.Repeat("가", 100), Amount: ok.Amount},
		"USD, fractional":                   {OrderID: ok.OrderID, OrderName: "shirt", Amount: pg.MustMoney("10.25", pg.USD)},
	} {
		assert.NoError(t, gw.ValidatePrepare(req), name)
	}
	tests := []struct {
		name string
		req  pg.PrepareRequest
		code string
	}{
		{"no order name", pg.PrepareRequest{OrderID: ok.OrderID, Amount: ok.Amount}, tosspay.CodeInvalidOrderName},
		{"blank order name", pg.PrepareRequest{OrderID: ok.OrderID, OrderName: "  ", Amount: ok.Amount}, tosspay.CodeInvalidOrderName},
		{"101 Hangul characters", pg.PrepareRequest{OrderID: ok.OrderID, OrderName: strings.Repeat("가", 101), Amount: ok.Amount}, tosspay.CodeInvalidOrderName},
		{"order name with U+0085", pg.PrepareRequest{OrderID: ok.OrderID, OrderName: "티셔츠\u0085", Amount: ok.Amount}, tosspay.CodeInvalidOrderName},
		{"order name not UTF-8", pg.PrepareRequest{OrderID: ok.OrderID, OrderName: "\xff\xfe", Amount: ok.Amount}, tosspay.CodeInvalidOrderName},
		{"no amount", pg.PrepareRequest{OrderID: ok.OrderID, OrderName: ok.OrderName}, tosspay.CodeInvalidAmount},
		{"zero amount", pg.PrepareRequest{OrderID: ok.OrderID, OrderName: ok.OrderName, Amount: pg.Won(0)}, tosspay.CodeInvalidAmount},
		{"currency Toss refuses", pg.PrepareRequest{OrderID: ok.OrderID, OrderName: ok.OrderName, Amount: pg.MustMoney("10", pg.EUR)}, tosspay.CodeInvalidAmount},
	}
	for _, tt := range tests {
		err := gw.ValidatePrepare(tt.req)
		var pe *pg.Error
		require.ErrorAs(t, err, &pe, tt.name)
		assert.Equal(t, pg.KindInvalid, pe.Kind, tt.name)
		assert.Equal(t, tt.code, pe.Code, tt.name)
	}
}
