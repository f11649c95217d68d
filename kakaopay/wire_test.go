package kakaopay_test

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jarcoal/httpmock"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/paygate/paygate/kakaopay"
	"github.com/paygate/paygate/pg"
)

// These tests pin the wire format against httpmock: every request's URL,
// headers and body (golden files), and the parsing of every answer shape.

var update = flag.Bool("update", false, "rewrite the golden files")

const (
	testSecret = "DEV0123456789ABCDEF0123456789ABCDEF01"
	testTID    = "T1234567890123456789"
	currentAPI = "https://open-api.kakaopay.com/online/v1/payment/"
	legacyAPI  = "https://kapi.kakao.com/v1/payment/"
)

func fixture(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "responses", name))
	require.NoError(t, err)
	return b
}

func mockGateway(t *testing.T, legacy bool, logger *slog.Logger) (*kakaopay.Gateway, *httpmock.MockTransport) {
	t.Helper()
	mt := httpmock.NewMockTransport()
	gw, err := kakaopay.New(kakaopay.Config{
		CID: kakaopay.TestCID, SecretKey: testSecret, Legacy: legacy,
		HTTPClient: &http.Client{Transport: mt}, Logger: logger,
	})
	require.NoError(t, err)
	return gw, mt
}

var prepared = map[string]string{
	kakaopay.DataTID: testTID, kakaopay.DataCID: kakaopay.TestCID,
	kakaopay.DataPartnerOrderID: "order-1", kakaopay.DataPartnerUserID: "user-1",
}

// request is one captured request.
type request struct {
	url    string
	header http.Header
	body   []byte
}

// respond answers every POST to url with status and body, recording the
// requests.
func respond(mt *httpmock.MockTransport, url string, status int, body []byte) *[]request {
	var got []request
	mt.RegisterResponder(http.MethodPost, url, func(r *http.Request) (*http.Response, error) {
		b, _ := io.ReadAll(r.Body)
		got = append(got, request{url: r.URL.String(), header: r.Header.Clone(), body: b})
		resp := httpmock.NewBytesResponse(status, body)
		resp.Header.Set("Content-Type", "application/json;charset=UTF-8")
		return resp, nil
	})
	return &got
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", "golden", name)
	if *update {
		require.NoError(t, os.WriteFile(path, got, 0o644))
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err, "run go test -update to create it")
	assert.Equal(t, string(want), string(got), "request body differs from %s", path)
}

func TestRequests_MatchTheWireFormat(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	prepareReq := pg.PrepareRequest{
		OrderID: "order-1", OrderName: "초코파이", Amount: pg.Won(2200), TaxFree: pg.Won(200),
		CustomerID: "user-1", Method: pg.MethodCard,
		SuccessURL: "https://shop.example/kakao/ok?order=order-1",
		CancelURL:  "https://shop.example/kakao/cancel", FailURL: "https://shop.example/kakao/fail",
	}
	approveReq := pg.ApproveRequest{
		PaymentID: "pay_01J0000000000000000000000", OrderID: "order-1", Amount: pg.Won(2200),
		Redirect: map[string]string{"pg_token": "xxxxxxxxxxxxxxxxxxxx"}, Prepared: prepared,
	}
	tests := []struct {
		name     string
		legacy   bool
		op       string
		response string
		call     func(*kakaopay.Gateway) error
	}{
		{"ready", false, "ready", "ready.json", func(g *kakaopay.Gateway) error { _, err := g.Prepare(ctx, prepareReq); return err }},
		{"approve", false, "approve", "approve_card.json", func(g *kakaopay.Gateway) error { _, err := g.Approve(ctx, approveReq); return err }},
		{"order", false, "order", "order_success.json", func(g *kakaopay.Gateway) error {
			_, err := g.Lookup(ctx, pg.LookupRequest{OrderID: "order-1", Prepared: prepared})
			return err
		}},
		{"cancel_partial", false, "cancel", "cancel_partial.json", func(g *kakaopay.Gateway) error {
			_, err := g.Cancel(ctx, pg.CancelRequest{CancelID: "cxl_1", OrderID: "order-1", Amount: pg.Won(700), Balance: pg.Won(2200), Prepared: prepared})
			return err
		}},
		{"cancel_full", false, "cancel", "cancel_full.json", func(g *kakaopay.Gateway) error {
			_, err := g.Cancel(ctx, pg.CancelRequest{CancelID: "cxl_2", PaymentKey: testTID, Balance: pg.Won(2200), TaxFree: pg.Won(0), Prepared: prepared})
			return err
		}},
		{"ready", true, "ready", "ready.json", func(g *kakaopay.Gateway) error { _, err := g.Prepare(ctx, prepareReq); return err }},
		{"approve", true, "approve", "approve_money.json", func(g *kakaopay.Gateway) error { _, err := g.Approve(ctx, approveReq); return err }},
		{"order", true, "order", "order_part_cancel.json", func(g *kakaopay.Gateway) error {
			_, err := g.Lookup(ctx, pg.LookupRequest{PaymentKey: testTID})
			return err
		}},
		{"cancel_partial", true, "cancel", "cancel_partial.json", func(g *kakaopay.Gateway) error {
			_, err := g.Cancel(ctx, pg.CancelRequest{CancelID: "cxl_1", OrderID: "order-1", Amount: pg.Won(700), Balance: pg.Won(2200), Prepared: prepared})
			return err
		}},
	}
	for _, tt := range tests {
		base, auth, ctype, ext := currentAPI, "SECRET_KEY "+testSecret, "application/json", ".json"
		if tt.legacy {
			base, auth, ctype, ext = legacyAPI, "KakaoAK "+testSecret, "application/x-www-form-urlencoded;charset=utf-8", ".form"
		}
		t.Run(tt.name+ext, func(t *testing.T) {
			t.Parallel()
			gw, mt := mockGateway(t, tt.legacy, nil)
			got := respond(mt, base+tt.op, http.StatusOK, fixture(t, tt.response))
			require.NoError(t, tt.call(gw))
			require.Len(t, *got, 1, "sent once")
			r := (*got)[0]
			assert.Equal(t, base+tt.op, r.url)
			assert.Equal(t, auth, r.header.Get("Authorization"))
			assert.Equal(t, ctype, r.header.Get("Content-Type"))
			golden(t, tt.name+ext, r.body)
		})
	}
}

func TestCancel_FullWithoutBalance_LooksUpAndGuards(t *testing.T) {
	t.Parallel()
	gw, mt := mockGateway(t, false, nil)
	orders := respond(mt, currentAPI+"order", http.StatusOK, fixture(t, "order_part_cancel.json"))
	cancels := respond(mt, currentAPI+"cancel", http.StatusOK, fixture(t, "cancel_full.json"))
	p, err := gw.Cancel(context.Background(), pg.CancelRequest{CancelID: "cxl_2", OrderID: "order-1", Prepared: prepared})
	require.NoError(t, err)
	assert.Equal(t, pg.StatusCanceled, p.Status)
	require.Len(t, *orders, 1)
	require.Len(t, *cancels, 1)
	golden(t, "cancel_full_after_lookup.json", (*cancels)[0].body)
}

func TestResponses_Parsed(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	seoul := time.FixedZone("KST", 9*60*60)
	at := func(s string) time.Time {
		tm, err := time.ParseInLocation("2006-01-02T15:04:05", s, seoul)
		require.NoError(t, err)
		return tm
	}
	tests := []struct {
		name     string
		op       string
		response string
		call     func(*kakaopay.Gateway) (*pg.Payment, error)
		want     pg.Payment
	}{
		{"approve by money", "approve", "approve_money.json", func(g *kakaopay.Gateway) (*pg.Payment, error) {
			return g.Approve(ctx, pg.ApproveRequest{OrderID: "order-1", Amount: pg.Won(2200), Redirect: map[string]string{"pg_token": "t"}, Prepared: prepared})
		}, pg.Payment{
			PG: "kakaopay", PaymentKey: testTID, OrderID: "order-1", Status: pg.StatusApproved, PGStatus: "SUCCESS_PAYMENT",
			Method: pg.MethodMoney, Amount: pg.Won(2200), Balance: pg.Won(2200), ApprovedAt: at("2023-07-15T21:18:22"),
			Data: map[string]string{"tid": testTID, "cid": "TC0ONETIME", "partner_order_id": "order-1", "partner_user_id": "user-1", "aid": "A5678901234567890123"},
		}},
		{"approve by card with old and new card fields", "approve", "approve_card.json", func(g *kakaopay.Gateway) (*pg.Payment, error) {
			return g.Approve(ctx, pg.ApproveRequest{OrderID: "order-1", Amount: pg.Won(2200), Redirect: map[string]string{"pg_token": "t"}, Prepared: prepared})
		}, pg.Payment{
			PG: "kakaopay", PaymentKey: testTID, OrderID: "order-1", Status: pg.StatusApproved, PGStatus: "SUCCESS_PAYMENT",
			Method: pg.MethodCard, Amount: pg.Won(2200), Balance: pg.Won(2200), ApprovedAt: at("2023-07-15T21:18:22"),
			Data: map[string]string{"tid": testTID, "cid": "TC0ONETIME", "partner_order_id": "order-1", "partner_user_id": "user-1", "aid": "A5678901234567890123"},
		}},
		{"approve with string amounts and an offset", "approve", "approve_string_amounts.json", func(g *kakaopay.Gateway) (*pg.Payment, error) {
			return g.Approve(ctx, pg.ApproveRequest{OrderID: "order-1", Amount: pg.Won(2200), Redirect: map[string]string{"pg_token": "t"}, Prepared: prepared})
		}, pg.Payment{
			PG: "kakaopay", PaymentKey: testTID, OrderID: "order-1", Status: pg.StatusApproved, PGStatus: "SUCCESS_PAYMENT",
			Method: pg.MethodMoney, Amount: pg.Won(2200), Balance: pg.Won(2200), ApprovedAt: at("2023-07-15T21:18:22"),
			Data: map[string]string{"tid": testTID, "cid": "TC0ONETIME", "partner_order_id": "order-1", "partner_user_id": "user-1", "aid": "A5678901234567890123"},
		}},
		{"order after approval", "order", "order_success.json", func(g *kakaopay.Gateway) (*pg.Payment, error) {
			return g.Lookup(ctx, pg.LookupRequest{Prepared: prepared})
		}, pg.Payment{
			PG: "kakaopay", PaymentKey: testTID, OrderID: "order-1", Status: pg.StatusApproved, PGStatus: "SUCCESS_PAYMENT",
			Method: pg.MethodCard, Amount: pg.Won(2200), Balance: pg.Won(2200), ApprovedAt: at("2023-07-15T21:18:40"),
			Data: map[string]string{"tid": testTID, "cid": "TC0ONETIME", "partner_order_id": "order-1", "partner_user_id": "user-1"},
		}},
		{"order with actions lacking amount", "order", "order_action_without_amount.json", func(g *kakaopay.Gateway) (*pg.Payment, error) {
			return g.Lookup(ctx, pg.LookupRequest{Prepared: prepared})
		}, pg.Payment{
			PG: "kakaopay", PaymentKey: testTID, OrderID: "order-1", Status: pg.StatusPartialCanceled, PGStatus: "PART_CANCEL_PAYMENT",
			Method: pg.MethodMoney, Amount: pg.Won(2200), Balance: pg.Won(1300), ApprovedAt: at("2023-07-15T21:18:40"),
			Cancels: []pg.CancelRecord{
				{TransactionKey: "A0000000000000000002", Amount: pg.Won(700), Reason: "cxl_1", CanceledAt: at("2023-07-16T09:00:01")},
				// Its amount is what the canceled total (900) leaves.
				{TransactionKey: "A0000000000000000003", Amount: pg.Won(200), Reason: "cxl_2", CanceledAt: at("2023-07-16T11:30:12")},
			},
			Data: map[string]string{"tid": testTID, "cid": "TC0ONETIME", "partner_order_id": "order-1", "partner_user_id": "user-1"},
		}},
		{"order partly canceled", "order", "order_part_cancel.json", func(g *kakaopay.Gateway) (*pg.Payment, error) {
			return g.Lookup(ctx, pg.LookupRequest{Prepared: prepared})
		}, pg.Payment{
			PG: "kakaopay", PaymentKey: testTID, OrderID: "order-1", Status: pg.StatusPartialCanceled, PGStatus: "PART_CANCEL_PAYMENT",
			Method: pg.MethodMoney, Amount: pg.Won(2200), Balance: pg.Won(1500), ApprovedAt: at("2023-07-15T21:18:40"),
			Cancels: []pg.CancelRecord{{TransactionKey: "A0000000000000000002", Amount: pg.Won(700), Reason: "cxl_1", CanceledAt: at("2023-07-16T09:00:01")}},
			Data:    map[string]string{"tid": testTID, "cid": "TC0ONETIME", "partner_order_id": "order-1", "partner_user_id": "user-1"},
		}},
		{"order before payment", "order", "order_ready.json", func(g *kakaopay.Gateway) (*pg.Payment, error) {
			return g.Lookup(ctx, pg.LookupRequest{Prepared: prepared})
		}, pg.Payment{
			PG: "kakaopay", PaymentKey: testTID, OrderID: "order-1", Status: pg.StatusPending, PGStatus: "READY",
			Amount: pg.Won(2200), Balance: pg.Won(0),
			Data: map[string]string{"tid": testTID, "cid": "TC0ONETIME", "partner_order_id": "order-1", "partner_user_id": "user-1"},
		}},
		{"partial cancel", "cancel", "cancel_partial.json", func(g *kakaopay.Gateway) (*pg.Payment, error) {
			return g.Cancel(ctx, pg.CancelRequest{CancelID: "cxl_1", Amount: pg.Won(700), Balance: pg.Won(2200), Prepared: prepared})
		}, pg.Payment{
			PG: "kakaopay", PaymentKey: testTID, OrderID: "order-1", Status: pg.StatusPartialCanceled, PGStatus: "PART_CANCEL_PAYMENT",
			Method: pg.MethodMoney, Amount: pg.Won(2200), Balance: pg.Won(1500), ApprovedAt: at("2023-07-15T21:18:40"),
			Cancels: []pg.CancelRecord{{TransactionKey: "A0000000000000000002", Amount: pg.Won(700), Reason: "cxl_1", CanceledAt: at("2023-07-16T09:00:01")}},
			Data:    map[string]string{"tid": testTID, "cid": "TC0ONETIME", "partner_order_id": "order-1", "partner_user_id": "user-1"},
		}},
		{"full cancel", "cancel", "cancel_full.json", func(g *kakaopay.Gateway) (*pg.Payment, error) {
			return g.Cancel(ctx, pg.CancelRequest{CancelID: "cxl_2", Balance: pg.Won(2200), Prepared: prepared})
		}, pg.Payment{
			PG: "kakaopay", PaymentKey: testTID, OrderID: "order-1", Status: pg.StatusCanceled, PGStatus: "CANCEL_PAYMENT",
			Method: pg.MethodCard, Amount: pg.Won(2200), Balance: pg.Won(0), ApprovedAt: at("2023-07-15T21:18:40"),
			Cancels: []pg.CancelRecord{{TransactionKey: "A0000000000000000003", Amount: pg.Won(2200), CanceledAt: at("2023-07-16T09:00:01")}},
			Data:    map[string]string{"tid": testTID, "cid": "TC0ONETIME", "partner_order_id": "order-1", "partner_user_id": "user-1"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			gw, mt := mockGateway(t, false, nil)
			respond(mt, currentAPI+tt.op, http.StatusOK, fixture(t, tt.response))
			got, err := tt.call(gw)
			require.NoError(t, err)
			assert.True(t, tt.want.ApprovedAt.Equal(got.ApprovedAt), "approved at %v, want %v", got.ApprovedAt, tt.want.ApprovedAt)
			for i := range got.Cancels {
				require.Less(t, i, len(tt.want.Cancels))
				assert.True(t, tt.want.Cancels[i].CanceledAt.Equal(got.Cancels[i].CanceledAt))
				got.Cancels[i].CanceledAt = tt.want.Cancels[i].CanceledAt
			}
			got.ApprovedAt = tt.want.ApprovedAt
			assert.Equal(t, tt.want, *got)
		})
	}
}

func TestPrepare_ParsesReady(t *testing.T) {
	t.Parallel()
	gw, mt := mockGateway(t, false, nil)
	respond(mt, currentAPI+"ready", http.StatusOK, fixture(t, "ready.json"))
	p, err := gw.Prepare(context.Background(), pg.PrepareRequest{
		OrderID: "order-1", Amount: pg.Won(2200),
		SuccessURL: "https://s.example/ok", CancelURL: "https://s.example/c", FailURL: "https://s.example/f",
	})
	require.NoError(t, err)
	assert.Equal(t, map[string]string{
		"next_redirect_app_url":    "https://mockup-pg-web.kakao.com/v1/xxxxxxxxxx/aInfo",
		"next_redirect_mobile_url": "https://mockup-pg-web.kakao.com/v1/xxxxxxxxxx/mInfo",
		"next_redirect_pc_url":     "https://mockup-pg-web.kakao.com/v1/xxxxxxxxxx/info",
		"android_app_scheme":       "kakaotalk://kakaopay/pg?url=https://mockup-pg-web.kakao.com/v1/xxxxxxxxxx/order",
		"ios_app_scheme":           "kakaotalk://kakaopay/pg?url=https://mockup-pg-web.kakao.com/v1/xxxxxxxxxx/order",
	}, p.Client)
	assert.Equal(t, map[string]string{
		"tid": testTID, "cid": "TC0ONETIME", "partner_order_id": "order-1", "partner_user_id": "order-1",
	}, p.Data, "partner_user_id defaults to the order id")
}

func TestErrorAnswers_MappedToKinds(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	approve := func(g *kakaopay.Gateway) error {
		_, err := g.Approve(ctx, pg.ApproveRequest{OrderID: "order-1", Amount: pg.Won(2200), Redirect: map[string]string{"pg_token": "t"}, Prepared: prepared})
		return err
	}
	cancel := func(g *kakaopay.Gateway) error {
		_, err := g.Cancel(ctx, pg.CancelRequest{Amount: pg.Won(700), Balance: pg.Won(2200), Prepared: prepared})
		return err
	}
	cancelUnguarded := func(g *kakaopay.Gateway) error {
		_, err := g.Cancel(ctx, pg.CancelRequest{Amount: pg.Won(700), Prepared: prepared})
		return err
	}
	lookup := func(g *kakaopay.Gateway) error {
		_, err := g.Lookup(ctx, pg.LookupRequest{Prepared: prepared})
		return err
	}
	prepare := func(g *kakaopay.Gateway) error {
		_, err := g.Prepare(ctx, pg.PrepareRequest{OrderID: "o", Amount: pg.Won(1), SuccessURL: "https://s.example/a", CancelURL: "https://s.example/b", FailURL: "https://s.example/c"})
		return err
	}
	tests := []struct {
		name      string
		legacy    bool
		op        string
		call      func(*kakaopay.Gateway) error
		status    int
		body      string
		kind      pg.Kind
		code      string
		retryable bool
		message   string
	}{
		{"approval failure with method result", false, "approve", approve, 400, string(fixture(t, "error_780.json")), pg.KindDeclined, "-780", true, "USER_LOCKED"},
		{"legacy approval failure", true, "approve", approve, 400, string(fixture(t, "error_780_legacy.json")), pg.KindDeclined, "-780", true, "approval failure!"},
		{"card refusal is not retryable", false, "approve", approve, 400, `{"error_code":-780,"error_message":"approval failure!","extras":{"method_result_code":"REJECT_CARD","method_result_message":"거절"}}`, pg.KindDeclined, "-780", false, "REJECT_CARD 거절"},
		{"already approved", false, "approve", approve, 400, `{"error_code":-702,"error_message":"payment already approved"}`, pg.KindAlreadyDone, "-702", false, ""},
		{"tid of another order: a definite refusal", false, "approve", approve, 400, `{"error_code":-706,"error_message":"partner_order_id differs"}`, pg.KindInvalid, "-706", false, ""},
		{"tid of another buyer: a definite refusal", true, "approve", approve, 400, `{"code":-707,"msg":"partner_user_id differs"}`, pg.KindInvalid, "-707", false, ""},
		{"code as a string", false, "lookup", lookup, 400, `{"error_code":"-721","error_message":"tid not found"}`, pg.KindNotFound, "-721", false, "tid not found"},
		{"legacy code as a string", true, "lookup", lookup, 400, `{"code":"-721","msg":"tid not found"}`, pg.KindNotFound, "-721", false, "tid not found"},
		{"unknown code on approve must be looked up", false, "approve", approve, 400, `{"error_code":-799999,"error_message":"something new"}`, pg.KindUnknown, "-799999", false, "something new"},
		{"unknown code on cancel is a refusal", false, "cancel", cancel, 400, `{"error_code":-799999,"error_message":"something new"}`, pg.KindInvalid, "-799999", false, ""},
		{"unknown code on lookup", false, "lookup", lookup, 400, `{"error_code":-799999,"error_message":"x"}`, pg.KindInvalid, "-799999", false, ""},
		{"stale balance guard", false, "cancel", cancel, 400, `{"error_code":-710,"error_message":"cancel amount exceeds"}`, pg.KindAlreadyDone, "-710", false, ""},
		{"over-cancel without a guard", false, "cancel", cancelUnguarded, 400, `{"error_code":-710,"error_message":"cancel amount exceeds"}`, pg.KindInvalid, "-710", false, ""},
		{"legacy over-cancel without a guard", true, "cancel", cancelUnguarded, 400, `{"code":-710,"msg":"cancel amount exceeds"}`, pg.KindInvalid, "-710", false, ""},
		{"cancel refused", false, "cancel", cancel, 400, `{"error_code":-781,"error_message":"cancel failure!"}`, pg.KindDeclined, "-781", false, ""},
		{"bad key", false, "prepare", prepare, 401, `{"error_code":-401,"error_message":"invalid secret key"}`, pg.KindInvalid, "-401", false, ""},
		{"bad key on approve without body", false, "approve", approve, 401, ``, pg.KindInvalid, "", false, "Unauthorized"},
		{"bad parameter", false, "prepare", prepare, 400, `{"error_code":-2,"error_message":"invalid request"}`, pg.KindInvalid, "-2", false, ""},
		{"maintenance", false, "prepare", prepare, 400, `{"error_code":-9798,"error_message":"서비스 점검 중"}`, pg.KindUnavailable, "-9798", true, ""},
		{"internal error on approve", false, "approve", approve, 500, `{"error_code":-1,"error_message":"internal error"}`, pg.KindUnknown, "-1", false, ""},
		{"500 with a refusal code on approve may still have acted", false, "approve", approve, 500, `{"error_code":-780,"error_message":"approval failure!"}`, pg.KindUnknown, "-780", false, ""},
		{"HTML 502 from a proxy on approve", false, "approve", approve, 502, `<html><body>Bad Gateway</body></html>`, pg.KindUnknown, "", false, "Bad Gateway"},
		{"HTML 400 from a proxy on approve", false, "approve", approve, 400, `<html>bad</html>`, pg.KindUnknown, "", false, ""},
		// A bare 404 is a wrong address far more often than a missing payment:
		// it must never make a captured payment look absent.
		{"empty 404 on lookup", false, "lookup", lookup, 404, ``, pg.KindInvalid, "", false, ""},
		{"JSON without a code", false, "cancel", cancel, 400, `{"error_message":"odd"}`, pg.KindInvalid, "", false, "odd"},
		{"JSON of another shape on approve", false, "approve", approve, 400, `{"unexpected":true}`, pg.KindUnknown, "", false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			gw, mt := mockGateway(t, tt.legacy, nil)
			base := currentAPI
			if tt.legacy {
				base = legacyAPI
			}
			path := map[string]string{"approve": "approve", "cancel": "cancel", "lookup": "order", "prepare": "ready"}[tt.op]
			got := respond(mt, base+path, tt.status, []byte(tt.body))
			err := tt.call(gw)
			pe := requireKind(t, err, tt.kind)
			assert.Equal(t, tt.op, pe.Op)
			assert.Equal(t, "kakaopay", pe.PG)
			assert.Equal(t, tt.code, pe.Code)
			assert.Equal(t, tt.status, pe.HTTPStatus)
			assert.Equal(t, tt.retryable, pe.Retryable)
			assert.Contains(t, pe.Message, tt.message)
			assert.Len(t, *got, 1, "an error answer is not resent")
		})
	}
}

func TestTransportFailures(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	reset := &net.OpError{Op: "read", Net: "tcp", Err: syscall.ECONNRESET}
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}
	tests := []struct {
		name     string
		path     string
		err      error
		call     func(*kakaopay.Gateway) error
		kind     pg.Kind
		attempts int
	}{
		{"approve reset after sending: unknown, never resent", "approve", reset, func(g *kakaopay.Gateway) error {
			_, err := g.Approve(ctx, pg.ApproveRequest{OrderID: "order-1", Amount: pg.Won(2200), Redirect: map[string]string{"pg_token": "t"}, Prepared: prepared})
			return err
		}, pg.KindUnknown, 1},
		{"cancel reset after sending: unknown, never resent", "cancel", reset, func(g *kakaopay.Gateway) error {
			_, err := g.Cancel(ctx, pg.CancelRequest{Amount: pg.Won(700), Balance: pg.Won(2200), Prepared: prepared})
			return err
		}, pg.KindUnknown, 1},
		{"lookup reset: a read, resent", "order", reset, func(g *kakaopay.Gateway) error {
			_, err := g.Lookup(ctx, pg.LookupRequest{Prepared: prepared})
			return err
		}, pg.KindUnknown, 3},
		{"approve refused connection: never reached KakaoPay, resent", "approve", refused, func(g *kakaopay.Gateway) error {
			_, err := g.Approve(ctx, pg.ApproveRequest{OrderID: "order-1", Amount: pg.Won(2200), Redirect: map[string]string{"pg_token": "t"}, Prepared: prepared})
			return err
		}, pg.KindUnavailable, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			gw, mt := mockGateway(t, false, nil)
			mt.RegisterResponder(http.MethodPost, currentAPI+tt.path, httpmock.NewErrorResponder(tt.err))
			requireKind(t, tt.call(gw), tt.kind)
			assert.Equal(t, tt.attempts, mt.GetTotalCallCount())
		})
	}
}

func TestUntrustworthySuccessAnswers_Unknown(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	approve := func(g *kakaopay.Gateway) error {
		_, err := g.Approve(ctx, pg.ApproveRequest{OrderID: "order-1", Amount: pg.Won(2200), Redirect: map[string]string{"pg_token": "t"}, Prepared: prepared})
		return err
	}
	lookup := func(g *kakaopay.Gateway) error {
		_, err := g.Lookup(ctx, pg.LookupRequest{Prepared: prepared})
		return err
	}
	cancel := func(g *kakaopay.Gateway) error {
		_, err := g.Cancel(ctx, pg.CancelRequest{Amount: pg.Won(700), Balance: pg.Won(2200), Prepared: prepared})
		return err
	}
	tests := []struct {
		name, path, body string
		call             func(*kakaopay.Gateway) error
		code             string
	}{
		{"approve garbage", "approve", `<html>`, approve, "BAD_RESPONSE"},
		{"approve another amount", "approve", `{"tid":"` + testTID + `","partner_order_id":"order-1","amount":{"total":2100}}`, approve, "AMOUNT_MISMATCH"},
		{"approve fractional won", "approve", `{"tid":"` + testTID + `","partner_order_id":"order-1","amount":{"total":2200.5}}`, approve, "BAD_RESPONSE"},
		{"approve negative amount", "approve", `{"tid":"` + testTID + `","partner_order_id":"order-1","amount":{"total":-2200}}`, approve, "BAD_RESPONSE"},
		{"approve without amount", "approve", `{"tid":"` + testTID + `","partner_order_id":"order-1"}`, approve, "BAD_RESPONSE"},
		{"approve of another tid", "approve", `{"tid":"T9","partner_order_id":"order-1","amount":{"total":2200}}`, approve, "BAD_RESPONSE"},
		{"approve with a bad timestamp", "approve", `{"tid":"` + testTID + `","partner_order_id":"order-1","amount":{"total":2200},"approved_at":"yesterday"}`, approve, "BAD_RESPONSE"},
		{"lookup with an undocumented status", "order", `{"tid":"` + testTID + `","status":"HALF_PAID","amount":{"total":2200}}`, lookup, "UNKNOWN_STATUS"},
		{"lookup approved without amount", "order", `{"tid":"` + testTID + `","partner_order_id":"order-1","status":"SUCCESS_PAYMENT"}`, lookup, "BAD_RESPONSE"},
		{"lookup with balance above amount", "order", `{"tid":"` + testTID + `","partner_order_id":"order-1","status":"SUCCESS_PAYMENT","amount":{"total":100},"cancel_available_amount":{"total":200}}`, lookup, "BAD_RESPONSE"},
		{"lookup canceled with a balance", "order", `{"tid":"` + testTID + `","partner_order_id":"order-1","status":"CANCEL_PAYMENT","amount":{"total":100},"cancel_available_amount":{"total":50}}`, lookup, "BAD_RESPONSE"},
		{"cancel with an approval status", "cancel", `{"tid":"` + testTID + `","status":"SUCCESS_PAYMENT","amount":{"total":2200},"approved_cancel_amount":{"total":700},"cancel_available_amount":{"total":1500}}`, cancel, "BAD_RESPONSE"},
		{"cancel without balance", "cancel", `{"tid":"` + testTID + `","status":"PART_CANCEL_PAYMENT","amount":{"total":2200},"approved_cancel_amount":{"total":700}}`, cancel, "BAD_RESPONSE"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			gw, mt := mockGateway(t, false, nil)
			respond(mt, currentAPI+tt.path, http.StatusOK, []byte(tt.body))
			pe := requireKind(t, tt.call(gw), pg.KindUnknown)
			assert.Equal(t, tt.code, pe.Code)
		})
	}
}

func TestLookup_OlderAnswerWithoutBalance_DerivesIt(t *testing.T) {
	t.Parallel()
	gw, mt := mockGateway(t, false, nil)
	respond(mt, currentAPI+"order", http.StatusOK, []byte(`{"tid":"`+testTID+`","partner_order_id":"order-1","status":"PART_CANCEL_PAYMENT","amount":{"total":2200},"canceled_amount":{"total":700}}`))
	p, err := gw.Lookup(context.Background(), pg.LookupRequest{Prepared: prepared})
	require.NoError(t, err)
	assert.True(t, pg.Won(1500).Equal(p.Balance), "%s", p.Balance)
}

func TestLookup_TIDOfAnotherOrder_Refused(t *testing.T) {
	t.Parallel()
	gw, mt := mockGateway(t, false, nil)
	respond(mt, currentAPI+"order", http.StatusOK, fixture(t, "order_success.json"))
	_, err := gw.Lookup(context.Background(), pg.LookupRequest{PaymentKey: testTID, OrderID: "order-2"})
	pe := requireKind(t, err, pg.KindInvalid)
	assert.Equal(t, "ORDER_MISMATCH", pe.Code)
}

func TestLogs_NeverCarryTheKey(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	for _, legacy := range []bool{false, true} {
		gw, mt := mockGateway(t, legacy, logger)
		mt.RegisterNoResponder(httpmock.NewErrorResponder(errors.New("refused " + testSecret)))
		_, err := gw.Lookup(context.Background(), pg.LookupRequest{Prepared: prepared})
		require.Error(t, err)
		assert.NotContains(t, err.Error(), testSecret)
	}
	require.NotEmpty(t, buf.String(), "calls are logged")
	assert.NotContains(t, buf.String(), testSecret)

	buf.Reset()
	logger.Info("config", "cfg", kakaopay.Config{CID: "TC0ONETIME", SecretKey: testSecret})
	assert.NotContains(t, buf.String(), testSecret)
	assert.Contains(t, buf.String(), "TC0ONETIME")
}

func TestNew_RefusesIncompleteConfig(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		cfg  kakaopay.Config
	}{
		{"no cid", kakaopay.Config{SecretKey: "k"}},
		{"no key", kakaopay.Config{CID: "TC0ONETIME"}},
		{"relative base URL", kakaopay.Config{CID: "TC0ONETIME", SecretKey: "k", BaseURL: "/kakao"}},
		{"bad approval URL", kakaopay.Config{CID: "TC0ONETIME", SecretKey: "k", ApprovalURL: "ftp://x/ok"}},
	}
	for _, tt := range tests {
		_, err := kakaopay.New(tt.cfg)
		assert.Error(t, err, tt.name)
	}
}

func TestCapabilities_Declared(t *testing.T) {
	t.Parallel()
	gw, _ := mockGateway(t, false, nil)
	c := gw.Capabilities()
	assert.Equal(t, "kakaopay", gw.Name())
	assert.True(t, c.PartialCancel)
	assert.False(t, c.IdempotencyKeys, "KakaoPay has no idempotency key")
	assert.False(t, c.LookupByOrderID, "lookup needs the tid")
	assert.False(t, c.Webhooks)
	assert.False(t, c.VirtualAccounts)
	assert.True(t, c.SupportsCurrency(pg.KRW))
	assert.False(t, c.SupportsCurrency(pg.USD))
	assert.True(t, c.SupportsMethod(pg.MethodEasyPay))
	assert.False(t, c.SupportsMethod(pg.MethodVirtualAccount))
}

// Entries of payment_action_details may lack amount: none of them fails
// the lookup; a cancel whose amount cannot be known is left out of Cancels.
func TestLookup_ActionsWithoutAmount_NeverFailTheLookup(t *testing.T) {
	t.Parallel()
	action := func(aid, typ, amount string) string {
		a := `{"aid":"` + aid + `","approved_at":"2023-07-16T09:00:01","payment_action_type":"` + typ + `","payload":"` + aid + `"`
		if amount != "" {
			a += `,"amount":` + amount
		}
		return a + "}"
	}
	order := func(status, canceled, available string, actions ...string) []byte {
		return []byte(`{"tid":"` + testTID + `","partner_order_id":"order-1","status":"` + status + `","amount":{"total":2200},` +
			canceled + `"cancel_available_amount":{"total":` + available + `},"payment_action_details":[` + strings.Join(actions, ",") + `]}`)
	}
	tests := []struct {
		name    string
		body    []byte
		balance pg.Money
		cancels map[string]pg.Money
	}{
		{"approval without amount", order("SUCCESS_PAYMENT", ``, "2200", action("A1", "PAYMENT", "")), pg.Won(2200), map[string]pg.Money{}},
		{"the only cancel without amount, no canceled_amount: amount minus balance", order("PART_CANCEL_PAYMENT", ``, "1500",
			action("A1", "PAYMENT", "2200"), action("A2", "CANCEL", "")), pg.Won(1500), map[string]pg.Money{"A2": pg.Won(700)}},
		{"two cancels without amount: left out", order("PART_CANCEL_PAYMENT", `"canceled_amount":{"total":1000},`, "1200",
			action("A1", "PAYMENT", "2200"), action("A2", "CANCEL", ""), action("A3", "CANCEL", ""), action("A4", "CANCEL", "300")),
			pg.Won(1200), map[string]pg.Money{"A4": pg.Won(300)}},
		{"totals that do not add up: left out", order("PART_CANCEL_PAYMENT", `"canceled_amount":{"total":700},`, "1500",
			action("A2", "CANCEL", "900"), action("A3", "CANCEL", "")), pg.Won(1500), map[string]pg.Money{"A2": pg.Won(900)}},
		{"null amount", order("CANCEL_PAYMENT", `"canceled_amount":{"total":2200},`, "0",
			action("A1", "PAYMENT", "null"), action("A2", "CANCEL", "null")), pg.Won(0), map[string]pg.Money{"A2": pg.Won(2200)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			gw, mt := mockGateway(t, false, nil)
			respond(mt, currentAPI+"order", http.StatusOK, tt.body)
			p, err := gw.Lookup(context.Background(), pg.LookupRequest{Prepared: prepared})
			require.NoError(t, err)
			assert.True(t, tt.balance.Equal(p.Balance), "balance %s", p.Balance)
			got := map[string]pg.Money{}
			for _, c := range p.Cancels {
				require.True(t, c.Amount.IsSet(), "a listed cancel has an amount")
				got[c.TransactionKey] = c.Amount
			}
			require.Len(t, got, len(tt.cancels))
			for k, want := range tt.cancels {
				assert.True(t, want.Equal(got[k]), "%s: %s, want %s", k, got[k], want)
			}
		})
	}
}

func TestAnswers_MustCarryTheOrderAskedAbout(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	t.Run("lookup answer without partner_order_id", func(t *testing.T) {
		t.Parallel()
		gw, mt := mockGateway(t, false, nil)
		respond(mt, currentAPI+"order", http.StatusOK, []byte(`{"tid":"`+testTID+`","status":"SUCCESS_PAYMENT","amount":{"total":2200},"cancel_available_amount":{"total":2200}}`))
		_, err := gw.Lookup(ctx, pg.LookupRequest{Prepared: prepared})
		pe := requireKind(t, err, pg.KindUnknown)
		assert.Equal(t, "BAD_RESPONSE", pe.Code)
	})
	t.Run("cancel answered for another order", func(t *testing.T) {
		t.Parallel()
		gw, mt := mockGateway(t, false, nil)
		body := bytes.ReplaceAll(fixture(t, "cancel_partial.json"), []byte(`"order-1"`), []byte(`"order-2"`))
		respond(mt, currentAPI+"cancel", http.StatusOK, body)
		_, err := gw.Cancel(ctx, pg.CancelRequest{CancelID: "cxl_1", Amount: pg.Won(700), Balance: pg.Won(2200), Prepared: prepared})
		pe := requireKind(t, err, pg.KindUnknown)
		assert.Equal(t, "BAD_RESPONSE", pe.Code)
	})
}
