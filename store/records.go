package store

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/paygate/paygate/pg"
)

// Checkout is what Prepare recorded for an order: the amount the host set,
// which the approval must match, and the PG's data from its prepare step.
type Checkout struct {
	// OrderID is the host's order id, as given. Primary key.
	OrderID string
	// PG is the gateway chosen for the order.
	PG string
	// Amount is the amount the host prepared; an approval for any other
	// amount is refused.
	Amount pg.Money
	// OrderName is shown to the buyer by the PG.
	OrderName string
	// PrepareData is the PG-specific JSON from Prepare (KakaoPay tid,
	// Inicis signed fields); nil when the PG has no prepare step.
	PrepareData json.RawMessage
	// ExpiresAt is when the checkout stops being approvable; zero for never.
	ExpiresAt time.Time
	// CreatedAt and UpdatedAt are set by the store when left zero.
	CreatedAt time.Time
	UpdatedAt time.Time
}

// Payment is one attempt to pay an order through a PG. An order may have
// several (a declined one, then a successful one); at most one at a time
// holds the order's claim (see ClaimOrder).
type Payment struct {
	// ID is "pay_" + a UUIDv7; see NewPaymentID.
	ID string
	// PG is the gateway's name.
	PG string
	// PaymentKey is the PG's id for the payment (Toss paymentKey, KakaoPay
	// tid, Inicis tid); empty until known. (PG, PaymentKey) is unique.
	PaymentKey string
	// OrderID is the host's order id.
	OrderID string
	// Amount is the amount asked for.
	Amount pg.Money
	// Status is where the payment is in the state machine of pg.Status.
	Status pg.Status
	// ApprovedAmount is what the PG captured; unset (or zero) before
	// approval. CanceledAmount is the sum refunded so far, never more than
	// ApprovedAmount (the database checks it too). Both are in Amount's
	// currency; an unset one is stored as 0 and read back as zero in that
	// currency.
	ApprovedAmount pg.Money
	CanceledAmount pg.Money
	// Method is the payment method the PG reported (card, transfer, ...).
	Method string
	// FailureCode and FailureMessage say why a payment failed, as the PG
	// or the flow put it.
	FailureCode    string
	FailureMessage string
	// PGData is the PG's raw JSON about the payment, kept for operators and
	// reconciliation; nil when there is none.
	PGData json.RawMessage
	// ApprovedAt and CanceledAt are zero until they happen.
	ApprovedAt time.Time
	CanceledAt time.Time
	// CreatedAt is set by InsertPayment when zero. UpdatedAt is set by the
	// store on every write.
	CreatedAt time.Time
	UpdatedAt time.Time
	// Version counts the writes that change the payment; UpdatePayment
	// compares and sets it (HoldPaymentDeferred compares it only).
	Version int64
}

// CancelStatus is where a cancel (refund) request is.
type CancelStatus string

// Cancel statuses.
const (
	// CancelRequested: recorded, about to be sent to the PG.
	CancelRequested CancelStatus = "REQUESTED"
	// CancelDone: the PG refunded.
	CancelDone CancelStatus = "DONE"
	// CancelFailed: the PG refused for good.
	CancelFailed CancelStatus = "FAILED"
	// CancelUnknown: the call may have reached the PG; resolved by lookup.
	CancelUnknown CancelStatus = "UNKNOWN"
)

// Valid reports whether s is one of the cancel statuses.
func (s CancelStatus) Valid() bool {
	switch s {
	case CancelRequested, CancelDone, CancelFailed, CancelUnknown:
		return true
	}
	return false
}

// Cancel is one refund request against a payment, full or partial.
type Cancel struct {
	// ID is "cnl_" + a UUIDv7; see NewCancelID.
	ID string
	// PaymentID is the payment being refunded.
	PaymentID string
	// IdempotencyKey is unique across all cancels: the same key twice is
	// the same cancel.
	IdempotencyKey string
	// Amount is the amount to refund, in the payment's currency.
	Amount pg.Money
	// Reason is why (ORDER_FAILED, the operator's words).
	Reason string
	// Status is where the request is.
	Status CancelStatus
	// PGTransactionKey is the PG's id for the cancel transaction, once known.
	PGTransactionKey string
	// CanceledAt is when the PG applied the cancel, as the PG reports it;
	// zero until the cancel is done or when the PG gave no time. The
	// refund's business day is taken from it.
	CanceledAt time.Time
	// FailureCode and FailureMessage say why a cancel failed.
	FailureCode    string
	FailureMessage string
	// CreatedAt is set by InsertCancel when zero; UpdatedAt on every write.
	CreatedAt time.Time
	UpdatedAt time.Time
	// Version counts writes; UpdateCancel compares and sets it.
	Version int64
}

// Event is one entry of a payment's event log (payment_events), the trace of
// its whole flow.
type Event struct {
	// ID is "evt_" + a UUIDv7; see NewEventID. Primary key, so appending
	// the same event twice is refused.
	ID string
	// PaymentID and OrderID say whose event it is.
	PaymentID string
	OrderID   string
	// Type is the event name (PAYMENT_APPROVED, ORDER_CREATED, ...).
	Type string
	// Payload is the event as JSON (the shape of events.schema.json).
	Payload json.RawMessage
	// OccurredAt is set by AppendEvent when zero.
	OccurredAt time.Time
}

// Column widths enforced before writing, so both dialects refuse the same
// input with the same message (SQLite would store anything).
const (
	maxIDLen      = 64
	maxPGLen      = 32
	maxKeyLen     = 200
	maxNameLen    = 255
	maxCodeLen    = 128
	maxMessageLen = 1024
	maxMethodLen  = 64
	maxTypeLen    = 64
	maxJSONLen    = 16 << 20
)

type check struct {
	what  string
	value string
	max   int
	need  bool
}

func checkFields(cs ...check) error {
	for _, c := range cs {
		if c.need && c.value == "" {
			return fmt.Errorf("%w: %s is empty", ErrInvalid, c.what)
		}
		if !utf8.ValidString(c.value) {
			return fmt.Errorf("%w: %s is not valid UTF-8", ErrInvalid, c.what)
		}
		if n := utf8.RuneCountInString(c.value); n > c.max {
			return fmt.Errorf("%w: %s is %d characters, at most %d", ErrInvalid, c.what, n, c.max)
		}
	}
	return nil
}

// jsonArg validates optional JSON and returns what to store: NULL for none.
func jsonArg(what string, raw json.RawMessage) (any, error) {
	if len(raw) == 0 {
		return nil, nil
	}
	if len(raw) > maxJSONLen {
		return nil, fmt.Errorf("%w: %s is %d bytes, at most %d", ErrInvalid, what, len(raw), maxJSONLen)
	}
	if !json.Valid(raw) {
		return nil, fmt.Errorf("%w: %s is not valid JSON", ErrInvalid, what)
	}
	return string(raw), nil
}

// nullString stores "" as NULL.
func nullString(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// nullTime stores the zero time as NULL and anything else as dbTime.
func nullTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return dbTime(t)
}

// orNow is t as stored, or now when t is zero.
func orNow(t, now time.Time) time.Time {
	if t.IsZero() {
		return now
	}
	return dbTime(t)
}

func timeOf(n sql.NullTime) time.Time {
	if !n.Valid {
		return time.Time{}
	}
	return n.Time.UTC()
}

func rawJSON(n sql.NullString) json.RawMessage {
	if !n.Valid {
		return nil
	}
	return json.RawMessage(n.String)
}
