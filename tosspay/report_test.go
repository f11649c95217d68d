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
	gw, mt := mockGateway(t, tosspay.WithReportPageSize(2))
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
	gw, mt := mockGateway(t, tosspay.WithReportPageSize(2))
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
	assert.True(t, pg.Won(5000).Equal(rows[1].Amount), "a cancel row by magnitude")
	assert.True(t, pg.Won(150).Equal(rows[1].Fee))
}

func TestReports_ErrorsAndBadRanges(t *testing.T) {
	t.Parallel()
	gw, mt := mockGateway(t, tosspay.WithRetry(1, time.Millisecond, time.Millisecond))
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
