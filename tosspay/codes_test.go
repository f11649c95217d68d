package tosspay_test

import (
	"context"
	"errors"
	"testing"

	"github.com/jarcoal/httpmock"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/paygate/paygate/pg"
)

func TestErrors_Wire_BodiesMappedToKinds(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		status    int
		body      []byte
		wantKind  pg.Kind
		wantCode  string
		retryable bool
	}{
		{"card company refusal", 403, golden(t, "error_reject_card_company.json"), pg.KindDeclined, "REJECT_CARD_COMPANY", false},
		{"v2 nested error body", 404, golden(t, "error_v2.json"), pg.KindNotFound, "NOT_FOUND_PAYMENT", false},
		{"already processed: look it up", 400, []byte(`{"code":"ALREADY_PROCESSED_PAYMENT","message":"이미 처리된 결제 입니다"}`), pg.KindAlreadyDone, "ALREADY_PROCESSED_PAYMENT", false},
		{"provider error: declined, retryable", 400, []byte(`{"code":"PROVIDER_ERROR","message":"일시적인 오류가 발생했습니다. 잠시 후 다시 시도해주세요."}`), pg.KindDeclined, "PROVIDER_ERROR", true},
		{"session expired", 404, []byte(`{"code":"NOT_FOUND_PAYMENT_SESSION","message":"결제 시간이 만료되어"}`), pg.KindDeclined, "NOT_FOUND_PAYMENT_SESSION", false},
		{"bad key", 401, []byte(`{"code":"UNAUTHORIZED_KEY","message":"인증되지 않은 시크릿 키"}`), pg.KindInvalid, "UNAUTHORIZED_KEY", false},
		{"consecutive requests: not processed", 403, []byte(`{"code":"FORBIDDEN_CONSECUTIVE_REQUEST","message":"반복적인 요청은 허용되지 않습니다."}`), pg.KindUnavailable, "FORBIDDEN_CONSECUTIVE_REQUEST", true},
		{"code Toss added later: status fallback", 400, []byte(`{"code":"SOMETHING_NEW","message":"새 에러"}`), pg.KindInvalid, "SOMETHING_NEW", false},
		{"no JSON at all: status fallback", 429, []byte(`Too Many Requests`), pg.KindUnavailable, "", false},
		{"unknown fields ignored", 403, []byte(`{"code":"REJECT_CARD_PAYMENT","message":"한도초과","traceId":"x","extra":{"a":1}}`), pg.KindDeclined, "REJECT_CARD_PAYMENT", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			gw, mt := mockGateway(t, sendOnce)
			mt.RegisterNoResponder(httpmock.NewBytesResponder(tt.status, tt.body))
			_, err := gw.Approve(context.Background(), pg.ApproveRequest{PaymentID: "pay_1", OrderID: orderID, Amount: pg.Won(1000), PaymentKey: paymentKey})
			require.Error(t, err)
			var pe *pg.Error
			require.ErrorAs(t, err, &pe)
			assert.Equal(t, tt.wantKind, pe.Kind)
			assert.Equal(t, tt.wantCode, pe.Code)
			assert.Equal(t, tt.status, pe.HTTPStatus)
			assert.Equal(t, tt.retryable, pe.Retryable)
			assert.Equal(t, "tosspay", pe.PG)
			assert.Equal(t, "approve", pe.Op)
			assert.True(t, errors.Is(err, pe.Kind))
		})
	}
}
