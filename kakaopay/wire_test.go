package kakaopay_test

import (
	"bytes"
	"context"
	"flag"
	"io"
	"net/http"
	"os"
	"path/filepath"
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
			Data:      map[string]string{"tid": testTID, "cid": "TC0ONETIME", "partner_order_id": "order-1", "partner_user_id": "user-1", "aid": "A5678901234567890123"},
			RequestID: "A5678901234567890123",
		}},
		{"approve by card with old and new card fields", "approve", "approve_card.json", func(g *kakaopay.Gateway) (*pg.Payment, error) {
			return g.Approve(ctx, pg.ApproveRequest{OrderID: "order-1", Amount: pg.Won(2200), Redirect: map[string]string{"pg_token": "t"}, Prepared: prepared})
		}, pg.Payment{
			PG: "kakaopay", PaymentKey: testTID, OrderID: "order-1", Status: pg.StatusApproved, PGStatus: "SUCCESS_PAYMENT",
			Method: pg.MethodCard, Amount: pg.Won(2200), Balance: pg.Won(2200), ApprovedAt: at("2023-07-15T21:18:22"),
			Data:      map[string]string{"tid": testTID, "cid": "TC0ONETIME", "partner_order_id": "order-1", "partner_user_id": "user-1", "aid": "A5678901234567890123"},
			RequestID: "A5678901234567890123",
		}},
		{"approve with string amounts and an offset", "approve", "approve_string_amounts.json", func(g *kakaopay.Gateway) (*pg.Payment, error) {
			return g.Approve(ctx, pg.ApproveRequest{OrderID: "order-1", Amount: pg.Won(2200), Redirect: map[string]string{"pg_token": "t"}, Prepared: prepared})
		}, pg.Payment{
			PG: "kakaopay", PaymentKey: testTID, OrderID: "order-1", Status: pg.StatusApproved, PGStatus: "SUCCESS_PAYMENT",
			Method: pg.MethodMoney, Amount: pg.Won(2200), Balance: pg.Won(2200), ApprovedAt: at("2023-07-15T21:18:22"),
			Data:      map[string]string{"tid": testTID, "cid": "TC0ONETIME", "partner_order_id": "order-1", "partner_user_id": "user-1", "aid": "A5678901234567890123"},
			RequestID: "A5678901234567890123",
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
			Cancels:   []pg.CancelRecord{{TransactionKey: "A0000000000000000002", Amount: pg.Won(700), Reason: "cxl_1", CanceledAt: at("2023-07-16T09:00:01")}},
			Data:      map[string]string{"tid": testTID, "cid": "TC0ONETIME", "partner_order_id": "order-1", "partner_user_id": "user-1"},
			RequestID: "A0000000000000000002",
		}},
		{"full cancel", "cancel", "cancel_full.json", func(g *kakaopay.Gateway) (*pg.Payment, error) {
			return g.Cancel(ctx, pg.CancelRequest{CancelID: "cxl_2", Balance: pg.Won(2200), Prepared: prepared})
		}, pg.Payment{
			PG: "kakaopay", PaymentKey: testTID, OrderID: "order-1", Status: pg.StatusCanceled, PGStatus: "CANCEL_PAYMENT",
			Method: pg.MethodCard, Amount: pg.Won(2200), Balance: pg.Won(0), ApprovedAt: at("2023-07-15T21:18:40"),
			Cancels:   []pg.CancelRecord{{TransactionKey: "A0000000000000000003", Amount: pg.Won(2200), CanceledAt: at("2023-07-16T09:00:01")}},
			Data:      map[string]string{"tid": testTID, "cid": "TC0ONETIME", "partner_order_id": "order-1", "partner_user_id": "user-1"},
			RequestID: "A0000000000000000003",
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
