package inicis_test

import (
	"context"
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
