package inicis_test

import (
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/paygate/paygate/inicis"
	"github.com/paygate/paygate/pg"
)

func TestPrepare_SignsTheStandardForm(t *testing.T) {
	t.Parallel()
	g := newGateway(t, failTransport{t})
	got, err := g.Prepare(context.Background(), pg.PrepareRequest{
		OrderID: "INIpayTest_1700000000000", OrderName: "테스트 상품", Amount: pg.Won(1000),
		Method: pg.MethodCard, SuccessURL: "https://shop.example/inicis/return", CancelURL: "https://shop.example/inicis/close",
	})
	require.NoError(t, err)
	assert.Equal(t, map[string]string{
		"version": "1.0", "mid": "INIpayTest", "oid": "INIpayTest_1700000000000", "goodname": "테스트 상품",
		"price": "1000", "currency": "WON", "timestamp": "1700000000000",
		"signature":    "92c1060336d63249246b07bb6e747b5f163766e6c047b2024d8118eb7836ff76",
		"verification": "29465561b93f4686098e6e4df1ff6dbabb1894205d43420723d6e2f77deaf2ff",
		"mKey":         "3a9503069192f207491d4b19bd743fc249a761ed94246c8c42fed06c3cd15a33",
		"returnUrl":    "https://shop.example/inicis/return", "closeUrl": "https://shop.example/inicis/close",
		"gopaymethod": "Card", "charset": "UTF-8",
	}, got.Client)
	assert.Equal(t, map[string]string{"mid": "INIpayTest", "oid": "INIpayTest_1700000000000", "price": "1000", "timestamp": "1700000000000"}, got.Data)
	for k, v := range got.Client {
		assert.NotContains(t, v, inicis.TestSignKey, "client field %s leaks the signKey", k)
	}
}

// ValidatePrepare refuses what Inicis would refuse at checkout, naming the
// field in the error's code, and Prepare refuses exactly the same requests
// with the same errors.
func TestValidatePrepare_RefusesWhatInicisWould(t *testing.T) {
	t.Parallel()
	ok := pg.PrepareRequest{OrderID: "order-1", OrderName: "상품", Amount: pg.Won(1000), SuccessURL: "https://shop.example/r"}
	tests := []struct {
		name   string
		change func(*pg.PrepareRequest)
		code   string // "" means accepted
	}{
		{"empty order id", func(r *pg.PrepareRequest) { r.OrderID = "" }, inicis.CodeInvalidOID},
		{"order id with spaces", func(r *pg.PrepareRequest) { r.OrderID = "inicis bad id 1" }, inicis.CodeInvalidOID},
		{"order id with &", func(r *pg.PrepareRequest) { r.OrderID = "o&price=1" }, inicis.CodeInvalidOID},
		{"order id in Korean", func(r *pg.PrepareRequest) { r.OrderID = "주문1" }, inicis.CodeInvalidOID},
		{"order id too long", func(r *pg.PrepareRequest) { r.OrderID = "o123456789012345678901234567890123456789x" }, inicis.CodeInvalidOID},
		{"order id of 40 bytes", func(r *pg.PrepareRequest) { r.OrderID = "o12345678901234567890123456789012345678." }, ""},
		{"order id symbols", func(r *pg.PrepareRequest) { r.OrderID = "A-z_0.9" }, ""},
		{"dollars", func(r *pg.PrepareRequest) { r.Amount = pg.MustMoney("10.00", pg.USD) }, inicis.CodeInvalidPrice},
		{"no amount", func(r *pg.PrepareRequest) { r.Amount = pg.Money{} }, inicis.CodeInvalidPrice},
		{"zero amount", func(r *pg.PrepareRequest) { r.Amount = pg.Won(0) }, inicis.CodeInvalidPrice},
		{"below minimum", func(r *pg.PrepareRequest) { r.Amount = pg.Won(999) }, inicis.CodeInvalidPrice},
		{"tax free above amount", func(r *pg.PrepareRequest) { r.TaxFree = pg.Won(1001) }, inicis.CodeInvalidTaxFree},
		{"tax free in dollars", func(r *pg.PrepareRequest) { r.TaxFree = pg.MustMoney("1.00", pg.USD) }, inicis.CodeInvalidTaxFree},
		{"no name", func(r *pg.PrepareRequest) { r.OrderName = "" }, inicis.CodeInvalidGoodname},
		{"name with a newline", func(r *pg.PrepareRequest) { r.OrderName = "상품\n2" }, inicis.CodeInvalidGoodname},
		{"name not UTF-8", func(r *pg.PrepareRequest) { r.OrderName = "\xff\xfe" }, inicis.CodeInvalidGoodname},
		{"name of 40 ASCII bytes", func(r *pg.PrepareRequest) { r.OrderName = strings.Repeat("a", 40) }, ""},
		{"name of 41 ASCII bytes", func(r *pg.PrepareRequest) { r.OrderName = strings.Repeat("a", 41) }, inicis.CodeInvalidGoodname},
		{"name of 20 Korean characters", func(r *pg.PrepareRequest) { r.OrderName = strings.Repeat("가", 20) }, ""},
		{"name of 21 Korean characters", func(r *pg.PrepareRequest) { r.OrderName = strings.Repeat("가", 21) }, inicis.CodeInvalidGoodname},
		{"relative return URL", func(r *pg.PrepareRequest) { r.SuccessURL = "/return" }, inicis.CodeInvalidReturnURL},
		{"no return URL", func(r *pg.PrepareRequest) { r.SuccessURL = "" }, inicis.CodeInvalidReturnURL},
		{"bad close URL", func(r *pg.PrepareRequest) { r.CancelURL = "javascript:alert(1)" }, inicis.CodeInvalidCloseURL},
		{"bad fail URL as close URL", func(r *pg.PrepareRequest) { r.FailURL = "ftp://x" }, inicis.CodeInvalidCloseURL},
		{"unsupported method", func(r *pg.PrepareRequest) { r.Method = pg.MethodMoney }, inicis.CodeInvalidGoPayMethod},
		{"mobile web", func(r *pg.PrepareRequest) { r.Device = pg.DeviceMobile }, ""},
		{"app", func(r *pg.PrepareRequest) { r.Device = pg.DeviceApp }, ""},
		{"tablet", func(r *pg.PrepareRequest) { r.Device = "tablet" }, inicis.CodeUnsupportedDevice},
		{"mobile, easy pay", func(r *pg.PrepareRequest) { r.Device, r.Method = pg.DeviceMobile, pg.MethodEasyPay }, inicis.CodeInvalidGoPayMethod},
		{"mobile, name of 41 bytes", func(r *pg.PrepareRequest) { r.Device, r.OrderName = pg.DeviceMobile, strings.Repeat("a", 41) }, inicis.CodeInvalidGoodname},
		{"app, bad oid", func(r *pg.PrepareRequest) { r.Device, r.OrderID = pg.DeviceApp, "a b" }, inicis.CodeInvalidOID},
		{"pc", func(r *pg.PrepareRequest) { r.Device = pg.DevicePC }, ""},
		{"customer id is not sent to Inicis", func(r *pg.PrepareRequest) { r.CustomerID = strings.Repeat("c", 200) }, ""},
	}
	g := newGateway(t, failTransport{t})
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req := ok
			tc.change(&req)
			verr := g.ValidatePrepare(req)
			_, perr := g.Prepare(context.Background(), req)
			if tc.code == "" {
				assert.NoError(t, verr)
				assert.NoError(t, perr)
				return
			}
			var pe *pg.Error
			require.ErrorAs(t, verr, &pe)
			assert.Equal(t, pg.KindInvalid, pe.Kind)
			assert.Equal(t, tc.code, pe.Code, verr.Error())
			assert.Equal(t, "inicis", pe.PG)
			assert.Equal(t, verr, perr, "Prepare refuses it the same way")
		})
	}

	small := newGateway(t, failTransport{t}, func(c *inicis.Config) { c.AcceptMethod = "below1000" })
	req := ok
	req.Amount = pg.Won(500)
	require.NoError(t, small.ValidatePrepare(req))
	got, err := small.Prepare(context.Background(), req)
	require.NoError(t, err)
	assert.Equal(t, "below1000", got.Client["acceptmethod"])
}
