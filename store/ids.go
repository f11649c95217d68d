package store

import "github.com/google/uuid"

// NewPaymentID returns a new payment id: "pay_" and a UUIDv7, so ids sort by
// creation time (to the millisecond, and monotonically within a process).
func NewPaymentID() string { return "pay_" + newV7() }

// NewCancelID returns a new cancel id: "cnl_" and a UUIDv7.
func NewCancelID() string { return "cnl_" + newV7() }

// NewEventID returns a new event id: "evt_" and a UUIDv7, the form the
// event schema requires.
func NewEventID() string { return "evt_" + newV7() }

func newV7() string {
	// NewV7 fails only when the system's random source does; a random v4 id
	// is then still unique, just not time-sortable, which beats failing a
	// payment over an id.
	id, err := uuid.NewV7()
	if err != nil {
		return uuid.NewString()
	}
	return id.String()
}
