package inicis_test

import (
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jarcoal/httpmock"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/paygate/paygate/pg"
)

var kst = time.FixedZone("KST", 9*3600)

func golden(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "inquiry", name))
	require.NoError(t, err)
	return string(b)
}

// lookupAnswer runs Lookup against one inquiry answer.
func lookupAnswer(t *testing.T, body string) (*pg.Payment, error) {
	t.Helper()
	mt := httpmock.NewMockTransport()
	mt.RegisterResponder(http.MethodPost, apiBase+"inquiry", httpmock.NewStringResponder(200, body))
	return newGateway(t, mt).Lookup(context.Background(), pg.LookupRequest{OrderID: "order-1"})
}

// The inquiry answers in testdata/inquiry have the shape production
// integrations read (availablePartCancel as a boolean, vacctInfo with the
// deposit status); each is mapped onto the status the flow acts on. An
// issued virtual account reports APPROVAL like a paid one: only its deposit
// status tells them apart.
func TestLookup_GoldenInquiryAnswers(t *testing.T) {
	t.Parallel()
	tests := []struct {
		file         string
		status       pg.Status
		method       pg.Method
		balance      int64
		cancels      []int64
		approvedAt   time.Time
		partCancel   string // Data["availablePartCancel"]
		account      string // VirtualAccount.AccountNumber, "" for none
		depositState string // Data["depositStatus"]
	}{
		{file: "card_approved.json", status: pg.StatusApproved, method: pg.MethodCard, balance: 10000,
			approvedAt: time.Date(2023, 11, 15, 7, 13, 20, 0, kst), partCancel: "true"},
		{file: "vbank_issued_unpaid.json", status: pg.StatusWaitingForDeposit, method: pg.MethodVirtualAccount, balance: 0,
			approvedAt: time.Date(2023, 11, 15, 7, 13, 20, 0, kst), partCancel: "false", account: "90012345678901", depositState: "N"},
		{file: "vbank_deposited.json", status: pg.StatusApproved, method: pg.MethodVirtualAccount, balance: 10000,
			approvedAt: time.Date(2023, 11, 16, 10, 15, 0, 0, kst), partCancel: "true", account: "90012345678901", depositState: "Y"},
		{file: "canceled.json", status: pg.StatusCanceled, method: pg.MethodCard, balance: 0, cancels: []int64{10000},
			approvedAt: time.Date(2023, 11, 15, 7, 13, 20, 0, kst), partCancel: "false"},
		{file: "partially_canceled.json", status: pg.StatusPartialCanceled, method: pg.MethodCard, balance: 6000, cancels: []int64{3000, 1000},
			approvedAt: time.Date(2023, 11, 15, 7, 13, 20, 0, kst), partCancel: "true"},
		// No paymethod, no vacctInfo, no dates: the tid's prefix says it is
		// a virtual account, and nothing says it was paid.
		{file: "fields_absent.json", status: pg.StatusWaitingForDeposit, method: pg.MethodVirtualAccount, balance: 0},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			t.Parallel()
			p, err := lookupAnswer(t, golden(t, tc.file))
			require.NoError(t, err)
			assert.Equal(t, tc.status, p.Status)
			assert.Equal(t, tc.method, p.Method)
			assert.True(t, p.Amount.Equal(pg.Won(10000)), p.Amount.String())
			assert.Equal(t, tc.balance, p.Balance.Int64())
			var cancels []int64
			for _, c := range p.Cancels {
				cancels = append(cancels, c.Amount.Int64())
			}
			assert.Equal(t, tc.cancels, cancels)
			assert.True(t, p.ApprovedAt.Equal(tc.approvedAt), "approvedAt %s", p.ApprovedAt)
			assert.Equal(t, tc.partCancel, p.Data["availablePartCancel"])
			assert.Equal(t, tc.depositState, p.Data["depositStatus"])
			if tc.account == "" {
				assert.Nil(t, p.VirtualAccount)
			} else {
				require.NotNil(t, p.VirtualAccount)
				assert.Equal(t, tc.account, p.VirtualAccount.AccountNumber)
				assert.Equal(t, "04", p.VirtualAccount.Bank)
				assert.Equal(t, time.Date(2023, 11, 18, 0, 0, 0, 0, kst).Unix(), p.VirtualAccount.DueDate.Unix())
			}
			if p.Status == pg.StatusWaitingForDeposit {
				assert.False(t, p.Status.Captured(), "an unpaid account is not captured")
			}
		})
	}
}

// Variations of the golden answers: what is present must make sense, and
// nothing unknown is read as paid.
func TestLookup_VirtualAccountDepositStatus(t *testing.T) {
	t.Parallel()
	deposited := golden(t, "vbank_deposited.json")
	unpaid := golden(t, "vbank_issued_unpaid.json")
	tests := []struct {
		name   string
		body   string
		status pg.Status
		kind   pg.Kind
	}{
		{name: "unknown deposit status is not guessed", kind: pg.KindInvalid,
			body: replace(t, deposited, `"depositStatus": "Y"`, `"depositStatus": "P"`)},
		{name: "deposit of another amount", kind: pg.KindInvalid,
			body: replace(t, deposited, `"depositAmount": "10000"`, `"depositAmount": "1000"`)},
		{name: "unreadable deposit date", kind: pg.KindInvalid,
			body: replace(t, deposited, `"depositDate": "20231116"`, `"depositDate": "2023-11-16"`)},
		{name: "deposit status absent reads as not paid", status: pg.StatusWaitingForDeposit,
			body: replace(t, deposited, `"depositStatus": "Y",`, ``)},
		{name: "paymethod absent, the account's details say what it is", status: pg.StatusWaitingForDeposit,
			body: replace(t, replace(t, unpaid, `"paymethod": "VBank",`, ``), `"tid": "StdpayVBNK`, `"tid": "StdpayXXXX`)},
		{name: "deposited without amount or time still reads as paid", status: pg.StatusApproved,
			body: replace(t, replace(t, deposited, `"depositAmount": "10000"`, `"depositAmount": ""`), `"depositDate": "20231116"`, `"depositDate": ""`)},
		{name: "partial cancels of an unpaid account make no sense", kind: pg.KindInvalid,
			body: replace(t, unpaid, `"transactionStatus": "APPROVAL"`,
				`"transactionStatus": "PART_CANCEL", "partCancelTransInfo": [{"tid":"P1","requestDate":"20231115","requestTime":"100000","requestPrice":"3000"}]`)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p, err := lookupAnswer(t, tc.body)
			if tc.status == "" {
				require.Error(t, err)
				assert.Equal(t, tc.kind, pg.KindOf(err), err.Error())
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.status, p.Status)
			assert.Equal(t, pg.MethodVirtualAccount, p.Method)
		})
	}
}

// An account canceled before anything was paid into it refunded nothing:
// it is canceled, with no cancel of money recorded.
func TestLookup_VirtualAccountCanceledUnpaidRefundedNothing(t *testing.T) {
	t.Parallel()
	body := replace(t, golden(t, "vbank_issued_unpaid.json"), `"transactionStatus": "APPROVAL"`,
		`"transactionStatus": "CANCEL", "cancelDate": "20231116", "cancelTime": "120000"`)
	p, err := lookupAnswer(t, body)
	require.NoError(t, err)
	assert.Equal(t, pg.StatusCanceled, p.Status)
	assert.Empty(t, p.Cancels)
	assert.True(t, p.Balance.IsZero())

	paidThenRefunded := replace(t, golden(t, "vbank_deposited.json"), `"transactionStatus": "APPROVAL"`,
		`"transactionStatus": "CANCEL", "cancelDate": "20231117", "cancelTime": "120000"`)
	p, err = lookupAnswer(t, paidThenRefunded)
	require.NoError(t, err)
	assert.Equal(t, pg.StatusCanceled, p.Status)
	require.Len(t, p.Cancels, 1)
	assert.Equal(t, int64(10000), p.Cancels[0].Amount.Int64())
}

func replace(t *testing.T, s, old, new string) string {
	t.Helper()
	require.Contains(t, s, old)
	return strings.Replace(s, old, new, 1)
}

func TestLookup_ResponseShapes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		body      string
		status    int
		want      pg.Status
		balance   int64
		cancels   int
		kind      pg.Kind
		lookupTID bool
	}{
		{name: "approved (SUCCESS code as in third-party fixtures)", status: 200, want: pg.StatusApproved, balance: 10000,
			body: `{"resultCode":"SUCCESS","resultMsg":"OK","tid":"` + tid + `","mid":"INIpayTest","oid":"order-1","price":"10000","paymethod":"Card","transactionStatus":"APPROVAL","approvedDate":"20231115","approvedTime":"071320","cardInfo":{"approvedNumber":"30001234","currencyCode":"WON"}}`},
		{name: "partially canceled with numeric amounts", status: 200, want: pg.StatusPartialCanceled, balance: 6000, cancels: 2,
			body: `{"resultCode":"00","tid":"` + tid + `","mid":"INIpayTest","oid":"order-1","price":10000,"paymethod":"Card","transactionStatus":"PART_CANCEL","approvedDate":"20231115","approvedTime":"071320",
"availablePartCancelPrice":6000,"partCancelTransInfo":[{"tid":"P2","requestDate":"20231116","requestTime":"100000","requestPrice":"1000"},{"tid":"P1","requestDate":"20231115","requestTime":"100000","requestPrice":3000}]}`},
		{name: "canceled after a partial", status: 200, want: pg.StatusCanceled, balance: 0, cancels: 2,
			body: `{"resultCode":"00","tid":"` + tid + `","mid":"INIpayTest","oid":"order-1","price":"10000","paymethod":"Card","transactionStatus":"CANCEL","approvedDate":"20231115","approvedTime":"071320","cancelDate":"20231116","cancelTime":"120000",
"partCancelTransInfo":[{"tid":"P1","requestDate":"20231115","requestTime":"100000","requestPrice":"3000"}]}`},
		{name: "virtual account waiting", status: 200, want: pg.StatusWaitingForDeposit, balance: 0,
			body: `{"resultCode":"00","tid":"` + tid + `","mid":"INIpayTest","oid":"order-1","price":"10000","paymethod":"VBank","transactionStatus":"READY","approvedDate":"20231115","approvedTime":"071320"}`},
		{name: "unknown transactionStatus is not guessed", status: 200, kind: pg.KindInvalid,
			body: `{"resultCode":"00","tid":"` + tid + `","mid":"INIpayTest","oid":"order-1","price":"10000","transactionStatus":"HOLD"}`},
		{name: "partials above the price", status: 200, kind: pg.KindInvalid,
			body: `{"resultCode":"00","tid":"` + tid + `","oid":"order-1","price":"1000","transactionStatus":"PART_CANCEL","partCancelTransInfo":[{"tid":"P1","requestDate":"20231115","requestTime":"100000","requestPrice":"3000"}]}`},
		{name: "another order's record", status: 200, kind: pg.KindInvalid,
			body: `{"resultCode":"00","tid":"` + tid + `","mid":"INIpayTest","oid":"order-2","price":"10000","transactionStatus":"APPROVAL"}`},
		{name: "another merchant's record", status: 200, kind: pg.KindInvalid,
			body: `{"resultCode":"00","tid":"` + tid + `","mid":"other00000","oid":"order-1","price":"10000","transactionStatus":"APPROVAL"}`},
		{name: "another tid than asked", status: 200, kind: pg.KindInvalid, lookupTID: true,
			body: `{"resultCode":"00","tid":"StdpayCARDINIpayTest20231115071320999999","mid":"INIpayTest","oid":"order-1","price":"10000","transactionStatus":"APPROVAL"}`},
		{name: "not found", status: 200, kind: pg.KindNotFound, body: `{"resultCode":"400604","resultMsg":"거래내역 없음"}`},
		{name: "unlisted code never reads as not found", status: 200, kind: pg.KindInvalid, body: `{"resultCode":"01","resultMsg":"조회 실패"}`},
		{name: "5xx on a read is unavailable", status: 500, kind: pg.KindUnavailable, body: `oops`},
		{name: "bare 404 is a wrong address, not a missing payment", status: 404, kind: pg.KindInvalid, body: `<html>Not Found</html>`},
		{name: "garbage 200 on a read is unavailable", status: 200, kind: pg.KindUnavailable, body: `[]`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			mt := httpmock.NewMockTransport()
			mt.RegisterResponder(http.MethodPost, apiBase+"inquiry", httpmock.NewStringResponder(tc.status, tc.body))
			req := pg.LookupRequest{OrderID: "order-1"}
			if tc.lookupTID {
				req.PaymentKey = tid
			}
			p, err := newGateway(t, mt).Lookup(context.Background(), req)
			if tc.want == "" {
				require.Error(t, err)
				assert.Equal(t, tc.kind, pg.KindOf(err), err.Error())
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, p.Status)
			assert.Equal(t, tc.balance, p.Balance.Int64())
			assert.True(t, p.Amount.Equal(pg.Won(10000)))
			assert.Len(t, p.Cancels, tc.cancels)
			for i := 1; i < len(p.Cancels); i++ {
				assert.False(t, p.Cancels[i].CanceledAt.Before(p.Cancels[i-1].CanceledAt), "cancels in time order")
			}
			assert.True(t, p.ApprovedAt.Equal(epoch))
		})
	}
}

func TestLookup_ByTIDSendsOnlyTheTID(t *testing.T) {
	t.Parallel()
	mt := httpmock.NewMockTransport()
	mt.RegisterResponder(http.MethodPost, apiBase+"inquiry", func(r *http.Request) (*http.Response, error) {
		b, _ := io.ReadAll(r.Body)
		assert.Contains(t, string(b), `"data":{"tid":"`+tid+`"}`)
		return httpmock.NewStringResponse(200, `{"resultCode":"00","tid":"`+tid+`","oid":"order-1","price":"1000","transactionStatus":"APPROVAL"}`), nil
	})
	_, err := newGateway(t, mt).Lookup(context.Background(), pg.LookupRequest{OrderID: "order-1", Prepared: map[string]string{"tid": tid}})
	require.NoError(t, err)
}
