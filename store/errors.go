package store

import "errors"

// Sentinel errors callers branch on with errors.Is. Repositories wrap them
// with what they were doing.
var (
	// ErrNotFound: the row asked for does not exist.
	ErrNotFound = errors.New("store: not found")
	// ErrOrderClaimed: another payment already holds the order
	// (payment_order_mapping); the order has an active payment.
	ErrOrderClaimed = errors.New("store: order already claimed by another payment")
	// ErrConflict: a compare-and-set found the row changed since it was
	// read (its version moved, or it was released by someone else).
	ErrConflict = errors.New("store: conflict: row changed since it was read")
	// ErrDuplicate: a unique key (idempotency key, (pg, payment key),
	// event id, order id) is already taken.
	ErrDuplicate = errors.New("store: duplicate")
	// ErrInvalid: the record given to a repository is malformed (missing
	// id, unknown status, negative amount, invalid JSON...). Nothing was
	// written.
	ErrInvalid = errors.New("store: invalid record")
)
