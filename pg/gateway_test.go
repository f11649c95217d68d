package pg_test

import (
	"bytes"
	"context"
	"log/slog"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/paygate/paygate/pg"
)

// fakeGateway is the smallest Gateway: a name and capabilities. Its calls
// refuse with an Invalid *Error, so a test that reaches them by mistake
// fails loudly instead of pretending a payment happened.
type fakeGateway struct {
	name string
	caps pg.Capabilities
}

func (f *fakeGateway) Name() string                  { return f.name }
func (f *fakeGateway) Capabilities() pg.Capabilities { return f.caps }

func (f *fakeGateway) Approve(context.Context, pg.ApproveRequest) (*pg.Payment, error) {
	return nil, f.refuse("approve")
}

func (f *fakeGateway) Cancel(context.Context, pg.CancelRequest) (*pg.Payment, error) {
	return nil, f.refuse("cancel")
}

func (f *fakeGateway) Lookup(context.Context, pg.LookupRequest) (*pg.Payment, error) {
	return nil, f.refuse("lookup")
}

func (f *fakeGateway) refuse(op string) error {
	return &pg.Error{PG: f.name, Op: op, Kind: pg.KindInvalid, Message: "routing test gateway takes no payments"}
}

var _ pg.Gateway = (*fakeGateway)(nil)

func TestCapabilities_SupportsCurrency(t *testing.T) {
	t.Parallel()
	krwOnly := pg.Capabilities{}
	assert.True(t, krwOnly.SupportsCurrency(pg.KRW), "no list means KRW only")
	assert.False(t, krwOnly.SupportsCurrency(pg.USD))

	multi := pg.Capabilities{Currencies: []pg.Currency{pg.USD, pg.JPY}}
	assert.True(t, multi.SupportsCurrency(pg.USD))
	assert.True(t, multi.SupportsCurrency(pg.JPY))
	assert.False(t, multi.SupportsCurrency(pg.KRW), "a list without KRW excludes it")
}

func TestCapabilities_SupportsMethod(t *testing.T) {
	t.Parallel()
	assert.True(t, pg.Capabilities{}.SupportsMethod(pg.MethodMoney), "no list means any method")
	cards := pg.Capabilities{Methods: []pg.Method{pg.MethodCard, pg.MethodTransfer}}
	assert.True(t, cards.SupportsMethod(pg.MethodCard))
	assert.True(t, cards.SupportsMethod(pg.MethodTransfer))
	assert.False(t, cards.SupportsMethod(pg.MethodVirtualAccount))
	assert.True(t, cards.SupportsMethod(""), "an unspecified method is the buyer's choice in the PG window")
}

func TestCancelRequest_IsFull(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		req  pg.CancelRequest
		want bool
	}{
		{"no amount", pg.CancelRequest{}, true},
		{"no amount with balance", pg.CancelRequest{Balance: pg.Won(1000)}, true},
		{"amount equals balance", pg.CancelRequest{Amount: pg.Won(1000), Balance: pg.Won(1000)}, true},
		{"amount below balance", pg.CancelRequest{Amount: pg.Won(300), Balance: pg.Won(1000)}, false},
		{"amount without balance", pg.CancelRequest{Amount: pg.Won(1000)}, false},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, tt.req.IsFull(), tt.name)
	}
}

func TestLogValue_KeepsSecretsOutOfLogs(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&buf, nil))
	log.Info("refund", "account", pg.RefundAccount{Bank: "088", AccountNumber: "110-123-456789", HolderName: "홍길동"})
	log.Info("payment", "payment", pg.Payment{PG: "tosspay", PaymentKey: "pk_1", OrderID: "o-1",
		Status: pg.StatusApproved, Amount: pg.Won(15000), Secret: "ps_secret_value"})

	out := buf.String()
	assert.NotContains(t, out, "110-123-456789")
	assert.NotContains(t, out, "홍길동")
	assert.NotContains(t, out, "ps_secret_value")
	assert.Contains(t, out, `"bank":"088"`)
	assert.Contains(t, out, `"paymentKey":"pk_1"`)
	assert.Contains(t, out, `"amount":"15000 KRW"`)
}
