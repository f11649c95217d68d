package outbox

import (
	"context"
	"database/sql"
	"slices"
	"time"

	"github.com/paygate/paygate/internal/retry"
)

// Subscriber receives events. Register the same subscribers, with the same
// names and types, in every process that emits: Emit writes one delivery
// per subscriber registered in the emitting process.
type Subscriber struct {
	// Name identifies the subscriber in delivery records; at most 64
	// bytes. Renaming a subscriber orphans its pending deliveries.
	Name string
	// Types limits the subscription to these event types; empty means
	// every event.
	Types []string
	// Exactly one of Handle and Relay is set.
	Handle Handler
	Relay  Relay
	// HandleBatch, optional beside Handle, processes several deliveries of
	// this subscriber in one transaction, the one that marks them all
	// done, with fewer statements than one Handle each (one read of
	// what they share, multi-row writes). Its effect must be what Handle
	// has on each delivery. If it fails, the transaction is rolled back
	// and each delivery goes to Handle in its own.
	HandleBatch BatchHandler
	// Ordered delivers events with the same non-empty Key one at a time,
	// in the order they were emitted: an event waits until every earlier
	// event of its key was delivered to this subscriber, or was parked as
	// dead (a dead delivery holds back the later ones of its key until an
	// operator redelivers it).
	Ordered bool
	// Retry governs redelivery; after MaxAttempts the delivery is parked
	// as dead (Unlimited never parks). Zero means DefaultPolicy.
	Retry Policy
	// Retired subscribers take no new events: Emit writes no delivery for
	// them. The deliveries written for them before (by an earlier version,
	// or by processes that still subscribe them) are handled as ever.
	// Retire a subscriber, rather than removing it, when its work moved
	// elsewhere while deliveries for it may still be pending.
	Retired bool
}

func (s Subscriber) wants(eventType string) bool {
	return !s.Retired && (len(s.Types) == 0 || slices.Contains(s.Types, eventType))
}

// Handler processes one delivery inside tx, the transaction that also marks
// the delivery done: a handler that only writes through tx has an
// exactly-once effect. Returning an error (or panicking) rolls tx back and
// the delivery is retried under the subscriber's Policy; an error wrapped
// with Permanent parks it as dead at once. The handler must only do
// database work: it may run more than once if the transaction is retried.
type Handler func(ctx context.Context, tx *sql.Tx, d Delivery) error

// BatchHandler processes deliveries inside tx, like a Handler each.
type BatchHandler func(ctx context.Context, tx *sql.Tx, ds []Delivery) error

// Delivery is one event handed to one subscriber.
type Delivery struct {
	Event
	// DeliveryID identifies the (event, subscriber) delivery.
	DeliveryID int64
	Subscriber string
	// Attempt counts deliveries of this event to this subscriber, from 1.
	Attempt int
}

// Policy is a subscriber's retry policy: how often and how fast a failed
// delivery is tried again.
type Policy struct {
	// MaxAttempts is how many attempts a delivery gets before it is parked
	// as dead. Zero means the default; Unlimited retries forever.
	MaxAttempts int
	// InitialBackoff is the wait after the first failed attempt; it doubles
	// per attempt up to MaxBackoff. Each wait is drawn uniformly from
	// [d/2, d] so deliveries that failed together do not retry together.
	InitialBackoff time.Duration
	MaxBackoff     time.Duration
}

// Unlimited as Policy.MaxAttempts retries a delivery forever.
const Unlimited = -1

// DefaultPolicy fills the zero fields of a Policy.
var DefaultPolicy = Policy{
	MaxAttempts:    5,
	InitialBackoff: time.Second,
	MaxBackoff:     5 * time.Minute,
}

func (p Policy) withDefaults() Policy {
	if p.MaxAttempts == 0 {
		p.MaxAttempts = DefaultPolicy.MaxAttempts
	}
	if p.InitialBackoff <= 0 {
		p.InitialBackoff = DefaultPolicy.InitialBackoff
	}
	if p.MaxBackoff <= 0 {
		p.MaxBackoff = max(DefaultPolicy.MaxBackoff, p.InitialBackoff)
	}
	return p
}

// exhausted reports whether a delivery that failed its attempt-th attempt
// has used up the policy.
func (p Policy) exhausted(attempt int) bool {
	return p.MaxAttempts > 0 && attempt >= p.MaxAttempts
}

// Backoff returns the wait after the attempt-th failed attempt (1-based).
func (p Policy) Backoff(attempt int) time.Duration {
	p = p.withDefaults()
	return retry.Backoff(p.InitialBackoff, p.MaxBackoff, attempt)
}
