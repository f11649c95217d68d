package app

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/go-sql-driver/mysql"
	"github.com/stretchr/testify/assert"

	"github.com/paygate/paygate"
	"github.com/paygate/paygate/pg"
	"github.com/paygate/paygate/store"
)

// The API's error statuses are the contract of DESIGN section 7: 400
// invalid input, 404 unknown ids, 409 conflicting state or in-flight
// duplicate, 413 too large, 422 amount mismatch, 502/504 PG trouble.
func TestClassify_ErrorsMapToTheContractStatuses(t *testing.T) {
	pgErr := func(kind pg.Kind, code string) error {
		return fmt.Errorf("%w: %w", paygate.ErrPG, &pg.Error{PG: "inicis", Op: "cancel", Kind: kind, Code: code, Message: "m"})
	}
	cases := []struct {
		name   string
		err    error
		status int
		code   string
	}{
		{"body too large", fmt.Errorf("decode: %w", errTooLarge), http.StatusRequestEntityTooLarge, "REQUEST_TOO_LARGE"},
		{"amount differs from the checkout", fmt.Errorf("x: %w", paygate.ErrAmountMismatch), http.StatusUnprocessableEntity, "AMOUNT_MISMATCH"},
		{"unknown payment", fmt.Errorf("%w: payment", paygate.ErrNotFound), http.StatusNotFound, "NOT_FOUND"},
		{"unknown order", ErrOrderNotFound, http.StatusNotFound, "NOT_FOUND"},
		{"in-flight duplicate", fmt.Errorf("%w: busy", paygate.ErrInProgress), http.StatusConflict, "IN_PROGRESS"},
		{"conflicting state", fmt.Errorf("%w: paid", paygate.ErrConflict), http.StatusConflict, "CONFLICT"},
		{"order id reused for another amount", fmt.Errorf("place: %w", ErrOrderExists), http.StatusConflict, "CONFLICT"},
		{"invalid request", fmt.Errorf("%w: amount", paygate.ErrInvalid), http.StatusBadRequest, "INVALID_REQUEST"},
		{"invalid for the store", fmt.Errorf("%w: id", store.ErrInvalid), http.StatusBadRequest, "INVALID_REQUEST"},
		{"malformed body", fmt.Errorf("%w: json", errBadRequest), http.StatusBadRequest, "INVALID_REQUEST"},
		{"fractional won", fmt.Errorf("amount: %w", pg.ErrInvalidMoney), http.StatusBadRequest, "INVALID_REQUEST"},
		{"PG unavailable", pgErr(pg.KindUnavailable, ""), http.StatusBadGateway, "PG_UNAVAILABLE"},
		{"PG outcome unknown", pgErr(pg.KindUnknown, ""), http.StatusGatewayTimeout, "PG_TIMEOUT"},
		{"PG refused with its code", pgErr(pg.KindDeclined, "500629"), http.StatusConflict, "500629"},
		{"PG refused without a code", pgErr(pg.KindDeclined, ""), http.StatusConflict, "PG_REFUSED"},
		{"PG error without details", fmt.Errorf("%w: down", paygate.ErrPG), http.StatusBadGateway, "PG_ERROR"},
		{"lock wait timeout past the retries", fmt.Errorf("store: transaction gave up after 8 attempts: %w", &mysql.MySQLError{Number: 1205}), http.StatusServiceUnavailable, "DATABASE_BUSY"},
		{"killed connection on a read", fmt.Errorf("store: checkout \"o\": %w", mysql.ErrInvalidConn), http.StatusServiceUnavailable, "DATABASE_BUSY"},
		{"killed statement", &mysql.MySQLError{Number: 1317}, http.StatusServiceUnavailable, "DATABASE_BUSY"},
		{"anything else", errors.New("disk on fire"), http.StatusInternalServerError, "INTERNAL_ERROR"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			status, code := classify(c.err)
			assert.Equal(t, c.status, status)
			assert.Equal(t, c.code, code)
		})
	}
}

// A passing database failure is a 503 with Retry-After that names no
// detail, never a bare 500.
func TestFail_DatabaseBusy_503WithRetryAfter(t *testing.T) {
	a := &App{log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	rec := httptest.NewRecorder()
	a.fail(rec, fmt.Errorf("store: transaction gave up after 8 attempts: %w", &mysql.MySQLError{Number: 1213, Message: "Deadlock found"}))
	assert.Equal(t, http.StatusServiceUnavailable, rec.Code)
	assert.Equal(t, "1", rec.Header().Get("Retry-After"))
	assert.JSONEq(t, `{"success":false,"error":{"code":"DATABASE_BUSY","message":"the request failed; try again later"}}`, rec.Body.String())
}
