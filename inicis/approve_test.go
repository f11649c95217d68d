package inicis_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/jarcoal/httpmock"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/paygate/paygate/inicis"
	"github.com/paygate/paygate/pg"
)

func TestApprove_PostsSignedFormToAllowListedAuthURL(t *testing.T) {
	t.Parallel()
	mt := httpmock.NewMockTransport()
	mt.RegisterResponder(http.MethodPost, authURL, expectForm(t, wantApprovalForm, 200, cardApproval))
	g := newGateway(t, mt)

	p, err := g.Approve(context.Background(), approveReq(nil))
	require.NoError(t, err)
	assert.Equal(t, 1, mt.GetTotalCallCount())
	assert.Equal(t, tid, p.PaymentKey)
	assert.Equal(t, "order-1", p.OrderID)
	assert.Equal(t, pg.StatusApproved, p.Status)
	assert.Equal(t, pg.MethodCard, p.Method)
	assert.True(t, p.Amount.Equal(pg.Won(1000)))
	assert.True(t, p.Balance.Equal(pg.Won(1000)))
	assert.True(t, p.ApprovedAt.Equal(epoch), p.ApprovedAt)
	assert.Equal(t, "Card", p.Data["paymethod"])
	assert.Equal(t, tid, p.Data["tid"])
}

func TestApprove_ResponseShapes(t *testing.T) {
	t.Parallel()
	vbank := `{"resultCode":"0000","resultMsg":"OK","tid":"StdpayVBNKINIpayTest20231115071320000002","MOID":"order-1",
"TotPrice":1000,"payMethod":"VBank","applDate":"20231115","applTime":"071320","VACT_Num":"90012345678901",
"VACT_BankCode":"04","vactBankName":"국민은행","VACT_Name":"(주)상점","VACT_InputName":"홍길동","VACT_Date":"20231118","VACT_Time":"235959"}`
	tests := []struct {
		name       string
		responder  httpmock.Responder
		wantStatus pg.Status
		wantKind   pg.Kind
		wantCode   string
		netCancels int
	}{
		{name: "card approved", responder: httpmock.NewStringResponder(200, cardApproval), wantStatus: pg.StatusApproved},
		{name: "virtual account issued", responder: httpmock.NewStringResponder(200, vbank), wantStatus: pg.StatusWaitingForDeposit},
		// An answer that names no payMethod is not taken for a captured
		// card payment when it carries an issued account.
		{name: "virtual account issued, payMethod absent", wantStatus: pg.StatusWaitingForDeposit,
			responder: httpmock.NewStringResponder(200, strings.Replace(vbank, `"payMethod":"VBank",`, "", 1))},
		{name: "refused with a code", responder: httpmock.NewStringResponder(200, `{"resultCode":"V801","resultMsg":"카드사 승인거절"}`),
			wantKind: pg.KindDeclined, wantCode: "V801"},
		{name: "temporary card fault is retryable decline", responder: httpmock.NewStringResponder(200, `{"resultCode":"V802","resultMsg":"잠시 후"}`),
			wantKind: pg.KindDeclined, wantCode: "V802"},
		{name: "unlisted refusal code declines", responder: httpmock.NewStringResponder(200, `{"resultCode":"1234","resultMsg":"?"}`),
			wantKind: pg.KindDeclined, wantCode: "1234"},
		{name: "500 page may have approved", responder: httpmock.NewStringResponder(500, "<html>error</html>"), wantKind: pg.KindUnknown},
		{name: "503 was not processed", responder: httpmock.NewStringResponder(503, ""), wantKind: pg.KindUnavailable},
		{name: "unreadable 200 may be an approval", responder: httpmock.NewStringResponder(200, "resultCode=0000"), wantKind: pg.KindUnknown},
		{name: "approved without tid is unknown", responder: httpmock.NewStringResponder(200, `{"resultCode":"0000","TotPrice":"1000"}`), wantKind: pg.KindUnknown, wantCode: "0000"},
		{name: "approved with unreadable amount is unknown", responder: httpmock.NewStringResponder(200, `{"resultCode":"0000","tid":"T","TotPrice":"1,000"}`), wantKind: pg.KindUnknown, wantCode: "0000"},
		{name: "connection reset after sending is unknown", responder: httpmock.NewErrorResponder(errors.New("connection reset by peer")), wantKind: pg.KindUnknown},
		{name: "approved for another amount is net-canceled", netCancels: 1, wantKind: pg.KindDeclined, wantCode: "APPROVAL_MISMATCH",
			responder: httpmock.NewStringResponder(200, `{"resultCode":"0000","tid":"`+tid+`","MOID":"order-1","TotPrice":"100","payMethod":"Card","applDate":"20231115","applTime":"071320"}`)},
		{name: "approved for another order is net-canceled", netCancels: 1, wantKind: pg.KindDeclined, wantCode: "APPROVAL_MISMATCH",
			responder: httpmock.NewStringResponder(200, `{"resultCode":"0000","tid":"`+tid+`","MOID":"order-2","TotPrice":"1000","payMethod":"Card","applDate":"20231115","applTime":"071320"}`)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			mt := httpmock.NewMockTransport()
			mt.RegisterResponder(http.MethodPost, authURL, tc.responder)
			mt.RegisterResponder(http.MethodPost, netCancelURL, expectForm(t, wantApprovalForm, 200, `{"resultCode":"0000","resultMsg":"망취소 성공"}`))
			g := newGateway(t, mt)
			p, err := g.Approve(context.Background(), approveReq(nil))
			assert.Equal(t, tc.netCancels, mt.GetCallCountInfo()["POST "+netCancelURL])
			if tc.wantStatus != "" {
				require.NoError(t, err)
				assert.Equal(t, tc.wantStatus, p.Status)
				if p.Status == pg.StatusWaitingForDeposit {
					require.NotNil(t, p.VirtualAccount)
					assert.Equal(t, "90012345678901", p.VirtualAccount.AccountNumber)
					assert.Equal(t, "04", p.VirtualAccount.Bank)
					assert.Equal(t, time.Date(2023, 11, 18, 23, 59, 59, 0, time.FixedZone("", 9*3600)).Unix(), p.VirtualAccount.DueDate.Unix())
					assert.True(t, p.Balance.IsZero())
				}
				return
			}
			require.Error(t, err)
			var pe *pg.Error
			require.ErrorAs(t, err, &pe)
			assert.Equal(t, tc.wantKind, pe.Kind, err.Error())
			assert.Equal(t, tc.wantCode, pe.Code)
			assert.Equal(t, "inicis", pe.PG)
			assert.Equal(t, tc.wantCode == "V802", pe.Retryable)
		})
	}
}

// An approval answer whose authSignature is not the one Inicis computes
// for our request is forged or tampered with: it is net-canceled, logged
// once as an error, and the approval fails (declined: nothing captured).
// Without an authSignature (older answers) there is nothing to check.
func TestApprove_VerifiesAuthSignature(t *testing.T) {
	t.Parallel()
	signed := cardApproval
	tests := []struct {
		name       string
		answer     string
		netCancel  int // net-cancel answer status; 0: none may be sent
		kind       pg.Kind
		wantCode   string
		wantLogged bool
	}{
		{name: "signed by Inicis", answer: signed},
		{name: "signature in capitals", answer: strings.Replace(signed, "d4004fb186e8", "D4004FB186E8", 1)},
		{name: "no signature", answer: strings.Replace(signed, `,
"authSignature":"d4004fb186e859342f3d66455c6a983ed248c81ee2d7b7f2c71fda4b9891c1fb"`, "", 1)},
		{name: "forged signature", answer: strings.Replace(signed, "d4004fb186e8", "00004fb186e8", 1),
			netCancel: 200, kind: pg.KindDeclined, wantCode: "AUTH_SIGNATURE_MISMATCH", wantLogged: true},
		{name: "tampered amount, signature of the original", answer: strings.Replace(signed, `"TotPrice":"1000"`, `"TotPrice":"1001"`, 1),
			netCancel: 200, kind: pg.KindDeclined, wantCode: "AUTH_SIGNATURE_MISMATCH", wantLogged: true},
		{name: "forged, and the net cancel fails", answer: strings.Replace(signed, "d4004fb186e8", "00004fb186e8", 1),
			netCancel: 502, kind: pg.KindUnknown, wantCode: "AUTH_SIGNATURE_MISMATCH", wantLogged: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			logs := &bytes.Buffer{}
			mt := httpmock.NewMockTransport()
			mt.RegisterResponder(http.MethodPost, authURL, expectForm(t, wantApprovalForm, 200, tc.answer))
			switch tc.netCancel {
			case 200:
				mt.RegisterResponder(http.MethodPost, netCancelURL, expectForm(t, wantApprovalForm, 200, `{"resultCode":"0000","resultMsg":"망취소 성공"}`))
			case 502:
				mt.RegisterResponder(http.MethodPost, netCancelURL, httpmock.NewStringResponder(502, "bad gateway"))
			}
			g := newGateway(t, mt, func(c *inicis.Config) {
				c.Logger = slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelError}))
			})
			p, err := g.Approve(context.Background(), approveReq(nil))
			if tc.wantCode == "" {
				require.NoError(t, err)
				assert.Equal(t, pg.StatusApproved, p.Status)
				assert.Empty(t, logs.String())
				return
			}
			require.Error(t, err)
			var pe *pg.Error
			require.ErrorAs(t, err, &pe)
			assert.Equal(t, tc.kind, pe.Kind, err.Error())
			assert.Equal(t, tc.wantCode, pe.Code)
			assert.Equal(t, 1, mt.GetCallCountInfo()["POST "+netCancelURL], "net-canceled")
			lines := strings.Split(strings.TrimSpace(logs.String()), "\n")
			require.Len(t, lines, 1, "one error line for the event: %s", logs)
			assert.Contains(t, lines[0], `"level":"ERROR"`)
			assert.Contains(t, lines[0], "authSignature does not match")
			assert.Contains(t, lines[0], `"orderId":"order-1"`)
			assert.NotContains(t, lines[0], "d4004fb186e8", "hashes stay out of the log")
			assert.NotContains(t, lines[0], "00004fb186e8", "hashes stay out of the log")
		})
	}
}

func TestApprove_MismatchWhoseNetCancelFails_IsUnknown(t *testing.T) {
	t.Parallel()
	mt := httpmock.NewMockTransport()
	mt.RegisterResponder(http.MethodPost, authURL, httpmock.NewStringResponder(200,
		`{"resultCode":"0000","tid":"`+tid+`","MOID":"order-1","TotPrice":"999","payMethod":"Card","applDate":"20231115","applTime":"071320"}`))
	mt.RegisterResponder(http.MethodPost, netCancelURL, httpmock.NewStringResponder(502, "bad gateway"))
	_, err := newGateway(t, mt).Approve(context.Background(), approveReq(nil))
	require.ErrorIs(t, err, pg.ErrUnknown)
}

// failTransport fails the test if any request leaves the process.
type failTransport struct{ t *testing.T }

func (f failTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	f.t.Errorf("request sent to %s; it must have been refused before sending", r.URL)
	return nil, errors.New("must not be called")
}

func TestApprove_RefusesForgedRedirectWithoutSending(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		changes map[string]string
		kind    pg.Kind
		ssrf    bool
	}{
		{"foreign authUrl", map[string]string{"authUrl": "https://evil.example/api/payAuth"}, pg.KindInvalid, true},
		{"look-alike host", map[string]string{"authUrl": "https://stgstdpay.inicis.com.evil.example/api/payAuth"}, pg.KindInvalid, true},
		{"userinfo trick", map[string]string{"authUrl": "https://stgstdpay.inicis.com@evil.example/api/payAuth"}, pg.KindInvalid, true},
		{"plain http", map[string]string{"authUrl": "http://stgstdpay.inicis.com/api/payAuth"}, pg.KindInvalid, true},
		{"internal address", map[string]string{"authUrl": "http://169.254.169.254/latest/meta-data"}, pg.KindInvalid, true},
		{"other path on the host", map[string]string{"authUrl": "https://stgstdpay.inicis.com/api/netCancel"}, pg.KindInvalid, true},
		{"query appended", map[string]string{"authUrl": authURL + "?x=1"}, pg.KindInvalid, true},
		{"idc not allow-listed", map[string]string{"idc_name": "fc"}, pg.KindInvalid, true},
		{"idc missing", map[string]string{"idc_name": "<delete>"}, pg.KindInvalid, true},
		{"authUrl missing", map[string]string{"authUrl": "<delete>"}, pg.KindInvalid, true},
		{"checkAckUrl foreign", map[string]string{"authUrl": "<delete>", "checkAckUrl": "https://evil.example/"}, pg.KindInvalid, true},
		{"auth failed", map[string]string{"resultCode": "2001", "resultMsg": "취소"}, pg.KindDeclined, false},
		{"auth result missing", map[string]string{"resultCode": "<delete>"}, pg.KindDeclined, false},
		{"another merchant", map[string]string{"mid": "other00000"}, pg.KindInvalid, false},
		{"another order", map[string]string{"orderNumber": "order-2"}, pg.KindInvalid, false},
		{"no token", map[string]string{"authToken": ""}, pg.KindInvalid, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			g := newGateway(t, failTransport{t})
			_, err := g.Approve(context.Background(), approveReq(tc.changes))
			require.Error(t, err)
			assert.Equal(t, tc.kind, pg.KindOf(err), err.Error())
			assert.Equal(t, tc.ssrf, errors.Is(err, inicis.ErrUntrustedURL), err.Error())
		})
	}
}

func TestApprove_RefusesBadAmountsWithoutSending(t *testing.T) {
	t.Parallel()
	g := newGateway(t, failTransport{t})
	for _, amount := range []pg.Money{{}, pg.Won(0), pg.MustMoney("10.00", pg.USD)} {
		req := approveReq(nil)
		req.Amount = amount
		_, err := g.Approve(context.Background(), req)
		assert.ErrorIs(t, err, pg.ErrInvalid, amount.String())
	}
	req := approveReq(nil)
	req.Prepared = map[string]string{"price": "2000", "oid": "order-1"}
	_, err := g.Approve(context.Background(), req)
	assert.ErrorIs(t, err, pg.ErrInvalid, "amount differs from the prepared price")
}

func TestNetCancel_PostsApprovalFormToAllowListedURL(t *testing.T) {
	t.Parallel()
	mt := httpmock.NewMockTransport()
	mt.RegisterResponder(http.MethodPost, netCancelURL, expectForm(t, wantApprovalForm, 200, `{"resultCode":"0000","resultMsg":"망취소 성공"}`))
	require.NoError(t, newGateway(t, mt).NetCancel(context.Background(), approveReq(nil)))
	assert.Equal(t, 1, mt.GetTotalCallCount())

	mt2 := httpmock.NewMockTransport()
	mt2.RegisterResponder(http.MethodPost, netCancelURL, httpmock.NewStringResponder(200, `{"resultCode":"V820","resultMsg":"대상 없음"}`))
	err := newGateway(t, mt2).NetCancel(context.Background(), approveReq(nil))
	assert.ErrorIs(t, err, pg.ErrNotFound)
}

func TestNetCancel_RefusesForeignURLWithoutSending(t *testing.T) {
	t.Parallel()
	g := newGateway(t, failTransport{t})
	for _, u := range []string{"https://evil.example/api/netCancel", authURL, "", "https://stgstdpay.inicis.com/api/netCancel#x"} {
		err := g.NetCancel(context.Background(), approveReq(map[string]string{"netCancelUrl": u}))
		require.Error(t, err, u)
		assert.ErrorIs(t, err, inicis.ErrUntrustedURL, u)
		assert.ErrorIs(t, err, pg.ErrInvalid, u)
	}
}

func TestApprove_SandboxHostOnlyWhenAllowListed(t *testing.T) {
	t.Parallel()
	sandboxAuth := "http://127.0.0.1:9/api/payAuth"
	req := approveReq(map[string]string{"authUrl": sandboxAuth, "netCancelUrl": "http://127.0.0.1:9/api/netCancel"})
	_, err := newGateway(t, failTransport{t}).Approve(context.Background(), req)
	require.ErrorIs(t, err, inicis.ErrUntrustedURL)

	mt := httpmock.NewMockTransport()
	mt.RegisterResponder(http.MethodPost, sandboxAuth, httpmock.NewStringResponder(200, cardApproval))
	g := newGateway(t, mt, func(c *inicis.Config) {
		c.IDCs = map[string]inicis.Endpoints{"stg": {AuthURL: sandboxAuth, NetCancelURL: "http://127.0.0.1:9/api/netCancel"}}
	})
	_, err = g.Approve(context.Background(), req)
	require.NoError(t, err)
}
