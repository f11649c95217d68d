package inicis_test

import (
	"bytes"
	"context"
	"database/sql"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jarcoal/httpmock"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/text/encoding/korean"

	"github.com/paygate/paygate/inicis"
	"github.com/paygate/paygate/inicis/inicistest"
	"github.com/paygate/paygate/pg"
	"github.com/paygate/paygate/pg/pgtest"
	"github.com/paygate/paygate/store"
	"github.com/paygate/paygate/store/storetest"
	"github.com/paygate/paygate/store/webhookstore"
	"github.com/paygate/paygate/webhook"
)

// vbankTID is the payment's (approval's) tid; depositTID the deposit's own,
// as notifications carry them (no_req_tid, no_tid).
const (
	vbankTID   = "StdpayVBNKINIpayTest20231115071320000002"
	depositTID = "ININPGVBNKINIpayTest20231116101500000003"
)

func eucKR(t *testing.T, s string) string {
	t.Helper()
	out, err := korean.EUCKR.NewEncoder().String(s)
	require.NoError(t, err)
	return out
}

// noti builds a deposit notification as Inicis sends it: form fields, Korean
// text in EUC-KR, the deposit's own tid in no_tid and the payment's in
// no_req_tid.
func noti(t *testing.T, changes map[string]string) []byte {
	v := url.Values{
		"no_tid": {depositTID}, "no_req_tid": {vbankTID}, "no_oid": {"order-1"}, "id_merchant": {"INIpayTest"},
		"cd_bank": {"04"}, "cd_deal": {"04"}, "dt_trans": {"20231116"}, "tm_trans": {"101500"},
		"no_msgseq": {"9000000001"}, "no_transseq": {" "}, "type_msg": {"0200"}, "cl_close": {"0"}, "no_vacct": {"90012345678901"},
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
		assert.Equal(t, "vbank:"+depositTID+":0200:9000000001", ev.DedupKey)
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
		{name: "unknown payment tid", addr: inicisAddr, inquiry: `{"resultCode":"400604","resultMsg":"없음"}`, iqCode: 200},
		{name: "no payment tid, and no_tid another transaction's", addr: inicisAddr, iqCode: 200, inquiry: inquiryAnswer("APPROVAL", "10000", "Y"),
			body: map[string]string{"no_req_tid": "<delete>", "no_tid": "StdpayVBNKINIpayTest20231115071320999999"}},
		{name: "deposit cancel of a deposit that stands", addr: inicisAddr, body: map[string]string{"type_msg": "0400"},
			inquiry: inquiryAnswer("APPROVAL", "10000", "Y"), iqCode: 200},
		{name: "deposit cancel of an account never paid", addr: inicisAddr, body: map[string]string{"type_msg": "0400"},
			inquiry: inquiryAnswer("APPROVAL", "10000", "N"), iqCode: 200},
		{name: "deposit cancel of an account canceled unpaid", addr: inicisAddr, body: map[string]string{"type_msg": "0400"},
			inquiry: strings.Replace(inquiryAnswer("CANCEL", "10000", "N"), `"availablePartCancel"`, `"cancelDate":"20231116","cancelTime":"120000","availablePartCancel"`, 1), iqCode: 200},
		{name: "deposit cancel of a card payment", addr: inicisAddr, body: map[string]string{"type_msg": "0400"}, iqCode: 200,
			inquiry: `{"resultCode":"00","tid":"` + vbankTID + `","oid":"order-1","price":"10000","paymethod":"Card","transactionStatus":"CANCEL","cancelDate":"20231116"}`},
		{name: "sequence too long", addr: inicisAddr, body: map[string]string{"no_msgseq": strings.Repeat("9", 41)}},
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

func TestParseWebhook_SkippedInquiry(t *testing.T) {
	t.Parallel()
	g := newGateway(t, failTransport{t}, func(c *inicis.Config) { c.SkipNotiInquiry = true })
	ev, err := g.ParseWebhook(context.Background(), pg.WebhookRequest{Body: noti(t, map[string]string{"type_msg": "0400"}), RemoteAddr: inicisAddr})
	require.NoError(t, err)
	assert.Equal(t, pg.WebhookCancelStatus, ev.Type)
	assert.Equal(t, pg.StatusCanceled, ev.Status)
	assert.Equal(t, vbankTID, ev.PaymentKey, "the payment is named by no_req_tid, not by the deposit's tid")
	assert.Equal(t, "vbank:"+depositTID+":0400:9000000001", ev.DedupKey)
	assert.Nil(t, ev.Payment)
}

// expectInquiry answers INIAPI inquiries with body after checking the
// request asks for exactly want (the data object).
func expectInquiry(t *testing.T, want, body string) httpmock.Responder {
	return func(r *http.Request) (*http.Response, error) {
		b, err := io.ReadAll(r.Body)
		require.NoError(t, err)
		assert.Contains(t, string(b), `"data":`+want+`,`)
		assert.NotContains(t, string(b), depositTID, "the deposit's own tid is never inquired")
		return httpmock.NewStringResponse(200, body), nil
	}
}

// A deposit is a transaction of its own: no_tid is the deposit's tid and
// the payment is no_req_tid. The inquiry asks for the payment, by
// no_req_tid or, when a notice has none, by the order id; never for no_tid.
func TestParseWebhook_VerifiesThePaymentNotTheDeposit(t *testing.T) {
	t.Parallel()
	t.Run("by no_req_tid", func(t *testing.T) {
		t.Parallel()
		mt := httpmock.NewMockTransport()
		mt.RegisterResponder(http.MethodPost, apiBase+"inquiry", expectInquiry(t, `{"tid":"`+vbankTID+`"}`, inquiryAnswer("APPROVAL", "10000", "Y")))
		ev, err := newGateway(t, mt).ParseWebhook(context.Background(), pg.WebhookRequest{Body: noti(t, nil), RemoteAddr: inicisAddr})
		require.NoError(t, err)
		assert.Equal(t, 1, mt.GetTotalCallCount())
		assert.Equal(t, vbankTID, ev.PaymentKey)
		assert.Equal(t, vbankTID, ev.Payment.PaymentKey)
		assert.Equal(t, vbankTID, ev.Payment.Data["tid"], "later calls use the payment's tid")
	})
	t.Run("by order id without no_req_tid", func(t *testing.T) {
		t.Parallel()
		mt := httpmock.NewMockTransport()
		mt.RegisterResponder(http.MethodPost, apiBase+"inquiry", expectInquiry(t, `{"oid":"order-1"}`, inquiryAnswer("APPROVAL", "10000", "Y")))
		ev, err := newGateway(t, mt).ParseWebhook(context.Background(), pg.WebhookRequest{Body: noti(t, map[string]string{"no_req_tid": "<delete>"}), RemoteAddr: inicisAddr})
		require.NoError(t, err)
		assert.Equal(t, vbankTID, ev.PaymentKey, "the payment's tid comes from the inquiry")
	})
	t.Run("older notice naming the payment in no_tid", func(t *testing.T) {
		t.Parallel()
		mt := httpmock.NewMockTransport()
		mt.RegisterResponder(http.MethodPost, apiBase+"inquiry", expectInquiry(t, `{"oid":"order-1"}`, inquiryAnswer("APPROVAL", "10000", "Y")))
		ev, err := newGateway(t, mt).ParseWebhook(context.Background(), pg.WebhookRequest{
			Body: noti(t, map[string]string{"no_req_tid": "<delete>", "no_tid": vbankTID}), RemoteAddr: inicisAddr})
		require.NoError(t, err)
		assert.Equal(t, vbankTID, ev.PaymentKey)
	})
}

// A notification as Inicis really sends it (field set and layout of a
// live INIpayTest deposit with a cash receipt, the tids of one seen in real
// traffic): the deposit's tid differs from the payment's, which also comes
// as no_cshr_tid.
func TestParseWebhook_RealDepositNotification(t *testing.T) {
	t.Parallel()
	body, err := os.ReadFile(filepath.Join("testdata", "noti", "deposit_cash_receipt.form"))
	require.NoError(t, err)
	n, err := inicis.ParseNotification(bytes.TrimSpace(body))
	require.NoError(t, err)
	assert.Equal(t, "ININPGVBNKINIpayTest20201228163833983265", n.TID)
	assert.Equal(t, "StdpayVBNKINIpayTest20201228161804321482", n.ReqTID)
	assert.Equal(t, n.ReqTID, n.CashReceiptTID)
	assert.Equal(t, "9000000582", n.MsgSeq)
	assert.Empty(t, n.TransSeq, "a blank no_transseq")
	assert.Equal(t, "홍길동", n.Depositor)
	assert.Equal(t, "__테스트__", n.BankName)

	const payTID = "StdpayVBNKINIpayTest20201228161804321482"
	answer := `{"resultCode":"00","tid":"` + payTID + `","mid":"INIpayTest","oid":"1609140975421INIPAY","price":"1000","paymethod":"VBank",` +
		`"transactionStatus":"APPROVAL","approvedDate":"20201228","approvedTime":"161804","availablePartCancel":true,` +
		`"vacctInfo":{"accountNumber":"56211103849740","bankCode":"88","depositStatus":"Y","depositAmount":"1000","depositDate":"20201228","depositTime":"163833"}}`
	mt := httpmock.NewMockTransport()
	mt.RegisterResponder(http.MethodPost, apiBase+"inquiry", expectInquiry(t, `{"tid":"`+payTID+`"}`, answer))
	ev, err := newGateway(t, mt).ParseWebhook(context.Background(), pg.WebhookRequest{Body: bytes.TrimSpace(body), RemoteAddr: inicisAddr})
	require.NoError(t, err)
	assert.Equal(t, payTID, ev.PaymentKey)
	assert.Equal(t, "vbank:ININPGVBNKINIpayTest20201228163833983265:0200:9000000582", ev.DedupKey)
	assert.Equal(t, pg.StatusApproved, ev.Payment.Status)
	assert.Equal(t, time.Date(2020, 12, 28, 16, 38, 33, 0, kst).Unix(), ev.Payment.ApprovedAt.Unix(), "captured when the money arrived")
}

// A deposit cancel (type_msg 0400) is verified like a deposit: the
// inquiry must show the deposited money refunded. Its event carries the
// inquiry's view, with the cancel.
func TestParseWebhook_DepositCancelVerifiedByInquiry(t *testing.T) {
	t.Parallel()
	canceled := strings.Replace(inquiryAnswer("CANCEL", "10000", "Y"), `"availablePartCancel"`, `"cancelDate":"20231116","cancelTime":"120000","availablePartCancel"`, 1)
	canceled = strings.Replace(canceled, `"depositAmount":"","depositDate":"","depositTime":""`, `"depositAmount":"10000","depositDate":"20231116","depositTime":"101500"`, 1)
	mt := httpmock.NewMockTransport()
	mt.RegisterResponder(http.MethodPost, apiBase+"inquiry", expectInquiry(t, `{"tid":"`+vbankTID+`"}`, canceled))
	g := newGateway(t, mt)
	first, err := g.ParseWebhook(context.Background(), pg.WebhookRequest{Body: noti(t, map[string]string{"type_msg": "0400", "no_msgseq": "9000000002"}), RemoteAddr: inicisAddr})
	require.NoError(t, err)
	assert.Equal(t, pg.WebhookCancelStatus, first.Type)
	assert.Equal(t, pg.StatusCanceled, first.Status)
	assert.Equal(t, vbankTID, first.PaymentKey)
	require.NotNil(t, first.Payment)
	require.Len(t, first.Payment.Cancels, 1)
	assert.Equal(t, int64(10000), first.Payment.Cancels[0].Amount.Int64())

	again, err := g.ParseWebhook(context.Background(), pg.WebhookRequest{Body: noti(t, map[string]string{"type_msg": "0400", "no_msgseq": "9000000002"}), RemoteAddr: "183.109.71.153:1"})
	require.NoError(t, err)
	assert.Equal(t, first.DedupKey, again.DedupKey, "the same notice delivered again")

	later, err := g.ParseWebhook(context.Background(), pg.WebhookRequest{Body: noti(t, map[string]string{"type_msg": "0400", "no_msgseq": "9000000005"}), RemoteAddr: inicisAddr})
	require.NoError(t, err)
	assert.NotEqual(t, first.DedupKey, later.DedupKey, "a later notice for the same tid is news")

	noSeq, err := g.ParseWebhook(context.Background(), pg.WebhookRequest{Body: noti(t, map[string]string{"type_msg": "0400", "no_msgseq": "<delete>"}), RemoteAddr: inicisAddr})
	require.NoError(t, err)
	assert.Equal(t, "vbank:"+depositTID+":0400:t20231116101500", noSeq.DedupKey, "without sequences, the transaction time tells notices apart")
}

func TestAckWebhook_AnswersPlainOK(t *testing.T) {
	t.Parallel()
	rec := httptest.NewRecorder()
	newGateway(t, failTransport{t}).AckWebhook(rec)
	assert.Equal(t, http.StatusOK, rec.Code)
	assert.Equal(t, "OK", rec.Body.String())
	assert.Contains(t, rec.Header().Get("Content-Type"), "text/plain")
}

// intakeEnv is a shop's notification endpoint as paygate hosts mount it —
// the webhook intake with its delivery log in a real database — in front of
// the Inicis sandbox, which notifies it over HTTP.
type intakeEnv struct {
	db     *store.DB
	srv    *inicistest.Server
	gw     *inicis.Gateway
	hooks  *httptest.Server
	log    *webhookstore.Store
	effect string // effect table
}

func newIntakeEnv(t *testing.T, db *store.DB) *intakeEnv {
	t.Helper()
	e := &intakeEnv{db: db, srv: inicistest.NewServer(inicistest.Config{}), log: webhookstore.New(db), effect: "inicis_test_effects"}
	t.Cleanup(e.srv.Close)
	cfg := e.srv.GatewayConfig()
	cfg.Logger = slog.New(slog.DiscardHandler)
	gw, err := inicis.New(cfg)
	require.NoError(t, err)
	e.gw = gw
	_, err = db.SQL().ExecContext(context.Background(),
		`CREATE TABLE `+e.effect+` (dedup_key VARCHAR(255) NOT NULL, payment_key VARCHAR(64) NOT NULL, status VARCHAR(32) NOT NULL)`)
	require.NoError(t, err)
	reg, err := pg.NewRegistry(gw)
	require.NoError(t, err)
	in, err := webhook.New(webhook.Config{
		Registry: reg, Store: e.log, Logger: slog.New(slog.DiscardHandler),
		// The effect writes in the delivery's transaction: a row here
		// means the delivery was applied.
		Effect: func(ctx context.Context, tx *sql.Tx, ev pg.WebhookEvent) error {
			_, err := tx.ExecContext(ctx, `INSERT INTO `+e.effect+` (dedup_key, payment_key, status) VALUES (?, ?, ?)`,
				ev.DedupKey, ev.PaymentKey, string(ev.Status))
			return err
		},
	})
	require.NoError(t, err)
	mux := http.NewServeMux()
	mux.Handle("POST /webhooks/{pg}", in)
	e.hooks = httptest.NewServer(mux)
	t.Cleanup(e.hooks.Close)
	e.srv.SetNotifyURL(e.hooks.URL + "/webhooks/" + inicis.Name)
	return e
}

// issue has the buyer choose a virtual account and approves it.
func (e *intakeEnv) issue(t *testing.T, orderID string, amount int64) *pg.Payment {
	t.Helper()
	ctx := context.Background()
	res, err := e.srv.PayVirtualAccount(ctx, pgtest.PayRequest{OrderID: orderID, Amount: pg.Won(amount)})
	require.NoError(t, err)
	p, err := e.gw.Approve(ctx, pg.ApproveRequest{OrderID: orderID, Amount: pg.Won(amount), Redirect: res.Redirect})
	require.NoError(t, err)
	require.Equal(t, pg.StatusWaitingForDeposit, p.Status)
	return p
}

// post delivers a notification body to the intake from a loopback
// address, as the sandbox does.
func (e *intakeEnv) post(t *testing.T, body []byte) (int, string) {
	t.Helper()
	resp, err := http.Post(e.hooks.URL+"/webhooks/"+inicis.Name, "application/x-www-form-urlencoded; charset=EUC-KR", bytes.NewReader(body))
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(b)
}

// applied lists the dedup keys the effect ran for, for one payment.
func (e *intakeEnv) applied(t *testing.T, paymentKey string) []string {
	t.Helper()
	rows, err := e.db.SQL().QueryContext(context.Background(), `SELECT dedup_key FROM `+e.effect+` WHERE payment_key = ? ORDER BY dedup_key`, paymentKey)
	require.NoError(t, err)
	defer rows.Close()
	var keys []string
	for rows.Next() {
		var k string
		require.NoError(t, rows.Scan(&k))
		keys = append(keys, k)
	}
	require.NoError(t, rows.Err())
	return keys
}

// Deposit-cancel notices (type_msg 0400) are verified by inquiry like
// deposits, and deduplicated by what makes a notice unique: two genuine
// notices for one tid with different sequences are both applied, the same
// notice delivered again is not, and a deposit cancel Inicis's records
// contradict is refused and stores nothing.
func TestIntake_DepositCancelNotices_VerifiedAndDeduplicatedPerNotice(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newIntakeEnv(t, db)
		ctx := context.Background()

		p := e.issue(t, "order-va-1", 20000)
		require.NoError(t, e.srv.Deposit(ctx, "order-va-1"), "the deposit notice is answered OK")
		require.NoError(t, e.srv.CancelDeposit(ctx, "order-va-1"), "the bank cancels the deposit: a 0400 notice")
		firstCancel, _, err := e.srv.Webhooks(ctx, "order-va-1")
		require.NoError(t, err)
		require.NoError(t, e.srv.CancelDeposit(ctx, "order-va-1"), "a later 0400 notice for the same tid, a new message")

		keys := e.applied(t, p.PaymentKey)
		require.Len(t, keys, 3, "the deposit and both deposit-cancel notices were applied: %v", keys)
		seqs := map[string]bool{}
		for _, k := range keys {
			assert.NotContains(t, k, p.PaymentKey, "keyed on the deposit's own tid, not the payment's")
			seqs[k] = true
		}
		assert.Len(t, seqs, 3)

		// The same notice delivered again is acknowledged and not applied
		// twice.
		status, answer := e.post(t, firstCancel.Body)
		assert.Equal(t, http.StatusOK, status)
		assert.Equal(t, "OK", answer)
		assert.Equal(t, keys, e.applied(t, p.PaymentKey))

		deliveries, err := e.log.ByPayment(ctx, inicis.Name, p.PaymentKey)
		require.NoError(t, err)
		require.Len(t, deliveries, 3)
		types := map[pg.WebhookType]int{}
		for _, d := range deliveries {
			types[d.Event.Type]++
			require.NotNil(t, d.Event.Payment, "verified by inquiry")
			assert.Equal(t, p.PaymentKey, d.Event.Payment.PaymentKey)
		}
		assert.Equal(t, map[pg.WebhookType]int{pg.WebhookDeposit: 1, pg.WebhookCancelStatus: 2}, types)

		// A deposit cancel of a deposit that stands (a copy of a genuine
		// deposit notice turned into 0400) is refused: the inquiry says
		// otherwise.
		q := e.issue(t, "order-va-2", 15000)
		require.NoError(t, e.srv.Deposit(ctx, "order-va-2"))
		deposit, _, err := e.srv.Webhooks(ctx, "order-va-2")
		require.NoError(t, err)
		forged, err := url.ParseQuery(string(deposit.Body))
		require.NoError(t, err)
		forged.Set("type_msg", "0400")
		forged.Set("no_msgseq", "9000999999")
		status, _ = e.post(t, []byte(forged.Encode()))
		assert.Equal(t, http.StatusUnauthorized, status)
		assert.Len(t, e.applied(t, q.PaymentKey), 1, "only the genuine deposit")
		got, err := e.gw.Lookup(ctx, pg.LookupRequest{PaymentKey: q.PaymentKey})
		require.NoError(t, err)
		assert.Equal(t, pg.StatusApproved, got.Status, "nothing moved at the PG")
	})
}

// The sandbox's forged notifications, delivered through the intake, are
// all refused and leave nothing in the log.
func TestIntake_ForgedNotificationsStoreNothing(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newIntakeEnv(t, db)
		ctx := context.Background()
		p := e.issue(t, "order-va-3", 9000)
		require.NoError(t, e.srv.Deposit(ctx, "order-va-3"))
		forged, err := e.srv.ForgedWebhooks(ctx, "order-va-3")
		require.NoError(t, err)
		posted := 0
		for i, d := range forged {
			if peer, err := netip.ParseAddrPort(d.RemoteAddr); err != nil || !peer.Addr().IsLoopback() {
				continue // meant to come from elsewhere; this test's connections are loopback
			}
			status, _ := e.post(t, d.Body)
			assert.Equal(t, http.StatusUnauthorized, status, "forgery %d: %s", i, d.Body)
			posted++
		}
		assert.GreaterOrEqual(t, posted, 5)
		assert.Len(t, e.applied(t, p.PaymentKey), 1, "only the genuine deposit")
	})
}
