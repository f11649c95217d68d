package kakaopay_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/paygate/paygate/kakaopay"
	"github.com/paygate/paygate/pg"
)

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
