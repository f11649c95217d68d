package paygate

import (
	"context"
	"errors"

	"github.com/paygate/paygate/pg"
)

// OrderService is the host application's side of the flow: paygate calls it
// after the PG approved a payment, and again to undo the order when the
// payment is refunded because the order could not be completed.
//
// Both methods are called from background runners, possibly more than once
// for the same order (after a crash, a timeout, or on another instance), so
// both must be idempotent by order id.
type OrderService interface {
	// CreateOrder creates (or confirms) the order for a paid checkout. A
	// second call for an order that exists must return nil. Return an error
	// wrapped with Permanent when retrying cannot help (out of stock, order
	// canceled meanwhile): paygate then refunds the payment at the PG and
	// calls RollbackOrder. Any other error is retried with backoff; when the
	// retries are exhausted the payment is refunded too.
	CreateOrder(ctx context.Context, req OrderRequest) error
	// RollbackOrder marks the order as not paid (canceled) after paygate
	// refunded its payment. It is retried until it returns nil; an order that
	// does not exist or is already rolled back must return nil.
	RollbackOrder(ctx context.Context, req OrderRequest) error
}

// OrderRequest identifies the order and the payment that paid for it.
type OrderRequest struct {
	OrderID   string
	PaymentID string
	PG        string
	Amount    pg.Money
	// Reason is set on rollback: ORDER_FAILED, or an operator's reason.
	Reason string
}

type permanentError struct{ err error }

func (e permanentError) Error() string { return e.err.Error() }

func (e permanentError) Unwrap() error { return e.err }

// Permanent marks an error as one that retrying cannot fix.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return permanentError{err}
}

// IsPermanent reports whether err was marked with Permanent.
func IsPermanent(err error) bool {
	var p permanentError
	return errors.As(err, &p)
}
