package inicistest_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/text/encoding/korean"

	"github.com/paygate/paygate/inicis"
	"github.com/paygate/paygate/pg"
	"github.com/paygate/paygate/pg/pgtest"
)

// mobileForm prepares a mobile checkout and returns its window address and
// the P_* form the phone's browser posts there.
func mobileForm(t *testing.T, e *env, orderID string, amount int64, method pg.Method) (string, url.Values, map[string]string) {
	t.Helper()
	prepared, err := e.gw.Prepare(context.Background(), pg.PrepareRequest{OrderID: orderID, OrderName: "모바일 티셔츠",
		Amount: pg.Won(amount), Method: method, Device: pg.DeviceMobile, SuccessURL: "https://shop.example/return"})
	require.NoError(t, err)
	form := url.Values{}
	for k, v := range prepared.Client {
		if k != "actionUrl" {
			form.Set(k, v)
		}
	}
	return prepared.Client["actionUrl"], form, prepared.Data
}

// postWindow posts a form to the mobile window and returns the status and
// the auth result it answers.
func postWindow(t *testing.T, action string, form url.Values) (int, map[string]string) {
	t.Helper()
	resp, err := http.PostForm(action, form)
	require.NoError(t, err)
	defer resp.Body.Close()
	var out struct {
		Redirect map[string]string `json:"redirect"`
	}
	if resp.StatusCode == http.StatusOK {
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&out))
	}
	return resp.StatusCode, out.Redirect
}

// The shop's mobile form, posted to the sandbox's window, authenticates;
// the auth result is approved at P_REQ_URL; refunds and lookups go through
// INIAPI as for the standard window.
func TestMobileWindow_PreparedFormApprovedAndRefunded(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	action, form, data := mobileForm(t, e, "m-order-1", 30000, pg.MethodCard)
	assert.True(t, strings.HasSuffix(action, "/smart/payment/"), action)
	status, redirect := postWindow(t, action, form)
	require.Equal(t, http.StatusOK, status)
	assert.Equal(t, "00", redirect["P_STATUS"])
	assert.True(t, strings.HasPrefix(redirect["P_TID"], "INIMX_CARD"), redirect["P_TID"])
	assert.Equal(t, e.srv.URL+"/smart/payReq.ini", redirect["P_REQ_URL"])

	p, err := e.gw.Approve(ctx, pg.ApproveRequest{OrderID: "m-order-1", Amount: pg.Won(30000), Redirect: redirect, Prepared: data})
	require.NoError(t, err)
	assert.Equal(t, pg.StatusApproved, p.Status)
	assert.Equal(t, redirect["P_TID"], p.PaymentKey)

	later := map[string]string{}
	for k, v := range data {
		later[k] = v
	}
	for k, v := range p.Data {
		later[k] = v
	}
	part, err := e.gw.Cancel(ctx, pg.CancelRequest{PaymentKey: p.PaymentKey, OrderID: "m-order-1", Amount: pg.Won(10000),
		Balance: pg.Won(30000), Reason: "부분취소", Prepared: later})
	require.NoError(t, err)
	assert.Equal(t, pg.StatusPartialCanceled, part.Status)
	got, err := e.gw.Lookup(ctx, pg.LookupRequest{OrderID: "m-order-1"})
	require.NoError(t, err)
	assert.Equal(t, pg.StatusPartialCanceled, got.Status)
	assert.True(t, got.Balance.Equal(pg.Won(20000)))
	l := ledgerOf(t, e.srv.Sandbox, "m-order-1")
	assert.Equal(t, 1, l.Approvals)
	assert.Equal(t, 1, l.Cancels)
}

func TestMobileWindow_RefusesWhatTheWindowWould(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for name, change := range map[string]func(f url.Values){
		"amount changed after hashing": func(f url.Values) { f.Set("P_AMT", "100") },
		"order changed after hashing":  func(f url.Values) { f.Set("P_OID", "m-other") },
		"no P_CHKFAKE":                 func(f url.Values) { f.Del("P_CHKFAKE") },
		"another merchant":             func(f url.Values) { f.Set("P_MID", "other00000") },
		"no P_NEXT_URL":                func(f url.Values) { f.Del("P_NEXT_URL") },
		"long P_GOODS":                 func(f url.Values) { f.Set("P_GOODS", strings.Repeat("가", 21)) },
		"a method it does not play":    func(f url.Values) { f.Set("P_INI_PAYMENT", "BANK") },
	} {
		action, form, _ := mobileForm(t, e, "m-refused", 5000, pg.MethodCard)
		change(form)
		status, _ := postWindow(t, action, form)
		assert.Equal(t, http.StatusBadRequest, status, name)
	}
	assert.Empty(t, e.srv.Ledger(), "a refused window records nothing")
}

// P_REQ_URL speaks Inicis's wire format: a form POST of P_MID and P_TID,
// answered in EUC-KR name=value text; a P_TID approves once.
func TestMobileApproval_WireFormat(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	res, err := e.srv.Pay(context.Background(), pgtest.PayRequest{OrderID: "m-wire", Amount: pg.Won(4000), Device: pg.DeviceApp})
	require.NoError(t, err)
	reqURL, tid := res.Redirect["P_REQ_URL"], res.Redirect["P_TID"]

	post := func(contentType, body string) (*http.Response, map[string]string) {
		t.Helper()
		resp, err := http.Post(reqURL, contentType, strings.NewReader(body))
		require.NoError(t, err)
		defer resp.Body.Close()
		raw, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		text, err := korean.EUCKR.NewDecoder().Bytes(raw)
		require.NoError(t, err)
		out := map[string]string{}
		for _, kv := range strings.Split(string(text), "&") {
			k, v, _ := strings.Cut(kv, "=")
			out[k] = v
		}
		if strings.Contains(out["P_RMESG1"], "정상") {
			assert.False(t, utf8.Valid(raw), "the answer is EUC-KR, not UTF-8")
		}
		return resp, out
	}
	const form = "application/x-www-form-urlencoded"
	_, got := post("application/json", `{"P_MID":"INIpayTest"}`)
	assert.Equal(t, "V810", got["P_STATUS"])
	_, got = post(form, url.Values{"P_MID": {"other00000"}, "P_TID": {tid}}.Encode())
	assert.Equal(t, "V813", got["P_STATUS"])

	resp, got := post(form, url.Values{"P_MID": {inicis.TestMID}, "P_TID": {tid}}.Encode())
	assert.Equal(t, "text/plain; charset=euc-kr", resp.Header.Get("Content-Type"))
	assert.Equal(t, "00", got["P_STATUS"])
	assert.Equal(t, "정상처리되었습니다.", got["P_RMESG1"])
	assert.Equal(t, tid, got["P_TID"])
	assert.Equal(t, "CARD", got["P_TYPE"])
	assert.Equal(t, "m-wire", got["P_OID"])
	assert.Equal(t, "4000", got["P_AMT"])
	assert.Len(t, got["P_AUTH_DT"], 14)
	assert.NotEmpty(t, got["P_CHKFAKE"])

	_, again := post(form, url.Values{"P_MID": {inicis.TestMID}, "P_TID": {tid}}.Encode())
	assert.Equal(t, "V811", again["P_STATUS"], "a P_TID approves once")
	assert.Equal(t, 1, ledgerOf(t, e.srv.Sandbox, "m-wire").Approvals)
}

// A tampered answer (P_CHKFAKE not Inicis's) is refunded by the adapter:
// Inicis approved once and canceled once, nothing is kept.
func TestMobileApproval_TamperedAnswerIsRefunded(t *testing.T) {
	t.Parallel()
	for _, vbank := range []bool{false, true} {
		e := newEnv(t)
		ctx := context.Background()
		pay := e.srv.Pay
		if vbank {
			pay = e.srv.PayVirtualAccount
		}
		res, err := pay(ctx, pgtest.PayRequest{OrderID: "m-tamper", Amount: pg.Won(7000), Device: pg.DeviceMobile})
		require.NoError(t, err)
		e.srv.TamperNextApproval()
		_, err = e.gw.Approve(ctx, pg.ApproveRequest{OrderID: "m-tamper", Amount: pg.Won(7000), Redirect: res.Redirect})
		require.ErrorIs(t, err, pg.ErrDeclined)
		var pe *pg.Error
		require.ErrorAs(t, err, &pe)
		assert.Equal(t, "CHKFAKE_MISMATCH", pe.Code)
		l := ledgerOf(t, e.srv.Sandbox, "m-tamper")
		assert.Equal(t, 1, l.Approvals)
		assert.Equal(t, 1, l.Cancels)
		assert.Equal(t, pg.StatusCanceled, l.Status)
	}
}

// The control endpoint plays the mobile window too: JSON with a device, or
// the shop's P_* form.
func TestControlPay_MobileWindow(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	body := `{"orderId":"m-ctl-1","amount":6000,"device":"mobile","method":"VBank"}`
	resp, err := http.Post(e.srv.URL+pgtest.ControlPrefix+"pay", "application/json", strings.NewReader(body))
	require.NoError(t, err)
	var out struct {
		Redirect map[string]string `json:"redirect"`
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&out))
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	assert.True(t, strings.HasPrefix(out.Redirect["P_TID"], "INIMX_VBNK"), out.Redirect)
	p, err := e.gw.Approve(context.Background(), pg.ApproveRequest{OrderID: "m-ctl-1", Amount: pg.Won(6000), Redirect: out.Redirect})
	require.NoError(t, err)
	assert.Equal(t, pg.StatusWaitingForDeposit, p.Status)

	_, form, _ := mobileForm(t, e, "m-ctl-2", 6000, pg.MethodCard)
	form.Set("fault", string(pgtest.FaultDecline))
	resp, err = http.PostForm(e.srv.URL+pgtest.ControlPrefix+"pay", form)
	require.NoError(t, err)
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&out))
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	_, err = e.gw.Approve(context.Background(), pg.ApproveRequest{OrderID: "m-ctl-2", Amount: pg.Won(6000), Redirect: out.Redirect})
	require.ErrorIs(t, err, pg.ErrDeclined)

	_, err = e.srv.Pay(context.Background(), pgtest.PayRequest{OrderID: "m-ctl-3", Amount: pg.Won(6000), Device: "tablet"})
	require.ErrorIs(t, err, pgtest.ErrNoWindow)
}
