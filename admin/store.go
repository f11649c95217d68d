package admin

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/paygate/paygate/pg"
)

// Store is what the console reads besides the payment flow itself: the
// payment search, the parts of a payment's detail the flow does not show
// (its sagas, ledger entries, webhooks and full event payloads) and the
// dashboard's sums. store/adminstore implements it on MySQL/MariaDB and
// SQLite. Every method only reads.
type Store interface {
	// SearchPayments returns at most f.Limit payments matching f, newest
	// first by (CreatedAt, ID), starting after f.After.
	SearchPayments(ctx context.Context, f PaymentFilter) ([]Payment, error)
	// Payment returns one payment with its order name; an error wrapping
	// ErrNotFound when there is none.
	Payment(ctx context.Context, id string) (Payment, error)
	// Events returns a payment's event log, oldest first.
	Events(ctx context.Context, paymentID string) ([]Event, error)
	// Sagas returns the sagas run for a payment: the one keyed by the
	// payment and those keyed by its cancels, with their steps.
	Sagas(ctx context.Context, paymentID string, cancelIDs []string) ([]Saga, error)
	// Ledger returns a payment's settlement entries in the order recorded.
	Ledger(ctx context.Context, paymentID string) ([]LedgerEntry, error)
	// Webhooks returns the PG notifications recorded for a payment (by its
	// PG and payment key) or its order, oldest first.
	Webhooks(ctx context.Context, pgName, paymentKey, orderID string) ([]Webhook, error)
	// Stats sums the payments created in [f.From, f.To) in f.Currency.
	Stats(ctx context.Context, f StatsFilter) (Stats, error)
}

// ErrNotFound is wrapped by a Store's error for an id it does not know.
var ErrNotFound = errors.New("admin: not found")

// MaxLimit is the largest page of the payment search.
const MaxLimit = 200

// PaymentFilter selects payments. Zero fields select everything.
type PaymentFilter struct {
	// From and To bound CreatedAt: From ≤ CreatedAt < To.
	From, To time.Time
	Status   string
	PG       string
	Method   string
	OrderID  string
	// PaymentID matches one payment.
	PaymentID string
	// MinAmount and MaxAmount bound the amount (inclusive) of payments in
	// their currency; set, they select that currency only.
	MinAmount, MaxAmount pg.Money
	// Text is searched for in the order name, ignoring ASCII case.
	Text string
	// Limit is how many rows to return, 1 to MaxLimit+1 (the console asks
	// for one more than a page to know whether another page follows).
	Limit int
	// After continues a search after this payment (the last of a page).
	After *Cursor
}

// Cursor is a position in the search order: (CreatedAt, ID), descending.
type Cursor struct {
	CreatedAt time.Time
	ID        string
}

// Payment is a payment as the console lists it.
type Payment struct {
	ID             string
	OrderID        string
	OrderName      string
	PG             string
	PaymentKey     string
	Method         string
	Status         pg.Status
	Amount         pg.Money
	ApprovedAmount pg.Money
	CanceledAmount pg.Money
	FailureCode    string
	FailureMessage string
	ApprovedAt     time.Time
	CanceledAt     time.Time
	CreatedAt      time.Time
	UpdatedAt      time.Time
}

// Event is one entry of a payment's event log with its payload (the JSON
// of paygate.Event).
type Event struct {
	ID         string
	Type       string
	OccurredAt time.Time
	Payload    json.RawMessage
}

// Saga is a saga instance and its steps.
type Saga struct {
	ID          string
	Definition  string
	BusinessKey string
	State       string
	Reason      string
	CreatedAt   time.Time
	UpdatedAt   time.Time
	Steps       []SagaStep
}

// SagaStep is one half (action or compensation) of a saga step.
type SagaStep struct {
	Step      string
	Op        string
	Status    string
	Attempts  int
	LastError string
	UpdatedAt time.Time
}

// LedgerEntry is one settlement ledger line of a payment.
type LedgerEntry struct {
	ID           string
	Type         string // SALE or REFUND
	BusinessDate string // YYYY-MM-DD, Asia/Seoul
	PayoutDate   string
	Gross        pg.Money
	Fee          pg.Money
	VAT          pg.Money
	Net          pg.Money
	CreatedAt    time.Time
}

// Webhook is one PG notification recorded for a payment. Body is as
// stored: secrets masked, at most a few kilobytes kept by the store.
type Webhook struct {
	ID          string
	PG          string
	EventType   string
	Status      string
	RemoteAddr  string
	ReceivedAt  time.Time
	ReplayCount int
	Body        string
}

// StatsFilter selects the payments the dashboard sums.
type StatsFilter struct {
	// From ≤ CreatedAt < To.
	From, To time.Time
	// Currency of the sums; payments in other currencies are left out.
	Currency pg.Currency
}

// Stats are the dashboard's sums. Captured counts payments with an
// approved amount; ApprovedAmount and RefundedAmount sum what was captured
// and refunded of them.
type Stats struct {
	Count          int64
	Captured       int64
	ApprovedAmount pg.Money
	RefundedAmount pg.Money
	// OpenUnknown counts payments, of any day, whose outcome is not known
	// yet (APPROVING, UNKNOWN).
	OpenUnknown int64
	ByPG        []GroupStats
	// ByDay has one row per Asia/Seoul day with payments, oldest first.
	ByDay []GroupStats
}

// GroupStats are the sums of one PG or one day.
type GroupStats struct {
	// Key is the PG's name or the day (YYYY-MM-DD).
	Key            string
	Count          int64
	Captured       int64
	ApprovedAmount pg.Money
	RefundedAmount pg.Money
}
