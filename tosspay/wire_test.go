package tosspay_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/jarcoal/httpmock"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/paygate/paygate/pg"
	"github.com/paygate/paygate/tosspay"
)

// The docs' test key and its documented Basic value (pg-apis.md 1.0).
const (
	docsSecretKey = "test_sk_zXLkKEypNArWmo50nX3lmeaxYG5R"
	docsAuth      = "Basic dGVzdF9za196WExrS0V5cE5BcldtbzUwblgzbG1lYXhZRzVSOg=="
	api           = "https://api.tosspayments.com"
	paymentKey    = "5EnNZRJGvaBX7zk2yd8ydw26XvwXkLrx9POLqKQjmAw4b0e1"
	orderID       = "a4CWyWY5m89PNh7xJwhk1"
)

func golden(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	require.NoError(t, err)
	return b
}

// seen is one request as it left the adapter.
type seen struct {
	Method string
	URL    string
	Header http.Header
	Body   []byte
}

// recorder answers every request with status and body and records it.
type recorder struct {
	mu   sync.Mutex
	reqs []seen
}

func (r *recorder) responder(status int, body []byte) httpmock.Responder {
	return func(req *http.Request) (*http.Response, error) {
		var b []byte
		if req.Body != nil {
			b, _ = io.ReadAll(req.Body)
		}
		r.mu.Lock()
		r.reqs = append(r.reqs, seen{req.Method, req.URL.String(), req.Header.Clone(), b})
		r.mu.Unlock()
		resp := httpmock.NewBytesResponse(status, body)
		resp.Header.Set("Content-Type", "application/json")
		return resp, nil
	}
}

func (r *recorder) only(t *testing.T) seen {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	require.Len(t, r.reqs, 1)
	return r.reqs[0]
}

func assertBody(t *testing.T, goldenName string, got []byte) {
	t.Helper()
	assert.Equal(t, string(bytes.TrimSpace(golden(t, goldenName))), string(got), "request body must match testdata/%s byte for byte", goldenName)
}

func TestDecode_EveryPaymentShape(t *testing.T) {
	t.Parallel()
	kst := time.FixedZone("KST", 9*3600)
	tests := []struct {
		file     string
		status   pg.Status
		pgStatus string
		method   pg.Method
		amount   pg.Money
		balance  pg.Money
		cancels  []pg.CancelRecord
		check    func(t *testing.T, p *pg.Payment)
	}{
		{"payment_done.json", pg.StatusApproved, "DONE", pg.MethodCard, pg.Won(1000), pg.Won(1000), nil, nil},
		{"payment_in_progress.json", pg.StatusPending, "IN_PROGRESS", "", pg.Won(1000), pg.Won(1000), nil, func(t *testing.T, p *pg.Payment) {
			assert.True(t, p.ApprovedAt.IsZero())
		}},
		{"payment_aborted.json", pg.StatusFailed, "ABORTED", pg.MethodCard, pg.Won(1000), pg.Won(1000), nil, func(t *testing.T, p *pg.Payment) {
			assert.Equal(t, "COMMON_ERROR", p.Data["failureCode"])
		}},
		{"payment_partial_canceled.json", pg.StatusPartialCanceled, "PARTIAL_CANCELED", pg.MethodCard, pg.Won(1000), pg.Won(700),
			[]pg.CancelRecord{{TransactionKey: "B7103F204998813B889C77C043D09502", Amount: pg.Won(300), Reason: "고객 변심", CanceledAt: time.Date(2024, 2, 13, 12, 20, 23, 0, kst)}}, nil},
		{"payment_canceled.json", pg.StatusCanceled, "CANCELED", pg.MethodCard, pg.Won(1000), pg.Won(0),
			[]pg.CancelRecord{
				{TransactionKey: "B7103F204998813B889C77C043D09502", Amount: pg.Won(300), Reason: "고객 변심", CanceledAt: time.Date(2024, 2, 13, 12, 20, 23, 0, kst)},
				{TransactionKey: "C1", Amount: pg.Won(700), Reason: "고객 변심", CanceledAt: time.Date(2024, 2, 13, 12, 25, 0, 0, kst)},
			}, nil},
		{"payment_waiting_for_deposit.json", pg.StatusWaitingForDeposit, "WAITING_FOR_DEPOSIT", pg.MethodVirtualAccount, pg.Won(1000), pg.Won(1000), nil, func(t *testing.T, p *pg.Payment) {
			require.NotNil(t, p.VirtualAccount)
			assert.Equal(t, "20", p.VirtualAccount.Bank)
			assert.Equal(t, "X6505636518308", p.VirtualAccount.AccountNumber)
			assert.Equal(t, "박토스", p.VirtualAccount.HolderName)
			assert.True(t, p.VirtualAccount.DueDate.Equal(time.Date(2024, 2, 20, 23, 59, 59, 0, kst)))
			assert.Equal(t, "ps_Z1aOwX7K8m2qjeLAw4b0e1gl", p.Secret)
		}},
		{"payment_usd.json", pg.StatusApproved, "DONE", pg.MethodEasyPay, pg.MustMoney("10.25", pg.USD), pg.MustMoney("10.25", pg.USD), nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			t.Parallel()
			gw, mt := mockGateway(t)
			mt.RegisterResponder(http.MethodGet, api+"/v1/payments/"+paymentKey, httpmock.NewBytesResponder(200, golden(t, tt.file)))
			p, err := gw.Lookup(context.Background(), pg.LookupRequest{PaymentKey: paymentKey})
			require.NoError(t, err)
			assert.Equal(t, tt.status, p.Status)
			assert.Equal(t, tt.pgStatus, p.PGStatus)
			assert.Equal(t, tt.method, p.Method)
			assert.True(t, tt.amount.Equal(p.Amount), "amount %s", p.Amount)
			assert.True(t, tt.balance.Equal(p.Balance), "balance %s", p.Balance)
			require.Len(t, p.Cancels, len(tt.cancels), "only applied (DONE) cancels are reported")
			for i, c := range tt.cancels {
				assert.Equal(t, c.TransactionKey, p.Cancels[i].TransactionKey)
				assert.True(t, c.Amount.Equal(p.Cancels[i].Amount))
				assert.Equal(t, c.Reason, p.Cancels[i].Reason)
				assert.True(t, c.CanceledAt.Equal(p.Cancels[i].CanceledAt))
			}
			if tt.check != nil {
				tt.check(t, p)
			}
		})
	}
}

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
