package tosspay_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/jarcoal/httpmock"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/paygate/paygate/pg"
	"github.com/paygate/paygate/tosspay"
)

// Merchants pinned to API version 1.4 (or a version before 2022-11-16) get
// institutions by name, the latest transaction as transactionKey and easyPay
// as a bare string. The goldens are such bodies; both shapes must read.
func TestDecode_OldVersionBodies(t *testing.T) {
	t.Parallel()
	kst := time.FixedZone("KST", 9*3600)
	tests := []struct {
		file  string
		check func(t *testing.T, p *pg.Payment)
	}{
		{"payment_v1_4_card_easypay.json", func(t *testing.T, p *pg.Payment) {
			assert.Equal(t, pg.StatusApproved, p.Status)
			assert.Equal(t, pg.MethodEasyPay, p.Method)
			assert.Equal(t, map[string]string{
				tosspay.DataCardCompany:        "현대",
				tosspay.DataEasyPayProvider:    "토스페이",
				tosspay.DataLastTransactionKey: "01BDC3BE5C7EFB174EF4E551833E591C",
			}, p.Data)
			assert.Empty(t, p.Secret, "secret: null")
		}},
		{"payment_v1_4_virtual_account.json", func(t *testing.T, p *pg.Payment) {
			assert.Equal(t, pg.StatusWaitingForDeposit, p.Status)
			require.NotNil(t, p.VirtualAccount)
			assert.Equal(t, "우리", p.VirtualAccount.Bank, "the bank's name when no code came")
			assert.Equal(t, "X6505636518308", p.VirtualAccount.AccountNumber)
			assert.Equal(t, "박토스", p.VirtualAccount.HolderName)
			assert.True(t, p.VirtualAccount.DueDate.Equal(time.Date(2021, 11, 22, 23, 59, 59, 0, kst)))
			assert.Equal(t, "우리", p.Data[tosspay.DataBankName])
			assert.NotContains(t, p.Data, tosspay.DataBankCode)
			assert.Equal(t, "A7E0C1F2B3D4E5F60718293A4B5C6D7E", p.Data[tosspay.DataLastTransactionKey])
		}},
		{"payment_v1_4_transfer_canceled.json", func(t *testing.T, p *pg.Payment) {
			assert.Equal(t, pg.StatusPartialCanceled, p.Status)
			assert.Equal(t, pg.MethodTransfer, p.Method)
			assert.True(t, pg.Won(700).Equal(p.Balance))
			require.Len(t, p.Cancels, 1, "a cancel without cancelStatus (older versions) is an applied one")
			assert.True(t, pg.Won(300).Equal(p.Cancels[0].Amount))
			assert.Equal(t, "신한", p.Data[tosspay.DataBankName])
		}},
		// The current shape, for comparison: codes, not names.
		{"payment_done.json", func(t *testing.T, p *pg.Payment) {
			assert.Equal(t, map[string]string{
				tosspay.DataCardIssuerCode:     "71",
				tosspay.DataCardAcquirerCode:   "71",
				tosspay.DataEasyPayProvider:    "토스페이",
				tosspay.DataLastTransactionKey: "9C62B18EEF0DE3EB7F4422EB6D14BC6E",
			}, p.Data)
		}},
		{"payment_waiting_for_deposit.json", func(t *testing.T, p *pg.Payment) {
			require.NotNil(t, p.VirtualAccount)
			assert.Equal(t, "20", p.VirtualAccount.Bank)
			assert.Equal(t, "20", p.Data[tosspay.DataBankCode])
			assert.NotContains(t, p.Data, tosspay.DataBankName)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			t.Parallel()
			gw, mt := mockGateway(t)
			mt.RegisterResponder(http.MethodGet, api+"/v1/payments/"+paymentKey, httpmock.NewBytesResponder(200, golden(t, tt.file)))
			p, err := gw.Lookup(context.Background(), pg.LookupRequest{PaymentKey: paymentKey, OrderID: orderID})
			require.NoError(t, err)
			assert.Equal(t, orderID, p.OrderID)
			tt.check(t, p)
		})
	}
}

// The informational objects never fail a payment, whatever their shape.
func TestDecode_InstitutionFieldsOfUnexpectedShape_Ignored(t *testing.T) {
	t.Parallel()
	for _, extra := range []string{
		`"card":"현대","easyPay":{"provider":7},"transfer":[1]`,
		`"card":{"issuerCode":61},"easyPay":12,"transfer":"신한"`,
		`"card":null,"easyPay":null,"transfer":null`,
	} {
		body := `{"paymentKey":"` + paymentKey + `","orderId":"` + orderID + `","status":"DONE","totalAmount":1000,` + extra + `}`
		gw, mt := mockGateway(t)
		mt.RegisterNoResponder(httpmock.NewStringResponder(200, body))
		p, err := gw.Lookup(context.Background(), pg.LookupRequest{PaymentKey: paymentKey})
		require.NoError(t, err, extra)
		assert.Equal(t, pg.StatusApproved, p.Status, extra)
		assert.NotContains(t, p.Data, tosspay.DataCardIssuerCode, extra)
	}
}

func TestParseWebhook_OldVersionPaymentVerifiedBySecret(t *testing.T) {
	t.Parallel()
	gw, mt := mockGateway(t)
	noCalls(t, mt)
	data := golden(t, "payment_v1_4_virtual_account.json")
	body := append(append([]byte(`{"eventType":"PAYMENT_STATUS_CHANGED","createdAt":"2021-11-15T15:19:38.000000","data":`), data...), '}')
	ev, err := gw.ParseWebhook(context.Background(), pg.WebhookRequest{Body: body, Secret: storedSecret(paymentKey, orderID, "ps_Z1aOwX7K8m2qjeLAw4b0e1gl")})
	require.NoError(t, err)
	require.NotNil(t, ev.Payment)
	assert.Equal(t, "우리", ev.Payment.VirtualAccount.Bank)

	// The transaction key, under its old name, tells news apart.
	other := []byte(strings.Replace(string(body), "A7E0C1F2B3D4E5F60718293A4B5C6D7E", "B7E0C1F2B3D4E5F60718293A4B5C6D7E", 1))
	ev2, err := gw.ParseWebhook(context.Background(), pg.WebhookRequest{Body: other, Secret: storedSecret(paymentKey, orderID, "ps_Z1aOwX7K8m2qjeLAw4b0e1gl")})
	require.NoError(t, err)
	assert.NotEqual(t, ev.DedupKey, ev2.DedupKey)
}
