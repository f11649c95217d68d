package inicis_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"

	"github.com/jarcoal/httpmock"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/text/encoding/korean"

	"github.com/paygate/paygate/inicis"
	"github.com/paygate/paygate/pg"
)

const vbankTID = "StdpayVBNKINIpayTest20231115071320000002"

func eucKR(t *testing.T, s string) string {
	t.Helper()
	out, err := korean.EUCKR.NewEncoder().String(s)
	require.NoError(t, err)
	return out
}

// noti builds a deposit notification as Inicis sends it: form fields, Korean
// text in EUC-KR.
func noti(t *testing.T, changes map[string]string) []byte {
	v := url.Values{
		"no_tid": {vbankTID}, "no_oid": {"order-1"}, "id_merchant": {"INIpayTest"},
		"cd_bank": {"04"}, "cd_deal": {"04"}, "dt_trans": {"20231116"}, "tm_trans": {"101500"},
		"no_msgseq": {"0000000001"}, "type_msg": {"0200"}, "cl_close": {"0"}, "no_vacct": {"90012345678901"},
		"amt_input": {"10000"}, "amt_check": {"0"}, "nm_inputbank": {eucKR(t, "국민은행")}, "nm_input": {eucKR(t, "홍길동")},
		"cl_trans": {"1100"},
	}
	for k, val := range changes {
		if val == "<delete>" {
			v.Del(k)
			continue
		}
		v.Set(k, val)
	}
	return []byte(v.Encode())
}

const inicisAddr = "203.238.37.15:40123"

// inquiryAnswer is INIAPI's answer for the notified virtual account:
// transactionStatus status, and the deposit status ("Y" paid, "N" not).
func inquiryAnswer(status, price, deposit string) string {
	return `{"resultCode":"00","tid":"` + vbankTID + `","mid":"INIpayTest","oid":"order-1","price":"` + price +
		`","paymethod":"VBank","transactionStatus":"` + status + `","approvedDate":"20231115","approvedTime":"071320",` +
		`"availablePartCancel":false,"vacctInfo":{"accountNumber":"90012345678901","bankCode":"04","validDate":"20231118",` +
		`"depositStatus":"` + deposit + `","depositAmount":"","depositDate":"","depositTime":""}}`
}

func TestParseNotification_DecodesEUCKRAndUTF8(t *testing.T) {
	t.Parallel()
	n, err := inicis.ParseNotification(noti(t, nil))
	require.NoError(t, err)
	assert.Equal(t, "홍길동", n.Depositor)
	assert.Equal(t, "국민은행", n.BankName)
	assert.Equal(t, int64(10000), n.Amount.Int64())
	at, err := n.OccurredAt()
	require.NoError(t, err)
	assert.Equal(t, "2023-11-16T01:15:00Z", at.UTC().Format("2006-01-02T15:04:05Z"))

	n, err = inicis.ParseNotification(noti(t, map[string]string{"nm_input": "김철수"}))
	require.NoError(t, err)
	assert.Equal(t, "김철수", n.Depositor)
}

func TestParseWebhook_AcceptsVerifiedDeposit(t *testing.T) {
	t.Parallel()
	mt := httpmock.NewMockTransport()
	mt.RegisterResponder(http.MethodPost, apiBase+"inquiry", httpmock.NewStringResponder(200, inquiryAnswer("APPROVAL", "10000", "Y")))
	g := newGateway(t, mt)
	for _, addr := range []string{inicisAddr, "[::ffff:203.238.37.15]:40123", "183.109.71.153:1"} {
		ev, err := g.ParseWebhook(context.Background(), pg.WebhookRequest{Body: noti(t, nil), RemoteAddr: addr})
		require.NoError(t, err, addr)
		assert.Equal(t, pg.WebhookDeposit, ev.Type)
		assert.Equal(t, pg.StatusApproved, ev.Status)
		assert.Equal(t, vbankTID, ev.PaymentKey)
		assert.Equal(t, "order-1", ev.OrderID)
		assert.True(t, ev.Amount.Equal(pg.Won(10000)))
		assert.Equal(t, "vbank:"+vbankTID+":0200", ev.DedupKey)
		require.NotNil(t, ev.Payment)
		assert.Equal(t, pg.StatusApproved, ev.Payment.Status)
	}
}

func TestParseWebhook_RejectsForgeries(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		addr    string
		body    map[string]string
		inquiry string // empty: no inquiry may be sent
		iqCode  int
	}{
		{name: "foreign source", addr: "198.51.100.7:5000"},
		{name: "neighbour of a listed address", addr: "203.238.37.16:5000"},
		{name: "no source", addr: ""},
		{name: "another merchant", addr: inicisAddr, body: map[string]string{"id_merchant": "other00000"}},
		{name: "missing tid", addr: inicisAddr, body: map[string]string{"no_tid": "<delete>"}},
		{name: "fractional amount", addr: inicisAddr, body: map[string]string{"amt_input": "100.5"}},
		{name: "zero amount", addr: inicisAddr, body: map[string]string{"amt_input": "0"}},
		{name: "unknown type_msg", addr: inicisAddr, body: map[string]string{"type_msg": "0300"}},
		{name: "bad date", addr: inicisAddr, body: map[string]string{"dt_trans": "2023-11-16"}},
		{name: "tampered amount", addr: inicisAddr, body: map[string]string{"amt_input": "1000000"}, inquiry: inquiryAnswer("APPROVAL", "10000", "Y"), iqCode: 200},
		{name: "unknown tid", addr: inicisAddr, inquiry: `{"resultCode":"400604","resultMsg":"없음"}`, iqCode: 200},
		{name: "tid of another order", addr: inicisAddr, body: map[string]string{"no_oid": "order-9"}, inquiry: inquiryAnswer("APPROVAL", "10000", "Y"), iqCode: 200},
		{name: "card payment", addr: inicisAddr, iqCode: 200,
			inquiry: `{"resultCode":"00","tid":"` + vbankTID + `","oid":"order-1","price":"10000","paymethod":"Card","transactionStatus":"APPROVAL"}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var rt http.RoundTripper = failTransport{t}
			if tc.inquiry != "" {
				mt := httpmock.NewMockTransport()
				mt.RegisterResponder(http.MethodPost, apiBase+"inquiry", httpmock.NewStringResponder(tc.iqCode, tc.inquiry))
				rt = mt
			}
			_, err := newGateway(t, rt).ParseWebhook(context.Background(), pg.WebhookRequest{Body: noti(t, tc.body), RemoteAddr: tc.addr})
			require.Error(t, err)
			assert.ErrorIs(t, err, pg.ErrWebhookRejected, err.Error())
		})
	}
}

func TestParseWebhook_UnconfirmedIsRetriedNotRejected(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		status int
		body   string
	}{
		{"inquiry down", 503, ""},
		{"deposit not recorded yet", 200, inquiryAnswer("APPROVAL", "10000", "N")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			mt := httpmock.NewMockTransport()
			mt.RegisterResponder(http.MethodPost, apiBase+"inquiry", httpmock.NewStringResponder(tc.status, tc.body))
			_, err := newGateway(t, mt).ParseWebhook(context.Background(), pg.WebhookRequest{Body: noti(t, nil), RemoteAddr: inicisAddr})
			require.Error(t, err)
			assert.NotErrorIs(t, err, pg.ErrWebhookRejected)
		})
	}
}

func TestParseWebhook_DepositCancelAndSkippedInquiry(t *testing.T) {
	t.Parallel()
	g := newGateway(t, failTransport{t}, func(c *inicis.Config) { c.SkipNotiInquiry = true })
	ev, err := g.ParseWebhook(context.Background(), pg.WebhookRequest{Body: noti(t, map[string]string{"type_msg": "0400"}), RemoteAddr: inicisAddr})
	require.NoError(t, err)
	assert.Equal(t, pg.WebhookCancelStatus, ev.Type)
	assert.Equal(t, pg.StatusCanceled, ev.Status)
	assert.Equal(t, "vbank:"+vbankTID+":0400", ev.DedupKey)
	assert.Nil(t, ev.Payment)
}

func TestAckWebhook_AnswersPlainOK(t *testing.T) {
	t.Parallel()
	rec := httptest.NewRecorder()
	newGateway(t, failTransport{t}).AckWebhook(rec)
	assert.Equal(t, http.StatusOK, rec.Code)
	assert.Equal(t, "OK", rec.Body.String())
	assert.Contains(t, rec.Header().Get("Content-Type"), "text/plain")
}
