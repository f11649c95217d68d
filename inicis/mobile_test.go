package inicis_test

import (
	"context"
	"crypto/sha512"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/jarcoal/httpmock"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/text/encoding/korean"

	"github.com/paygate/paygate/inicis"
	"github.com/paygate/paygate/pg"
)

const (
	mobileReqURL  = "https://stgmobile.inicis.com/smart/payReq.ini"
	mobileTID     = "INIMX_CARDINIpayTest20231115071320000001"
	mobileHashKey = "test-mobile-hash-key"
	refundURL     = inicis.TestBaseURL + "/v2/pg/refund"
	// mobileTS is the checkout's P_TIMESTAMP at epoch.
	mobileTS = "1700000000000"
)

// chkfake is P_CHKFAKE computed here, apart from the adapter.
func chkfake(amount, oid, ts, key string) string {
	sum := sha512.Sum512([]byte(amount + oid + ts + key))
	return base64.StdEncoding.EncodeToString(sum[:])
}

func newMobileGateway(t *testing.T, rt http.RoundTripper, mod ...func(*inicis.Config)) *inicis.Gateway {
	t.Helper()
	return newGateway(t, rt, append([]func(*inicis.Config){func(c *inicis.Config) { c.MobileHashKey = mobileHashKey }}, mod...)...)
}

// mobileApproveReq is the approval of order-1 (1,000 won) prepared for a
// phone, with the auth result Inicis posts to P_NEXT_URL.
func mobileApproveReq(changes map[string]string) pg.ApproveRequest {
	r := map[string]string{
		"P_STATUS": "00", "P_RMESG1": "정상처리되었습니다.", "P_TID": mobileTID, "P_REQ_URL": mobileReqURL, "P_AMT": "1000", "P_NOTI": "",
	}
	for k, v := range changes {
		if v == "<delete>" {
			delete(r, k)
			continue
		}
		r[k] = v
	}
	return pg.ApproveRequest{PaymentID: "pay_1", OrderID: "order-1", Amount: pg.Won(1000), Redirect: r,
		Prepared: map[string]string{"mid": inicis.TestMID, "oid": "order-1", "price": "1000", "timestamp": mobileTS, "device": "mobile"}}
}

// mobileAnswer is P_REQ_URL's text answer for a card approval of order-1,
// with changes applied (a field set to "<delete>" is left out), in EUC-KR.
func mobileAnswer(t *testing.T, changes map[string]string) string {
	t.Helper()
	fields := [][2]string{
		{"P_STATUS", "00"}, {"P_RMESG1", "정상처리되었습니다."}, {"P_TID", mobileTID}, {"P_TYPE", "CARD"},
		{"P_AUTH_DT", "20231115071320"}, {"P_MID", inicis.TestMID}, {"P_OID", "order-1"}, {"P_AMT", "1000"},
		{"P_UNAME", "홍길동"}, {"P_FN_NM", "국민카드"}, {"P_AUTH_NO", "30001234"}, {"P_CARD_NUM", "94909400****123*"},
		{"P_TIMESTAMP", mobileTS}, {"P_CHKFAKE", ""},
	}
	var b strings.Builder
	get := func(name string) string {
		if v, ok := changes[name]; ok {
			return v
		}
		for _, f := range fields {
			if f[0] == name {
				return f[1]
			}
		}
		return ""
	}
	for _, f := range fields {
		v := get(f[0])
		if f[0] == "P_CHKFAKE" {
			if c, ok := changes["P_CHKFAKE"]; ok {
				v = c
			} else {
				ts := get("P_TIMESTAMP")
				if ts == "<delete>" {
					ts = mobileTS // the checkout's, which the adapter falls back on
				}
				v = chkfake(get("P_AMT"), get("P_OID"), ts, mobileHashKey)
			}
		}
		if v == "<delete>" {
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('&')
		}
		b.WriteString(f[0] + "=" + v)
	}
	for k, v := range changes {
		if !strings.HasPrefix(k, "+") {
			continue
		}
		b.WriteString("&" + k[1:] + "=" + v)
	}
	return eucKR(t, b.String())
}

func TestPrepare_Mobile_BuildsThePForm(t *testing.T) {
	t.Parallel()
	g := newMobileGateway(t, failTransport{t}, func(c *inicis.Config) {
		c.MobileNotiURL = "https://shop.example/webhooks/inicis"
		c.MobileAppScheme = "myshop://"
	})
	req := pg.PrepareRequest{OrderID: "order-1", OrderName: "티셔츠", Amount: pg.Won(15000), TaxFree: pg.Won(500),
		Device: pg.DeviceMobile, SuccessURL: "https://shop.example/return", CancelURL: "https://shop.example/cancel"}
	got, err := g.Prepare(context.Background(), req)
	require.NoError(t, err)
	assert.Equal(t, map[string]string{
		"actionUrl":     inicis.DefaultMobilePayURL,
		"P_INI_PAYMENT": "CARD",
		"P_MID":         inicis.TestMID,
		"P_OID":         "order-1",
		"P_AMT":         "15000",
		"P_GOODS":       "티셔츠",
		"P_NEXT_URL":    "https://shop.example/return",
		"P_RETURN_URL":  "https://shop.example/return",
		"P_NOTI_URL":    "https://shop.example/webhooks/inicis",
		"P_CHARSET":     "utf8",
		"P_TIMESTAMP":   mobileTS,
		"P_CHKFAKE":     chkfake("15000", "order-1", mobileTS, mobileHashKey),
		"P_TAXFREE":     "500",
	}, got.Client)
	assert.Equal(t, map[string]string{"mid": inicis.TestMID, "oid": "order-1", "price": "15000", "timestamp": mobileTS, "device": "mobile"}, got.Data)

	req.Device, req.Method, req.TaxFree = pg.DeviceApp, pg.MethodVirtualAccount, pg.Money{}
	app, err := g.Prepare(context.Background(), req)
	require.NoError(t, err)
	assert.Equal(t, "VBANK", app.Client["P_INI_PAYMENT"])
	assert.Equal(t, "apprun_check=Y&app_scheme=myshop://", app.Client["P_RESERVED"])
	assert.Equal(t, "app", app.Data["device"])
	for _, pcField := range []string{"signature", "verification", "mKey", "returnUrl", "oid", "price"} {
		assert.NotContains(t, app.Client, pcField, "a mobile form carries no standard-window field")
	}

	// Without a mobile hash key the form goes unhashed; a mobile-phone
	// payment is sent as physical goods.
	plain := newGateway(t, failTransport{t})
	req.Method = pg.MethodMobilePhone
	p, err := plain.Prepare(context.Background(), req)
	require.NoError(t, err)
	assert.NotContains(t, p.Client, "P_CHKFAKE")
	assert.Equal(t, "MOBILE", p.Client["P_INI_PAYMENT"])
	assert.Equal(t, "2", p.Client["P_HPP_METHOD"])

	_, err = inicis.New(func() inicis.Config {
		c := inicis.TestConfig()
		c.MobileAppScheme = "myshop://&evil=1"
		return c
	}())
	require.Error(t, err, "an app scheme that would change P_RESERVED is refused")
}

func TestApproveMobile_PostsTIDToAllowListedReqURL(t *testing.T) {
	t.Parallel()
	mt := httpmock.NewMockTransport()
	mt.RegisterResponder(http.MethodPost, mobileReqURL, func(r *http.Request) (*http.Response, error) {
		body, _ := io.ReadAll(r.Body)
		form, err := url.ParseQuery(string(body))
		require.NoError(t, err)
		assert.Equal(t, url.Values{"P_MID": {inicis.TestMID}, "P_TID": {mobileTID}}, form)
		assert.True(t, strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded"))
		resp := httpmock.NewStringResponse(200, mobileAnswer(t, nil))
		resp.Header.Set("Content-Type", "text/plain; charset=euc-kr")
		return resp, nil
	})
	g := newMobileGateway(t, mt)
	p, err := g.Approve(context.Background(), mobileApproveReq(nil))
	require.NoError(t, err)
	assert.Equal(t, 1, mt.GetTotalCallCount())
	assert.Equal(t, mobileTID, p.PaymentKey)
	assert.Equal(t, "order-1", p.OrderID)
	assert.Equal(t, pg.StatusApproved, p.Status)
	assert.Equal(t, pg.MethodCard, p.Method)
	assert.True(t, p.Amount.Equal(pg.Won(1000)))
	assert.True(t, p.Balance.Equal(pg.Won(1000)))
	assert.True(t, p.ApprovedAt.Equal(epoch), p.ApprovedAt)
	assert.Equal(t, map[string]string{"tid": mobileTID, "paymethod": "CARD", "mid": inicis.TestMID}, p.Data)
}

func TestApproveMobile_AnswerShapes(t *testing.T) {
	t.Parallel()
	vbank := map[string]string{"P_TYPE": "VBANK", "P_TID": "INIMX_VBNKINIpayTest20231115071320000001",
		"+P_VACT_NUM": "90012345678901", "+P_VACT_BANK_CODE": "04", "+P_VACT_NAME": "(주)샌드박스",
		"+P_VACT_DATE": "20231118", "+P_VACT_TIME": "235959"}
	tests := []struct {
		name       string
		responder  func(t *testing.T) httpmock.Responder
		tid        string
		wantStatus pg.Status
		wantKind   pg.Kind
		wantCode   string
		wantMsg    string
	}{
		{name: "card approved, EUC-KR", responder: text(200, nil), wantStatus: pg.StatusApproved},
		{name: "card approved, UTF-8", responder: func(t *testing.T) httpmock.Responder {
			raw, err := korean.EUCKR.NewDecoder().String(mobileAnswer(t, nil))
			require.NoError(t, err)
			return httpmock.NewStringResponder(200, raw)
		}, wantStatus: pg.StatusApproved},
		{name: "message with an ampersand", responder: text(200, map[string]string{"P_RMESG1": "정상 & 완료"}), wantStatus: pg.StatusApproved},
		{name: "virtual account issued", responder: text(200, vbank), tid: vbank["P_TID"], wantStatus: pg.StatusWaitingForDeposit},
		{name: "refused with a code, EUC-KR message", responder: rawText(200, "P_STATUS=V801&P_RMESG1=카드사 승인거절"),
			wantKind: pg.KindDeclined, wantCode: "V801", wantMsg: "카드사 승인거절"},
		{name: "unlisted refusal declines", responder: rawText(200, "P_STATUS=01&P_RMESG1=거절"), wantKind: pg.KindDeclined, wantCode: "01"},
		{name: "500 page may have approved", responder: rawText(500, "<html>error</html>"), wantKind: pg.KindUnknown},
		{name: "503 was not processed", responder: rawText(503, ""), wantKind: pg.KindUnavailable},
		{name: "JSON 200 may be an approval", responder: rawText(200, `{"resultCode":"0000"}`), wantKind: pg.KindUnknown},
		{name: "a field twice is unreadable", responder: rawText(200, "P_STATUS=00&P_STATUS=00"), wantKind: pg.KindUnknown},
		{name: "approved without tid is unknown", responder: text(200, map[string]string{"P_TID": "<delete>"}), wantKind: pg.KindUnknown, wantCode: "00"},
		{name: "approved with unreadable amount is unknown", responder: text(200, map[string]string{"P_AMT": "1,000"}), wantKind: pg.KindUnknown, wantCode: "00"},
		{name: "approved with unreadable time is unknown", responder: text(200, map[string]string{"P_AUTH_DT": "2023-11-15"}), wantKind: pg.KindUnknown, wantCode: "00"},
		{name: "connection reset after sending is unknown", responder: func(*testing.T) httpmock.Responder {
			return httpmock.NewErrorResponder(errors.New("connection reset by peer"))
		}, wantKind: pg.KindUnknown},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			mt := httpmock.NewMockTransport()
			mt.RegisterResponder(http.MethodPost, mobileReqURL, tc.responder(t))
			req := mobileApproveReq(nil)
			if tc.tid != "" {
				req.Redirect["P_TID"] = tc.tid
			}
			p, err := newMobileGateway(t, mt, func(c *inicis.Config) { c.MaxAttempts = 1 }).Approve(context.Background(), req)
			if tc.wantStatus == "" {
				require.Error(t, err)
				assert.Equal(t, tc.wantKind, pg.KindOf(err), err.Error())
				var pe *pg.Error
				require.ErrorAs(t, err, &pe)
				assert.Equal(t, tc.wantCode, pe.Code)
				if tc.wantMsg != "" {
					assert.Equal(t, tc.wantMsg, pe.Message, "the EUC-KR message is decoded")
				}
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.wantStatus, p.Status)
			if p.Status == pg.StatusWaitingForDeposit {
				require.NotNil(t, p.VirtualAccount)
				assert.Equal(t, "90012345678901", p.VirtualAccount.AccountNumber)
				assert.Equal(t, "(주)샌드박스", p.VirtualAccount.HolderName)
				assert.True(t, p.Balance.IsZero())
				assert.Equal(t, pg.MethodVirtualAccount, p.Method)
			}
		})
	}
}

func text(status int, changes map[string]string) func(t *testing.T) httpmock.Responder {
	return func(t *testing.T) httpmock.Responder {
		if changes != nil && changes["P_TYPE"] == "VBANK" {
			changes["P_CHKFAKE"] = chkfake("1000", "order-1", mobileTS, mobileHashKey)
		}
		return httpmock.NewStringResponder(status, mobileAnswer(t, changes))
	}
}

func rawText(status int, body string) func(t *testing.T) httpmock.Responder {
	return func(t *testing.T) httpmock.Responder { return httpmock.NewStringResponder(status, eucKR(t, body)) }
}

// An answer that is not the approval asked for, or whose P_CHKFAKE is not
// Inicis's, is never returned as approved: the payment is refunded at once
// through INIAPI, for the tid that was asked for.
func TestApproveMobile_MismatchRefunded(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		changes  map[string]string
		refund   int // the INIAPI refund's HTTP status
		wantKind pg.Kind
		wantCode string
	}{
		{"amount differs", map[string]string{"P_AMT": "100"}, 200, pg.KindDeclined, "APPROVAL_MISMATCH"},
		{"order differs", map[string]string{"P_OID": "order-2"}, 200, pg.KindDeclined, "APPROVAL_MISMATCH"},
		{"tid differs", map[string]string{"P_TID": "INIMX_CARDINIpayTest20231115071320000999"}, 200, pg.KindDeclined, "APPROVAL_MISMATCH"},
		{"merchant differs", map[string]string{"P_MID": "other00000"}, 200, pg.KindDeclined, "APPROVAL_MISMATCH"},
		{"P_CHKFAKE forged", map[string]string{"P_CHKFAKE": chkfake("1000", "order-1", mobileTS, "wrong key")}, 200, pg.KindDeclined, "CHKFAKE_MISMATCH"},
		{"P_CHKFAKE over another amount", map[string]string{"P_CHKFAKE": chkfake("100", "order-1", mobileTS, mobileHashKey)}, 200, pg.KindDeclined, "CHKFAKE_MISMATCH"},
		{"amount differs, refund fails", map[string]string{"P_AMT": "100"}, 502, pg.KindUnknown, "APPROVAL_MISMATCH"},
		{"P_CHKFAKE forged, refund fails", map[string]string{"P_CHKFAKE": "AAAA"}, 502, pg.KindUnknown, "CHKFAKE_MISMATCH"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			mt := httpmock.NewMockTransport()
			mt.RegisterResponder(http.MethodPost, mobileReqURL, httpmock.NewStringResponder(200, mobileAnswer(t, tc.changes)))
			var refunded []string
			mt.RegisterResponder(http.MethodPost, refundURL, func(r *http.Request) (*http.Response, error) {
				var env struct {
					Data json.RawMessage `json:"data"`
				}
				require.NoError(t, json.NewDecoder(r.Body).Decode(&env))
				var data map[string]string
				require.NoError(t, json.Unmarshal(env.Data, &data))
				refunded = append(refunded, data["tid"])
				if tc.refund != 200 {
					return httpmock.NewStringResponse(tc.refund, "bad gateway"), nil
				}
				return httpmock.NewStringResponse(200, `{"resultCode":"00","resultMsg":"정상","cancelDate":"20231115","cancelTime":"071321"}`), nil
			})
			p, err := newMobileGateway(t, mt, func(c *inicis.Config) { c.MaxAttempts = 1 }).Approve(context.Background(), mobileApproveReq(nil))
			require.Error(t, err, "a mismatch is never approved: %+v", p)
			assert.Nil(t, p)
			assert.Equal(t, tc.wantKind, pg.KindOf(err), err.Error())
			var pe *pg.Error
			require.ErrorAs(t, err, &pe)
			assert.Equal(t, tc.wantCode, pe.Code)
			assert.Equal(t, []string{mobileTID}, refunded, "the tid that was asked for is refunded, once")
		})
	}
}

// Without a mobile hash key the answer's P_CHKFAKE cannot be checked; an
// answer without P_CHKFAKE is taken as it is.
func TestApproveMobile_ChkFakeOnlyCheckedWithAKey(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct {
		key     string
		changes map[string]string
	}{
		"no key, forged hash":   {"", map[string]string{"P_CHKFAKE": "AAAA"}},
		"key, no hash":          {mobileHashKey, map[string]string{"P_CHKFAKE": "<delete>"}},
		"key, checkout's stamp": {mobileHashKey, map[string]string{"P_TIMESTAMP": "<delete>"}},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			mt := httpmock.NewMockTransport()
			mt.RegisterResponder(http.MethodPost, mobileReqURL, httpmock.NewStringResponder(200, mobileAnswer(t, tc.changes)))
			g := newGateway(t, mt, func(c *inicis.Config) { c.MobileHashKey = tc.key })
			p, err := g.Approve(context.Background(), mobileApproveReq(nil))
			require.NoError(t, err)
			assert.Equal(t, pg.StatusApproved, p.Status)
		})
	}
}

func TestApproveMobile_RefusesForgedAuthResultWithoutSending(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		changes  map[string]string
		prepared map[string]string
		kind     pg.Kind
		ssrf     bool
	}{
		{name: "foreign P_REQ_URL", changes: map[string]string{"P_REQ_URL": "https://evil.example/smart/payReq.ini"}, kind: pg.KindInvalid, ssrf: true},
		{name: "look-alike host", changes: map[string]string{"P_REQ_URL": "https://stgmobile.inicis.com.evil.example/smart/payReq.ini"}, kind: pg.KindInvalid, ssrf: true},
		{name: "userinfo trick", changes: map[string]string{"P_REQ_URL": "https://stgmobile.inicis.com@evil.example/smart/payReq.ini"}, kind: pg.KindInvalid, ssrf: true},
		{name: "plain http", changes: map[string]string{"P_REQ_URL": "http://stgmobile.inicis.com/smart/payReq.ini"}, kind: pg.KindInvalid, ssrf: true},
		{name: "internal address", changes: map[string]string{"P_REQ_URL": "http://169.254.169.254/latest/meta-data"}, kind: pg.KindInvalid, ssrf: true},
		{name: "the standard window's authUrl", changes: map[string]string{"P_REQ_URL": authURL}, kind: pg.KindInvalid, ssrf: true},
		{name: "an IDC not allow-listed", changes: map[string]string{"P_REQ_URL": "https://fcmobile.inicis.com/smart/payReq.ini"}, kind: pg.KindInvalid, ssrf: true},
		{name: "query appended", changes: map[string]string{"P_REQ_URL": mobileReqURL + "?x=1"}, kind: pg.KindInvalid, ssrf: true},
		{name: "P_REQ_URL missing", changes: map[string]string{"P_REQ_URL": "<delete>"}, kind: pg.KindInvalid, ssrf: true},
		{name: "buyer canceled", changes: map[string]string{"P_STATUS": "01", "P_RMESG1": "사용자 취소"}, kind: pg.KindDeclined},
		{name: "buyer canceled, EUC-KR message", changes: map[string]string{"P_STATUS": "01", "P_RMESG1": "\xbb\xe7\xbf\xeb\xc0\xda \xc3\xeb\xbc\xd2"}, kind: pg.KindDeclined},
		{name: "no P_STATUS", changes: map[string]string{"P_STATUS": "<delete>"}, kind: pg.KindDeclined},
		{name: "another order", changes: map[string]string{"P_OID": "order-2"}, kind: pg.KindInvalid},
		{name: "another merchant", changes: map[string]string{"P_MID": "other00000"}, kind: pg.KindInvalid},
		{name: "another amount", changes: map[string]string{"P_AMT": "100"}, kind: pg.KindInvalid},
		{name: "no tid", changes: map[string]string{"P_TID": ""}, kind: pg.KindInvalid},
		{name: "tid with a newline", changes: map[string]string{"P_TID": "INIMX\nCARD"}, kind: pg.KindInvalid},
		{name: "prepared for the PC window", prepared: map[string]string{"oid": "order-1", "price": "1000"}, kind: pg.KindInvalid},
		{name: "prepared for another amount", prepared: map[string]string{"oid": "order-1", "price": "2000", "device": "mobile"}, kind: pg.KindInvalid},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			req := mobileApproveReq(tc.changes)
			if tc.prepared != nil {
				req.Prepared = tc.prepared
			}
			_, err := newMobileGateway(t, failTransport{t}).Approve(context.Background(), req)
			require.Error(t, err)
			assert.Equal(t, tc.kind, pg.KindOf(err), err.Error())
			assert.Equal(t, tc.ssrf, errors.Is(err, inicis.ErrUntrustedURL), err.Error())
			if tc.changes["P_STATUS"] == "01" {
				var pe *pg.Error
				require.ErrorAs(t, err, &pe)
				assert.Equal(t, "01", pe.Code)
				assert.Equal(t, "사용자 취소", pe.Message, "Inicis's message, decoded")
			}
		})
	}

	// The standard window's redirect of a checkout prepared for a phone,
	// and a net cancel of a mobile payment, are refused too.
	g := newMobileGateway(t, failTransport{t})
	pcReq := approveReq(nil)
	pcReq.Prepared = map[string]string{"oid": "order-1", "price": "1000", "device": "app"}
	_, err := g.Approve(context.Background(), pcReq)
	assert.Equal(t, pg.KindInvalid, pg.KindOf(err), "%v", err)
	assert.Equal(t, pg.KindInvalid, pg.KindOf(g.NetCancel(context.Background(), mobileApproveReq(nil))))
}

// A mobile approval answer held back past the timeout is unknown: it may
// have been applied, and is resolved by lookup, never by approving again.
func TestApproveMobile_SlowAnswerIsUnknown(t *testing.T) {
	t.Parallel()
	mt := httpmock.NewMockTransport()
	mt.RegisterResponder(http.MethodPost, mobileReqURL, httpmock.NewStringResponder(200, mobileAnswer(t, nil)).Delay(2*time.Second))
	g := newMobileGateway(t, mt, func(c *inicis.Config) { c.Timeout = 50 * time.Millisecond })
	_, err := g.Approve(context.Background(), mobileApproveReq(nil))
	require.ErrorIs(t, err, pg.ErrUnknown)
	assert.Equal(t, 1, mt.GetTotalCallCount(), "an approval is never resent")
}
