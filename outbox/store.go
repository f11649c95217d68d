package outbox

import (
	"context"
	"database/sql"
	"time"
)

// Store is the persistence an Outbox needs. store/sagastore implements it
// on MySQL/MariaDB and SQLite; the methods are the outbox's building blocks
// and carry no delivery logic. Every method that takes a *sql.Tx writes or
// reads in it; a nil tx means "outside any transaction" for reads.
type Store interface {
	// InTx runs fn in a transaction, retrying the whole of fn on transient
	// database errors (deadlock, lock wait timeout, busy, dropped
	// connection). fn may therefore run more than once.
	InTx(ctx context.Context, fn func(ctx context.Context, tx *sql.Tx) error) error
	// InsertEvent inserts an event and its deliveries. It returns an error
	// wrapping ErrDuplicate when the event ID exists.
	InsertEvent(ctx context.Context, tx *sql.Tx, ev EventRecord, deliveries []DeliveryRecord) error
	// ClaimDeliveries leases up to c.Limit due pending deliveries (RunAt
	// <= c.Now) of the given subscribers, skipping rows other
	// transactions hold and, for ordered deliveries, any with an earlier
	// delivery of the same subscriber and key not yet done. It sets their
	// lease token and RunAt to c.LeaseUntil, increments Attempts, and
	// returns them with their events.
	//
	// With c.Hold it writes nothing: the deliveries stay locked by tx
	// until it ends, and are returned with Attempts counting the claim's
	// attempt, to be marked done (MarkHeldDone) or leased
	// (LeaseDeliveries) in tx.
	ClaimDeliveries(ctx context.Context, tx *sql.Tx, c DeliveryClaim) ([]DeliveryRecord, error)
	// LeaseDeliveries leases deliveries tx holds (claimed with c.Hold) as
	// ClaimDeliveries would have: lease token c.Token, RunAt c.LeaseUntil,
	// one more attempt.
	LeaseDeliveries(ctx context.Context, tx *sql.Tx, ids []int64, c DeliveryClaim) error
	// MarkHeldDone marks deliveries tx holds (claimed with Hold) done, as
	// MarkDone does, counting the claim's attempt, and returns how many
	// it marked.
	MarkHeldDone(ctx context.Context, tx *sql.Tx, ids []int64, at time.Time) (int, error)
	// UpdateDelivery writes d's status, attempts, run-at, lease token,
	// last error and updated-at if the stored status and lease token are
	// prevStatus and prevToken. It reports whether it wrote.
	UpdateDelivery(ctx context.Context, tx *sql.Tx, d DeliveryRecord, prevStatus DeliveryStatus, prevToken string) (bool, error)
	// MarkDone marks the given deliveries done (status DONE, no run-at,
	// no last error, updated at at) where they are still pending and
	// leased with token, and returns how many it marked.
	MarkDone(ctx context.Context, tx *sql.Tx, ids []int64, token string, at time.Time) (int, error)
	// Delivery returns one delivery (without its event), or an error
	// wrapping ErrNotFound.
	Delivery(ctx context.Context, tx *sql.Tx, id int64) (DeliveryRecord, error)
	// Deliveries lists deliveries matching f with their events, by ID.
	Deliveries(ctx context.Context, f DeliveryFilter) ([]DeliveryRecord, error)
	// Backlog returns when the pending delivery with the lowest ID was
	// created and how many deliveries are dead, outside any transaction.
	// It runs at every metrics collection, so it must be cheap (indexed).
	Backlog(ctx context.Context) (Backlog, error)
}

// EventRecord is the stored form of an event.
type EventRecord = Event

// DeliveryStatus is the status of a delivery.
type DeliveryStatus string

// Delivery statuses.
const (
	DeliveryPending DeliveryStatus = "PENDING"
	DeliveryDone    DeliveryStatus = "DONE"
	DeliveryDead    DeliveryStatus = "DEAD"
)

// DeliveryRecord is the stored form of a delivery.
type DeliveryRecord struct {
	ID         int64
	EventID    string
	Subscriber string
	Key        string
	Ordered    bool
	Status     DeliveryStatus
	Attempts   int
	// RunAt is when a pending delivery is next due (while leased: when
	// the lease expires); zero for done and dead ones.
	RunAt      time.Time
	LeaseToken string
	LastError  string
	CreatedAt  time.Time
	UpdatedAt  time.Time
	// Event is filled by ClaimDeliveries and Deliveries.
	Event Event
}

// DeliveryClaim says what ClaimDeliveries takes.
type DeliveryClaim struct {
	Subscribers []string
	Token       string
	Now         time.Time
	LeaseUntil  time.Time
	Limit       int
	// Hold locks the deliveries in the claim's transaction instead of
	// leasing them, for work done in that transaction.
	Hold bool
}

// DeliveryFilter selects deliveries for operators. Zero fields do not
// filter.
type DeliveryFilter struct {
	Status     DeliveryStatus
	Subscriber string
	EventID    string
	// AfterID continues a listing (ordered by ID).
	AfterID int64
	// Limit defaults to 100 and is capped at 1000.
	Limit int
}
