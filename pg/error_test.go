package pg_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/paygate/paygate/pg"
)

var kindSentinels = []struct {
	kind     pg.Kind
	sentinel error
	name     string
}{
	{pg.KindUnknown, pg.ErrUnknown, "unknown"},
	{pg.KindDeclined, pg.ErrDeclined, "declined"},
	{pg.KindInvalid, pg.ErrInvalid, "invalid"},
	{pg.KindUnavailable, pg.ErrUnavailable, "unavailable"},
	{pg.KindAlreadyDone, pg.ErrAlreadyDone, "already done"},
	{pg.KindNotFound, pg.ErrNotFound, "not found"},
}

func TestError_MatchesOnlyItsKindThroughWrapping(t *testing.T) {
	t.Parallel()
	for _, k := range kindSentinels {
		t.Run(k.name, func(t *testing.T) {
			t.Parallel()
			pgErr := &pg.Error{PG: "tosspay", Op: "approve", Kind: k.kind, Code: "SOME_CODE"}
			once := fmt.Errorf("tosspay: confirm order %q: %w", "o-1", pgErr)
			twice := fmt.Errorf("approve payment %s: %w", "pay_1", once)

			for _, err := range []error{pgErr, once, twice} {
				for _, other := range kindSentinels {
					assert.Equal(t, other.kind == k.kind, errors.Is(err, other.sentinel),
						"errors.Is(%v, %v)", err, other.sentinel)
				}
				assert.Equal(t, k.kind, pg.KindOf(err))

				var got *pg.Error
				require.True(t, errors.As(err, &got))
				assert.Same(t, pgErr, got)
			}

			// A bare sentinel wrapped with context works the same way.
			bare := fmt.Errorf("lookup: %w", k.sentinel)
			assert.ErrorIs(t, bare, k.sentinel)
			assert.Equal(t, k.kind, pg.KindOf(bare))
		})
	}
}

func TestError_UnwrapsItsCause(t *testing.T) {
	t.Parallel()
	cause := io.ErrUnexpectedEOF
	err := fmt.Errorf("kakaopay: approve: %w", &pg.Error{PG: "kakaopay", Kind: pg.KindUnknown, Err: cause})
	assert.ErrorIs(t, err, cause)
	assert.ErrorIs(t, err, pg.ErrUnknown)

	// An adapter that classified a deadline as Unavailable (it never sent the
	// request) keeps that kind: the *Error's own kind wins over the cause.
	err = &pg.Error{PG: "inicis", Kind: pg.KindUnavailable, Err: context.DeadlineExceeded}
	assert.Equal(t, pg.KindUnavailable, pg.KindOf(err))
	assert.ErrorIs(t, err, context.DeadlineExceeded)
}

func TestKindOf_UnclassifiedErrorsAreUnknown(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		err  error
		want pg.Kind
	}{
		{"nil", nil, pg.KindUnknown},
		{"plain error", errors.New("connection reset by peer"), pg.KindUnknown},
		{"io error", io.EOF, pg.KindUnknown},
		{"context canceled", context.Canceled, pg.KindUnknown},
		{"deadline exceeded", context.DeadlineExceeded, pg.KindUnknown},
		{"wrapped deadline", fmt.Errorf("tosspay: confirm: %w", context.DeadlineExceeded), pg.KindUnknown},
		{"money error", pg.ErrInvalidMoney, pg.KindUnknown},
		{"declined *Error", &pg.Error{Kind: pg.KindDeclined}, pg.KindDeclined},
		{"wrapped not found", fmt.Errorf("x: %w", &pg.Error{Kind: pg.KindNotFound}), pg.KindNotFound},
		{"joined with a cause", errors.Join(context.Canceled, &pg.Error{Kind: pg.KindAlreadyDone}), pg.KindAlreadyDone},
		{"bare kind", pg.KindUnavailable, pg.KindUnavailable},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, pg.KindOf(tt.err), tt.name)
	}
}

func TestKindForHTTPStatus(t *testing.T) {
	t.Parallel()
	tests := []struct {
		status int
		want   pg.Kind
	}{
		{0, pg.KindUnknown},
		{http.StatusOK, pg.KindUnknown},
		{http.StatusFound, pg.KindUnknown},
		{http.StatusBadRequest, pg.KindInvalid},
		{http.StatusUnauthorized, pg.KindInvalid},
		{http.StatusForbidden, pg.KindInvalid},
		{http.StatusNotFound, pg.KindInvalid},
		{http.StatusRequestTimeout, pg.KindUnavailable},
		{http.StatusConflict, pg.KindInvalid},
		{http.StatusUnprocessableEntity, pg.KindInvalid},
		{http.StatusTooManyRequests, pg.KindUnavailable},
		{499, pg.KindInvalid},
		{http.StatusInternalServerError, pg.KindUnknown},
		{http.StatusBadGateway, pg.KindUnknown},
		{http.StatusServiceUnavailable, pg.KindUnavailable},
		{http.StatusGatewayTimeout, pg.KindUnknown},
		{599, pg.KindUnknown},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, pg.KindForHTTPStatus(tt.status), "HTTP %d", tt.status)
	}
}

func TestKind_StringAndError(t *testing.T) {
	t.Parallel()
	for _, k := range kindSentinels {
		assert.Equal(t, k.name, k.kind.String())
		assert.Equal(t, "pg: "+k.name, k.kind.Error())
		assert.Equal(t, "pg: "+k.name, k.sentinel.Error())
	}
	assert.Equal(t, "kind(99)", pg.Kind(99).String())
	assert.Equal(t, pg.KindUnknown, pg.Kind(0), "the zero Kind must be the dangerous case")
}

func TestError_MessageCarriesEverythingSet(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		err  *pg.Error
		want string
	}{
		{
			"every field",
			&pg.Error{PG: "tosspay", Op: "approve", Kind: pg.KindDeclined, Code: "REJECT_CARD_COMPANY",
				Message: "카드사에서 거절했습니다", HTTPStatus: 403, Err: io.ErrUnexpectedEOF},
			"tosspay approve: declined REJECT_CARD_COMPANY (HTTP 403): 카드사에서 거절했습니다: unexpected EOF",
		},
		{"kind only", &pg.Error{PG: "tosspay", Kind: pg.KindUnknown}, "tosspay: unknown"},
		{"no response", &pg.Error{PG: "inicis", Op: "cancel", Kind: pg.KindUnavailable, Err: errors.New("connection refused")},
			"inicis cancel: unavailable: connection refused"},
		{"status without code", &pg.Error{PG: "kakaopay", Op: "lookup", Kind: pg.KindNotFound, HTTPStatus: 404},
			"kakaopay lookup: not found (HTTP 404)"},
		{"no PG name", &pg.Error{Op: "approve", Kind: pg.KindInvalid, Code: "BAD"}, "pg approve: invalid BAD"},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, tt.err.Error(), tt.name)
	}
}

func TestErrWebhookRejected_IsItselfAndInvalid(t *testing.T) {
	t.Parallel()
	wrapped := fmt.Errorf("tosspay: webhook for order %q: %w", "o-1", pg.ErrWebhookRejected)
	described := fmt.Errorf("%w: signature mismatch", pg.ErrWebhookRejected)
	for _, err := range []error{pg.ErrWebhookRejected, wrapped, described} {
		assert.ErrorIs(t, err, pg.ErrWebhookRejected)
		assert.ErrorIs(t, err, pg.ErrInvalid)
		assert.NotErrorIs(t, err, pg.ErrDeclined)
		assert.NotErrorIs(t, err, pg.ErrUnknown)
		assert.Equal(t, pg.KindInvalid, pg.KindOf(err))
	}

	// Some other invalid request is not a rejected webhook.
	other := &pg.Error{PG: "tosspay", Kind: pg.KindInvalid, Code: "INVALID_REQUEST"}
	assert.NotErrorIs(t, other, pg.ErrWebhookRejected)
	assert.NotErrorIs(t, fmt.Errorf("x: %w", pg.ErrInvalid), pg.ErrWebhookRejected)

	msg := wrapped.Error()
	assert.Contains(t, msg, "WEBHOOK_REJECTED")
	assert.NotContains(t, msg, ": :", "the message must read cleanly when wrapped")
	assert.False(t, strings.HasPrefix(pg.ErrWebhookRejected.Error(), ":"), pg.ErrWebhookRejected.Error())
}

func TestKindCode_StableCodesAndThePGsOwnFirst(t *testing.T) {
	cases := []struct {
		err  error
		want string
	}{
		{&pg.Error{Kind: pg.KindDeclined}, "PG_DECLINED"},
		{&pg.Error{Kind: pg.KindDeclined, Code: "REJECT_CARD_COMPANY"}, "REJECT_CARD_COMPANY"},
		{&pg.Error{Kind: pg.KindAlreadyDone}, "PG_ALREADY_DONE"},
		{&pg.Error{Kind: pg.KindNotFound}, "PG_NOT_FOUND"},
		{errors.New("plain"), "PG_UNKNOWN"},
	}
	for _, c := range cases {
		if got := pg.CodeOf(c.err); got != c.want {
			t.Errorf("CodeOf(%v) = %q, want %q", c.err, got, c.want)
		}
	}
	if pg.KindUnavailable.Code() != "UNAVAILABLE" || pg.Kind(200).Code() != "UNKNOWN" {
		t.Errorf("Kind.Code: %q %q", pg.KindUnavailable.Code(), pg.Kind(200).Code())
	}
}
