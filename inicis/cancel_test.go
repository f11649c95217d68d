package inicis_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"testing"

	"github.com/jarcoal/httpmock"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/paygate/paygate/inicis"
	"github.com/paygate/paygate/pg"
)

const apiBase = "https://stginiapi.inicis.com/v2/pg/"

// Request bodies byte for byte; the hashData values were computed with
// sha512sum from the INIpayTest INIAPI key at epoch (20231115071320 KST).
const (
	wantRefund = `{"mid":"INIpayTest","type":"refund","timestamp":"20231115071320","clientIp":"192.0.2.10",` +
		`"data":{"tid":"` + tid + `","msg":"취소요청"},` +
		`"hashData":"03945a89ae6a83d45d84a5c87d44db3ac892e31edd2078d7c24937793c2afb00db83fc1503c01a30c6441d715771592e13f5edec0de3e2809868de98b0cb97d4"}`
	wantPartialRefund = `{"mid":"INIpayTest","type":"partialRefund","timestamp":"20231115071320","clientIp":"192.0.2.10",` +
		`"data":{"tid":"` + tid + `","msg":"부분 취소/반품","price":"3000","confirmPrice":"7000","currency":"WON","tax":"0","taxfree":"0"},` +
		`"hashData":"926f7bcc613cea590d5ee2426d0e237af86ec8cc8bb0a3065e96e47a95857c6134c6d1ca585d8b4b07fbc135b1d3a4613b40b20b8b83fb17b19da44369594738"}`
	wantInquiryByOID = `{"mid":"INIpayTest","type":"inquiry","timestamp":"20231115071320","clientIp":"192.0.2.10",` +
		`"data":{"oid":"order-1"},` +
		`"hashData":"52911f54d3bff4c20be2f248c4c15a50c47534eb0e27687d22f3928a947f88459512b92c20e37de2fb146499b34028b3ff8054dbb347362ba99a667479641975"}`
)

func TestCancel_FullRefundWire(t *testing.T) {
	t.Parallel()
	mt := httpmock.NewMockTransport()
	mt.RegisterResponder(http.MethodPost, apiBase+"refund", expectJSON(t, wantRefund, 200,
		`{"resultCode":"00","resultMsg":"정상처리되었습니다.","cancelDate":"20231115","cancelTime":"071320","cshrCancelNum":"","detailResultCode":"","receiptInfo":""}`))
	g := newGateway(t, mt)
	p, err := g.Cancel(context.Background(), pg.CancelRequest{
		CancelID: "c1", PaymentKey: tid, OrderID: "order-1", Prepared: map[string]string{"price": "10000"},
	})
	require.NoError(t, err)
	assert.Equal(t, 1, mt.GetTotalCallCount())
	assert.Equal(t, pg.StatusCanceled, p.Status)
	assert.True(t, p.Balance.IsZero())
	assert.True(t, p.Amount.Equal(pg.Won(10000)))
	require.Len(t, p.Cancels, 1)
	assert.True(t, p.Cancels[0].Amount.Equal(pg.Won(10000)))
	assert.True(t, p.Cancels[0].CanceledAt.Equal(epoch))
}

func TestCancel_WholeBalanceOfUntouchedPaymentIsFullRefund(t *testing.T) {
	t.Parallel()
	mt := httpmock.NewMockTransport()
	mt.RegisterResponder(http.MethodPost, apiBase+"refund", expectJSON(t, wantRefund, 200, `{"resultCode":"00","cancelDate":"20231115","cancelTime":"071320"}`))
	_, err := newGateway(t, mt).Cancel(context.Background(), pg.CancelRequest{
		PaymentKey: tid, Amount: pg.Won(10000), Balance: pg.Won(10000), Prepared: map[string]string{"price": "10000"},
	})
	require.NoError(t, err)
}

func TestCancel_PartialRefundWireCarriesConfirmPrice(t *testing.T) {
	t.Parallel()
	mt := httpmock.NewMockTransport()
	mt.RegisterResponder(http.MethodPost, apiBase+"partialRefund", expectJSON(t, wantPartialRefund, 200,
		`{"resultCode":"00","resultMsg":"정상처리되었습니다.","tid":"StdpayCARDINIpayTest20231115071320000009","prtcTid":"`+tid+`",
"prtcPrice":"3000","prtcRemains":"7000","prtcCnt":"1","prtcType":"1","prtcDate":"20231115","prtcTime":"071320"}`))
	g := newGateway(t, mt)
	p, err := g.Cancel(context.Background(), pg.CancelRequest{
		PaymentKey: tid, OrderID: "order-1", Amount: pg.Won(3000), Balance: pg.Won(10000), Reason: "부분 취소/반품",
		Prepared: map[string]string{"price": "10000"},
	})
	require.NoError(t, err)
	assert.Equal(t, pg.StatusPartialCanceled, p.Status)
	assert.True(t, p.Balance.Equal(pg.Won(7000)))
	assert.True(t, p.Amount.Equal(pg.Won(10000)))
	require.Len(t, p.Cancels, 1)
	assert.Equal(t, "StdpayCARDINIpayTest20231115071320000009", p.Cancels[0].TransactionKey)
	assert.True(t, p.Cancels[0].Amount.Equal(pg.Won(3000)))
}

// Sources disagree on the partial refund answer's prtcTid: the original
// tid (with the new one in tid) or the new one. Either reading is a
// successful refund whose cancel is keyed by the new tid; an answer naming
// two other transactions is not trusted.
func TestCancel_PartialRefundAnswerEitherReadingOfPrtcTid(t *testing.T) {
	t.Parallel()
	const newTID = "StdpayCARDINIpayTest20231115071320000009"
	tests := []struct {
		name, tidField, prtcTid string
		kind                    pg.Kind
		key                     string
	}{
		{name: "prtcTid is the original", tidField: newTID, prtcTid: tid, key: newTID},
		{name: "prtcTid is the new tid, tid the original", tidField: tid, prtcTid: newTID, key: newTID},
		{name: "prtcTid is the new tid, tid too", tidField: newTID, prtcTid: newTID, key: newTID},
		{name: "prtcTid is the new tid, no tid", prtcTid: newTID, key: newTID},
		{name: "no prtcTid", tidField: newTID, key: newTID},
		{name: "two other transactions", tidField: newTID, prtcTid: "StdpayCARDINIpayTest20231115071320000008", kind: pg.KindUnknown},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			answer := map[string]string{"resultCode": "00", "prtcPrice": "3000", "prtcRemains": "7000", "prtcDate": "20231115", "prtcTime": "071320"}
			if tc.tidField != "" {
				answer["tid"] = tc.tidField
			}
			if tc.prtcTid != "" {
				answer["prtcTid"] = tc.prtcTid
			}
			body, err := json.Marshal(answer)
			require.NoError(t, err)
			mt := httpmock.NewMockTransport()
			mt.RegisterResponder(http.MethodPost, apiBase+"partialRefund", httpmock.NewBytesResponder(200, body))
			p, err := newGateway(t, mt).Cancel(context.Background(), pg.CancelRequest{
				PaymentKey: tid, Amount: pg.Won(3000), Balance: pg.Won(10000), Prepared: map[string]string{"price": "10000"},
			})
			if tc.key == "" {
				require.Error(t, err)
				assert.Equal(t, tc.kind, pg.KindOf(err), err.Error())
				return
			}
			require.NoError(t, err)
			assert.Equal(t, pg.StatusPartialCanceled, p.Status)
			assert.Equal(t, tid, p.PaymentKey)
			require.Len(t, p.Cancels, 1)
			assert.Equal(t, tc.key, p.Cancels[0].TransactionKey)
		})
	}
}

func TestCancel_RestOfPartiallyCanceledPaymentKeepsTheGuard(t *testing.T) {
	t.Parallel()
	mt := httpmock.NewMockTransport()
	mt.RegisterResponder(http.MethodPost, apiBase+"partialRefund", func(r *http.Request) (*http.Response, error) {
		b, _ := io.ReadAll(r.Body)
		assert.Contains(t, string(b), `"price":"7000","confirmPrice":"0"`)
		return httpmock.NewStringResponse(200, `{"resultCode":"00","tid":"T2","prtcTid":"`+tid+`","prtcPrice":"7000","prtcRemains":"0","prtcDate":"20231115","prtcTime":"071320"}`), nil
	})
	p, err := newGateway(t, mt).Cancel(context.Background(), pg.CancelRequest{
		PaymentKey: tid, Amount: pg.Won(7000), Balance: pg.Won(7000), Prepared: map[string]string{"price": "10000"},
	})
	require.NoError(t, err)
	assert.Equal(t, pg.StatusCanceled, p.Status)
}

func TestCancel_ErrorShapes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		responder httpmock.Responder
		kind      pg.Kind
		code      string
	}{
		{"already canceled", httpmock.NewStringResponder(200, `{"resultCode":"500626","resultMsg":"기취소 거래"}`), pg.KindAlreadyDone, "500626"},
		// The answer Inicis gives a refund of a canceled tid, as seen in
		// real traffic.
		{"already canceled (real answer)", httpmock.NewStringResponder(200,
			`{"resultCode":"01","resultMsg":"기 취소 거래","cancelDate":null,"cancelTime":null,"cshrCancelNum":null,"detailResultCode":"512626","receiptInfo":null}`),
			pg.KindAlreadyDone, "01"},
		{"already canceled by detail code alone", httpmock.NewStringResponder(200, `{"resultCode":"01","resultMsg":"실패","detailResultCode":"512626"}`), pg.KindAlreadyDone, "01"},
		{"already canceled by message alone", httpmock.NewStringResponder(200, `{"resultCode":"01","resultMsg":"기취소 거래입니다"}`), pg.KindAlreadyDone, "01"},
		{"balance guard tripped", httpmock.NewStringResponder(200, `{"resultCode":"500627","resultMsg":"confirmPrice 불일치"}`), pg.KindAlreadyDone, "500627"},
		{"amount above balance", httpmock.NewStringResponder(200, `{"resultCode":"500628"}`), pg.KindInvalid, "500628"},
		{"hash mismatch", httpmock.NewStringResponder(200, `{"resultCode":"400601","resultMsg":"hashData 불일치"}`), pg.KindInvalid, "400601"},
		{"no such tid", httpmock.NewStringResponder(200, `{"resultCode":"400604"}`), pg.KindNotFound, "400604"},
		{"unlisted refusal", httpmock.NewStringResponder(200, `{"resultCode":"01","resultMsg":"실패","detailResultCode":"X1"}`), pg.KindDeclined, "01"},
		{"refusal with null fields", httpmock.NewStringResponder(200, `{"resultCode":"01","resultMsg":null,"cancelDate":null}`), pg.KindDeclined, "01"},
		{"5xx may have refunded", httpmock.NewStringResponder(502, "Bad Gateway"), pg.KindUnknown, ""},
		{"5xx JSON without code", httpmock.NewStringResponder(500, `{"error":"x"}`), pg.KindUnknown, ""},
		{"unreadable 200 may have refunded", httpmock.NewStringResponder(200, "<html>"), pg.KindUnknown, ""},
		{"success with bad date is unknown", httpmock.NewStringResponder(200, `{"resultCode":"00","cancelDate":"2023-11-15"}`), pg.KindUnknown, "00"},
		{"429 not processed", httpmock.NewStringResponder(429, ""), pg.KindUnavailable, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			mt := httpmock.NewMockTransport()
			mt.RegisterResponder(http.MethodPost, apiBase+"refund", tc.responder)
			_, err := newGateway(t, mt).Cancel(context.Background(), pg.CancelRequest{PaymentKey: tid})
			var pe *pg.Error
			require.ErrorAs(t, err, &pe)
			assert.Equal(t, tc.kind, pe.Kind, err.Error())
			assert.Equal(t, tc.code, pe.Code)
			if pe.HTTPStatus == http.StatusTooManyRequests {
				assert.Greater(t, mt.GetTotalCallCount(), 1, "a refund Inicis did not process is resent")
			} else {
				assert.Equal(t, 1, mt.GetTotalCallCount(), "INIAPI writes that may have acted are never resent")
			}
		})
	}
}

func TestCancel_PartialRefundOfCanceledTIDIsAlreadyDone(t *testing.T) {
	t.Parallel()
	mt := httpmock.NewMockTransport()
	mt.RegisterResponder(http.MethodPost, apiBase+"partialRefund", httpmock.NewStringResponder(200,
		`{"resultCode":"01","resultMsg":"기 취소 거래","detailResultCode":"512626"}`))
	_, err := newGateway(t, mt).Cancel(context.Background(), pg.CancelRequest{
		PaymentKey: tid, Amount: pg.Won(3000), Balance: pg.Won(10000), Prepared: map[string]string{"price": "10000"},
	})
	var pe *pg.Error
	require.ErrorAs(t, err, &pe)
	assert.Equal(t, pg.KindAlreadyDone, pe.Kind)
	assert.Equal(t, "01", pe.Code)
	assert.Contains(t, pe.Message, "512626", "the detail code is kept for operators")
}

func TestCancel_RefusesUnsafeRequestsWithoutSending(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		req  pg.CancelRequest
	}{
		{"partial without balance guard", pg.CancelRequest{PaymentKey: tid, Amount: pg.Won(100)}},
		{"more than the balance", pg.CancelRequest{PaymentKey: tid, Amount: pg.Won(2000), Balance: pg.Won(1000)}},
		{"zero amount", pg.CancelRequest{PaymentKey: tid, Amount: pg.Won(0), Balance: pg.Won(1000)}},
		{"dollars", pg.CancelRequest{PaymentKey: tid, Amount: pg.MustMoney("1.00", pg.USD), Balance: pg.MustMoney("2.00", pg.USD)}},
		{"tax free above amount", pg.CancelRequest{PaymentKey: tid, Amount: pg.Won(100), Balance: pg.Won(1000), TaxFree: pg.Won(200)}},
		{"no tid nor order", pg.CancelRequest{}},
		{"tid with control chars", pg.CancelRequest{PaymentKey: "T\n1"}},
		{"incomplete refund account", pg.CancelRequest{PaymentKey: tid, RefundAccount: &pg.RefundAccount{Bank: "04"}}},
	}
	g := newGateway(t, failTransport{t})
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := g.Cancel(context.Background(), tc.req)
			assert.ErrorIs(t, err, pg.ErrInvalid)
		})
	}
	noAPI := newGateway(t, failTransport{t}, func(c *inicis.Config) { c.ClientIP = "" })
	_, err := noAPI.Cancel(context.Background(), pg.CancelRequest{PaymentKey: tid})
	assert.ErrorIs(t, err, pg.ErrInvalid, "INIAPI without clientIp")
}

func TestCancel_VirtualAccountRefundEncryptsAccount(t *testing.T) {
	t.Parallel()
	mt := httpmock.NewMockTransport()
	mt.RegisterResponder(http.MethodPost, apiBase+"refund", func(r *http.Request) (*http.Response, error) {
		b, _ := io.ReadAll(r.Body)
		assert.Contains(t, string(b), `"refundAcctNum":"qwMHVJqsmXKoR+d8wQTS4g==","refundBankCode":"04","refundAcctName":"홍길동"`)
		assert.NotContains(t, string(b), `"123456789"`)
		return httpmock.NewStringResponse(200, `{"resultCode":"00","cancelDate":"20231115","cancelTime":"071320"}`), nil
	})
	_, err := newGateway(t, mt).Cancel(context.Background(), pg.CancelRequest{
		PaymentKey: tid, RefundAccount: &pg.RefundAccount{Bank: "04", AccountNumber: "123456789", HolderName: "홍길동"},
	})
	require.NoError(t, err)
}

func TestCancel_ByOrderIDLooksTheTIDUpFirst(t *testing.T) {
	t.Parallel()
	mt := httpmock.NewMockTransport()
	mt.RegisterResponder(http.MethodPost, apiBase+"inquiry", expectJSON(t, wantInquiryByOID, 200,
		`{"resultCode":"00","tid":"`+tid+`","mid":"INIpayTest","oid":"order-1","price":"10000","paymethod":"Card","transactionStatus":"APPROVAL","approvedDate":"20231115","approvedTime":"071320"}`))
	mt.RegisterResponder(http.MethodPost, apiBase+"refund", expectJSON(t, wantRefund, 200, `{"resultCode":"00","cancelDate":"20231115","cancelTime":"071320"}`))
	_, err := newGateway(t, mt).Cancel(context.Background(), pg.CancelRequest{OrderID: "order-1"})
	require.NoError(t, err)
	assert.Equal(t, 2, mt.GetTotalCallCount())
}

func TestCancel_WholeRestOfPartiallyCanceledPaymentIsGuarded(t *testing.T) {
	t.Parallel()
	mt := httpmock.NewMockTransport()
	mt.RegisterResponder(http.MethodPost, apiBase+"partialRefund", func(r *http.Request) (*http.Response, error) {
		b, _ := io.ReadAll(r.Body)
		assert.Contains(t, string(b), `"price":"6000","confirmPrice":"0"`)
		return httpmock.NewStringResponse(200, `{"resultCode":"00","tid":"T3","prtcTid":"`+tid+`","prtcPrice":"6000","prtcRemains":"0","prtcDate":"20231115","prtcTime":"071320"}`), nil
	})
	p, err := newGateway(t, mt).Cancel(context.Background(), pg.CancelRequest{
		PaymentKey: tid, Balance: pg.Won(6000), Prepared: map[string]string{"price": "10000", "paymethod": "Card"},
	})
	require.NoError(t, err)
	assert.Equal(t, pg.StatusCanceled, p.Status)
	assert.Equal(t, pg.MethodCard, p.Method)
	assert.Equal(t, 1, mt.GetTotalCallCount())
}
