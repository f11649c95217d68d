package tosspay_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/jarcoal/httpmock"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/paygate/paygate/pg"
	"github.com/paygate/paygate/tosspay"
)

var kst = time.FixedZone("KST", 9*3600)

func day(y int, m time.Month, d int) pg.ReportQuery {
	from := time.Date(y, m, d, 0, 0, 0, 0, kst)
	return pg.ReportQuery{From: from, To: from.Add(24*time.Hour - time.Second)}
}

func TestTransactions_Wire_PagedByStartingAfter(t *testing.T) {
	t.Parallel()
	gw, mt := mockGateway(t, func(c *tosspay.Config) { c.ReportPageSize = 2 })
	rec := &recorder{}
	mt.RegisterResponder(http.MethodGet, api+"/v1/transactions",
		func(r *http.Request) (*http.Response, error) {
			if r.URL.Query().Get("startingAfter") == "" {
				return rec.responder(200, golden(t, "transactions.json"))(r)
			}
			return rec.responder(200, []byte(`[]`))(r)
		})
	txs, err := gw.Transactions(context.Background(), day(2022, 1, 1))
	require.NoError(t, err)
	require.Len(t, rec.reqs, 2)
	assert.Equal(t, api+"/v1/transactions?endDate=2022-01-01T23%3A59%3A59&limit=2&startDate=2022-01-01T00%3A00%3A00", rec.reqs[0].URL)
	assert.Equal(t, api+"/v1/transactions?endDate=2022-01-01T23%3A59%3A59&limit=2&startDate=2022-01-01T00%3A00%3A00&startingAfter=T2", rec.reqs[1].URL)
	assert.Equal(t, docsAuth, rec.reqs[0].Header.Get("Authorization"))

	require.Len(t, txs, 2)
	assert.Equal(t, "T1", txs[0].TransactionKey)
	assert.False(t, txs[0].Cancel)
	assert.Equal(t, pg.StatusApproved, txs[0].Status)
	assert.True(t, pg.Won(15000).Equal(txs[0].Amount))
	assert.Equal(t, "T2", txs[1].TransactionKey)
	assert.True(t, txs[1].Cancel)
	assert.True(t, pg.Won(5000).Equal(txs[1].Amount))
	assert.True(t, txs[1].At.Equal(time.Date(2022, 1, 1, 11, 0, 0, 0, kst)))
	assert.Equal(t, pg.MethodCard, txs[1].Method)
}

func TestSettlements_Wire_PagedBySizeAndFeesSummed(t *testing.T) {
	t.Parallel()
	gw, mt := mockGateway(t, func(c *tosspay.Config) { c.ReportPageSize = 2 })
	rec := &recorder{}
	mt.RegisterResponder(http.MethodGet, api+"/v1/settlements", func(r *http.Request) (*http.Response, error) {
		if r.URL.Query().Get("page") == "1" {
			return rec.responder(200, golden(t, "settlements.json"))(r)
		}
		return rec.responder(200, []byte(`[]`))(r)
	})
	rows, err := gw.Settlements(context.Background(), day(2022, 1, 1))
	require.NoError(t, err)
	require.Len(t, rec.reqs, 2)
	assert.Equal(t, api+"/v1/settlements?dateType=soldDate&endDate=2022-01-01&page=1&size=2&startDate=2022-01-01", rec.reqs[0].URL)
	assert.Equal(t, api+"/v1/settlements?dateType=soldDate&endDate=2022-01-01&page=2&size=2&startDate=2022-01-01", rec.reqs[1].URL)
	require.Len(t, rows, 2)
	assert.True(t, pg.Won(15000).Equal(rows[0].Amount))
	assert.True(t, pg.Won(480).Equal(rows[0].Fee), "BASE + INSTALLMENT: %s", rows[0].Fee)
	assert.True(t, pg.Won(14520).Equal(rows[0].Payout))
	assert.True(t, rows[0].SoldDate.Equal(time.Date(2022, 1, 1, 0, 0, 0, 0, kst)))
	assert.True(t, rows[0].PaidOutAt.Equal(time.Date(2022, 1, 3, 0, 0, 0, 0, kst)))
	assert.False(t, rows[0].Cancel)
	assert.True(t, pg.Won(5000).Equal(rows[1].Amount), "a cancel row by magnitude")
	assert.True(t, pg.Won(150).Equal(rows[1].Fee))
	assert.True(t, rows[1].Cancel, "marked as the cancel it is")
}

func TestReports_ErrorsAndBadRanges(t *testing.T) {
	t.Parallel()
	gw, mt := mockGateway(t, sendOnce)
	mt.RegisterNoResponder(httpmock.NewStringResponder(400, `{"code":"INVALID_REQUEST","message":"잘못된 dateType"}`))
	_, err := gw.Settlements(context.Background(), day(2022, 1, 1))
	assert.Equal(t, pg.KindInvalid, pg.KindOf(err), "%v", err)
	_, err = gw.Transactions(context.Background(), pg.ReportQuery{})
	assert.Equal(t, pg.KindInvalid, pg.KindOf(err))
	q := day(2022, 1, 2)
	q.From, q.To = q.To, q.From
	_, err = gw.Settlements(context.Background(), q)
	assert.Equal(t, pg.KindInvalid, pg.KindOf(err))
	assert.Equal(t, 1, mt.GetTotalCallCount())
}

// Live settlement answers carry the total in a top-level fee, and some
// have no fees[] at all: such a sale's fee is fee, not 0.
func TestSettlements_Wire_TopLevelFee_WithAndWithoutFeesArray(t *testing.T) {
	t.Parallel()
	gw, mt := mockGateway(t)
	mt.RegisterResponder(http.MethodGet, api+"/v1/settlements", httpmock.NewBytesResponder(200, golden(t, "settlements_fee_total.json")))
	rows, err := gw.Settlements(context.Background(), day(2022, 1, 1))
	require.NoError(t, err)
	require.Len(t, rows, 3)
	assert.True(t, pg.Won(480).Equal(rows[0].Fee), "fee without fees[]: %s", rows[0].Fee)
	assert.True(t, pg.Won(14520).Equal(rows[0].Payout))
	assert.True(t, pg.Won(640).Equal(rows[1].Fee), "fee with fees[]: %s", rows[1].Fee)
	assert.Equal(t, pg.MethodEasyPay, rows[1].Method)
	assert.False(t, rows[0].Cancel || rows[1].Cancel, "sales")
	assert.True(t, rows[2].Cancel, "a cancel")
	assert.True(t, pg.Won(5000).Equal(rows[2].Amount), "a cancel by magnitude")
	assert.True(t, pg.Won(150).Equal(rows[2].Fee), "a cancel's negative fee by magnitude: %s", rows[2].Fee)
	assert.True(t, pg.Won(4850).Equal(rows[2].Payout))
}

func TestSettlements_FeeShapes(t *testing.T) {
	t.Parallel()
	row := func(fees string) string {
		return `[{"paymentKey":"pk","orderId":"order-0001","currency":"KRW","method":"카드","amount":10000,` + fees +
			`"payOutAmount":9680,"soldDate":"2022-01-01","paidOutDate":"2022-01-03"}]`
	}
	tests := []struct {
		name string
		body string
		want pg.Money // unset: no fee reported
	}{
		{"fee wins over fees[]", row(`"fee":320,"fees":[{"type":"BASE","fee":300}],`), pg.Won(320)},
		{"fee null: fees[] summed", row(`"fee":null,"fees":[{"type":"BASE","fee":300},{"type":"INSTALLMENT","fee":20}],`), pg.Won(320)},
		{"fee as a string", row(`"fee":"320",`), pg.Won(320)},
		{"empty fees[] and no fee: a fee of 0", row(`"fees":[],`), pg.Won(0)},
		{"neither: unknown, not 0", row(``), pg.Money{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			gw, mt := mockGateway(t)
			mt.RegisterNoResponder(httpmock.NewStringResponder(200, tt.body))
			rows, err := gw.Settlements(context.Background(), day(2022, 1, 1))
			require.NoError(t, err)
			require.Len(t, rows, 1)
			if !tt.want.IsSet() {
				assert.False(t, rows[0].Fee.IsSet(), "fee %s", rows[0].Fee)
				return
			}
			assert.True(t, tt.want.Equal(rows[0].Fee), "fee %s", rows[0].Fee)
		})
	}
	gw, mt := mockGateway(t)
	mt.RegisterNoResponder(httpmock.NewStringResponder(200, row(`"fee":"abc",`)))
	_, err := gw.Settlements(context.Background(), day(2022, 1, 1))
	assert.ErrorIs(t, err, tosspay.ErrMalformed, "an unreadable fee is an error, not a fee of 0")
}
