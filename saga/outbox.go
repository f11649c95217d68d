package saga

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
)

// Event is a fact written to the outbox in the transaction that made it
// true, and delivered to every subscriber registered for its type.
type Event struct {
	// ID identifies the event; Emit assigns a time-ordered UUID when it
	// is empty. Emitting an ID twice is refused with ErrDuplicate, so a
	// caller that derives the ID from its own ids emits at most once.
	ID string
	// Type names what happened ("PAYMENT_APPROVED"); required, at most 64
	// bytes.
	Type string
	// Key groups events that ordered subscribers receive in order (a
	// payment id); at most 255 bytes, may be empty.
	Key     string
	Payload []byte
	// OccurredAt defaults to the outbox clock's now.
	OccurredAt time.Time
}

// Delivery is one event handed to one subscriber.
type Delivery struct {
	Event
	// DeliveryID identifies the (event, subscriber) delivery.
	DeliveryID int64
	Subscriber string
	// Attempt counts deliveries of this event to this subscriber, from 1.
	Attempt int
}

// Handler processes one delivery inside tx, the transaction that also marks
// the delivery done: a handler that only writes through tx has an
// exactly-once effect. Returning an error (or panicking) rolls tx back and
// the delivery is retried under the subscriber's Policy; an error wrapped
// with Permanent parks it as dead at once. The handler must only do
// database work: it may run more than once if the transaction is retried.
type Handler func(ctx context.Context, tx *sql.Tx, d Delivery) error

// Relay forwards events to something outside the database, such as a
// message broker, at least once: Publish may be called again with events it
// already published (after a crash or a lost lease), so the receiving side
// deduplicates by Event.ID. An error retries all the given events.
type Relay interface {
	Publish(ctx context.Context, events []Delivery) error
}

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
	// Ordered delivers events with the same non-empty Key one at a time,
	// in the order they were emitted: an event waits until every earlier
	// event of its key was delivered to this subscriber, or was parked as
	// dead (a dead delivery holds back the later ones of its key until an
	// operator redelivers it).
	Ordered bool
	// Retry governs redelivery; after MaxAttempts the delivery is parked
	// as dead (Unlimited never parks). Zero means DefaultPolicy.
	Retry Policy
}

func (s Subscriber) wants(eventType string) bool {
	return len(s.Types) == 0 || slices.Contains(s.Types, eventType)
}

// DeliveryStatus is the status of a delivery.
type DeliveryStatus string

// Delivery statuses.
const (
	DeliveryPending DeliveryStatus = "PENDING"
	DeliveryDone    DeliveryStatus = "DONE"
	DeliveryDead    DeliveryStatus = "DEAD"
)

// EventRecord is the stored form of an event.
type EventRecord = Event

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

// OutboxStore is the persistence an Outbox needs; store/sagastore
// implements it. See Store for the conventions.
type OutboxStore interface {
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
	ClaimDeliveries(ctx context.Context, tx *sql.Tx, c DeliveryClaim) ([]DeliveryRecord, error)
	// UpdateDelivery writes d's status, attempts, run-at, lease token,
	// last error and updated-at if the stored status and lease token are
	// prevStatus and prevToken. It reports whether it wrote.
	UpdateDelivery(ctx context.Context, tx *sql.Tx, d DeliveryRecord, prevStatus DeliveryStatus, prevToken string) (bool, error)
	// Delivery returns one delivery (without its event), or an error
	// wrapping ErrNotFound.
	Delivery(ctx context.Context, tx *sql.Tx, id int64) (DeliveryRecord, error)
	// Deliveries lists deliveries matching f with their events, by ID.
	Deliveries(ctx context.Context, f DeliveryFilter) ([]DeliveryRecord, error)
}

// OutboxConfig configures an Outbox. Zero fields take the defaults.
type OutboxConfig struct {
	// Lease is how long claimed deliveries stay reserved; a handler running
	// longer may see its delivery taken over, and its late completion is
	// refused. Default 30s.
	Lease time.Duration
	// PollInterval is how often Run looks for due deliveries when nothing
	// woke it; Emit in this process wakes it. Default 1s.
	PollInterval time.Duration
	// Concurrency is how many claimed batches are processed at once.
	// Default 4.
	Concurrency int
	// ClaimBatch is how many deliveries one claim takes at most. Default 32.
	ClaimBatch int
	// Clock defaults to the system clock.
	Clock Clock
	// Logger defaults to slog.Default().
	Logger *slog.Logger
	// OnDelivery, optional, reports every delivery attempt's outcome after
	// it was recorded. It must be quick.
	OnDelivery func(DeliveryReport)
}

// DeliveryReport is the outcome of one delivery attempt.
type DeliveryReport struct {
	DeliveryID int64
	EventID    string
	EventType  string
	Subscriber string
	Attempt    int
	Err        error
	// Dead is set when the delivery was parked.
	Dead bool
}

// Outbox is the transactional outbox: Emit writes events in the caller's
// transaction; Run delivers them to subscribers, from any number of
// processes.
type Outbox struct {
	store OutboxStore
	cfg   OutboxConfig
	log   *slog.Logger

	mu    sync.RWMutex
	subs  map[string]Subscriber
	names []string

	wake    chan struct{}
	eager   atomic.Int64
	running atomic.Bool
}

// NewOutbox returns an outbox over store. Subscribe before emitting.
func NewOutbox(store OutboxStore, cfg OutboxConfig) *Outbox {
	if cfg.Lease <= 0 {
		cfg.Lease = 30 * time.Second
	}
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = time.Second
	}
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = 4
	}
	if cfg.ClaimBatch <= 0 {
		cfg.ClaimBatch = 32
	}
	if cfg.Clock == nil {
		cfg.Clock = systemClock{}
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	host, _ := os.Hostname()
	return &Outbox{
		store: store,
		cfg:   cfg,
		log:   log.With("component", "outbox", "host", host),
		subs:  map[string]Subscriber{},
		wake:  make(chan struct{}, 1),
	}
}

// Subscribe registers subscribers. A name can be registered once.
func (o *Outbox) Subscribe(subs ...Subscriber) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, s := range subs {
		if s.Name == "" || len(s.Name) > maxName {
			return fmt.Errorf("%w: subscriber name %q must be 1 to %d bytes", ErrInvalid, s.Name, maxName)
		}
		if (s.Handle == nil) == (s.Relay == nil) {
			return fmt.Errorf("%w: subscriber %q needs exactly one of Handle and Relay", ErrInvalid, s.Name)
		}
		if _, dup := o.subs[s.Name]; dup {
			return fmt.Errorf("%w: subscriber %q registered twice", ErrInvalid, s.Name)
		}
		o.subs[s.Name] = s
		o.names = append(o.names, s.Name)
	}
	return nil
}

func (o *Outbox) subscriber(name string) (Subscriber, bool) {
	o.mu.RLock()
	defer o.mu.RUnlock()
	s, ok := o.subs[name]
	return s, ok
}

func (o *Outbox) subscribers() []Subscriber {
	o.mu.RLock()
	defer o.mu.RUnlock()
	out := make([]Subscriber, 0, len(o.names))
	for _, n := range o.names {
		out = append(out, o.subs[n])
	}
	return out
}

func (o *Outbox) now() time.Time { return o.cfg.Clock.Now().UTC().Truncate(time.Microsecond) }

func (o *Outbox) notify() {
	o.eager.Store(time.Now().Add(eagerWindow).UnixNano())
	select {
	case o.wake <- struct{}{}:
	default:
	}
}

// Emit writes ev, and one pending delivery per subscriber registered for its
// type, in the caller's transaction: they exist if and only if tx commits.
// It returns the event as stored (with its ID and OccurredAt). An event ID
// that exists already returns an error wrapping ErrDuplicate.
func (o *Outbox) Emit(ctx context.Context, tx *sql.Tx, ev Event) (Event, error) {
	if tx == nil {
		return Event{}, fmt.Errorf("%w: Emit needs the caller's transaction", ErrInvalid)
	}
	if ev.Type == "" || len(ev.Type) > maxName {
		return Event{}, fmt.Errorf("%w: event type %q must be 1 to %d bytes", ErrInvalid, ev.Type, maxName)
	}
	if len(ev.Key) > maxBusinessKey || len(ev.ID) > maxName {
		return Event{}, fmt.Errorf("%w: event id or key too long", ErrInvalid)
	}
	now := o.now()
	if ev.ID == "" {
		id, err := uuid.NewV7()
		if err != nil {
			return Event{}, fmt.Errorf("saga: emit %s: new id: %w", ev.Type, err)
		}
		ev.ID = id.String()
	}
	if ev.OccurredAt.IsZero() {
		ev.OccurredAt = now
	}
	ev.OccurredAt = ev.OccurredAt.UTC().Truncate(time.Microsecond)
	var ds []DeliveryRecord
	for _, s := range o.subscribers() {
		if !s.wants(ev.Type) {
			continue
		}
		ds = append(ds, DeliveryRecord{
			EventID: ev.ID, Subscriber: s.Name, Key: ev.Key, Ordered: s.Ordered && ev.Key != "",
			Status: DeliveryPending, RunAt: now, CreatedAt: now, UpdatedAt: now,
		})
	}
	if err := o.store.InsertEvent(ctx, tx, ev, ds); err != nil {
		return Event{}, fmt.Errorf("saga: emit %s %s: %w", ev.Type, ev.ID, err)
	}
	if len(ds) > 0 {
		o.notify()
	}
	return ev, nil
}

// Run claims due deliveries and hands them to their subscribers until ctx
// is canceled; then it lets the batches in flight finish and returns nil.
// Run may be called once at a time per Outbox.
func (o *Outbox) Run(ctx context.Context) error {
	if !o.running.CompareAndSwap(false, true) {
		return errors.New("saga: outbox Run is already running")
	}
	defer o.running.Store(false)
	return claimLoop[[]claimed]{
		what: "deliveries", slots: o.cfg.Concurrency, pollInterval: o.cfg.PollInterval,
		wake: o.wake, eager: &o.eager, log: o.log,
		claimAt: func(int) bool { return true },
		claim: func(ctx context.Context, _ int) ([][]claimed, bool, error) {
			batch, err := o.claim(ctx)
			if len(batch) == 0 {
				return nil, false, err
			}
			return [][]claimed{batch}, len(batch) == o.cfg.ClaimBatch, err
		},
		work: func(ctx context.Context, batch []claimed, _ <-chan struct{}) { o.process(ctx, batch) },
	}.run(ctx)
}

// claimed is a leased delivery with the token that leases it.
type claimed struct {
	rec   DeliveryRecord
	token string
}

func (o *Outbox) claim(ctx context.Context) ([]claimed, error) {
	subs := o.subscribers()
	if len(subs) == 0 {
		return nil, nil
	}
	names := make([]string, len(subs))
	for i, s := range subs {
		names[i] = s.Name
	}
	now := o.now()
	c := DeliveryClaim{Subscribers: names, Token: uuid.NewString(), Now: now, LeaseUntil: now.Add(o.cfg.Lease), Limit: o.cfg.ClaimBatch}
	var recs []DeliveryRecord
	err := o.store.InTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		var err error
		recs, err = o.store.ClaimDeliveries(ctx, tx, c)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("saga: claim deliveries: %w", err)
	}
	out := make([]claimed, len(recs))
	for i, r := range recs {
		out[i] = claimed{rec: r, token: c.Token}
	}
	return out, nil
}

// process delivers a claimed batch, subscriber by subscriber. Handler
// deliveries of one subscriber first share one transaction; if any of them
// fails, each is redone in its own so one bad event does not hold back the
// others.
func (o *Outbox) process(ctx context.Context, batch []claimed) {
	groups := map[string][]claimed{}
	var order []string
	for _, c := range batch {
		if _, ok := groups[c.rec.Subscriber]; !ok {
			order = append(order, c.rec.Subscriber)
		}
		groups[c.rec.Subscriber] = append(groups[c.rec.Subscriber], c)
	}
	for _, name := range order {
		sub, ok := o.subscriber(name)
		if !ok {
			continue
		}
		group := groups[name]
		if sub.Relay != nil {
			o.relay(ctx, sub, group)
			continue
		}
		if len(group) > 1 {
			if err := o.handle(ctx, sub, group); err == nil {
				continue
			}
		}
		for _, c := range group {
			if err := o.handle(ctx, sub, []claimed{c}); err != nil {
				o.failed(ctx, sub, c, err)
			}
		}
	}
}

func delivery(c claimed) Delivery {
	return Delivery{Event: c.rec.Event, DeliveryID: c.rec.ID, Subscriber: c.rec.Subscriber, Attempt: c.rec.Attempts}
}

// handle runs sub's handler for every delivery of group in one transaction
// that also marks them done.
func (o *Outbox) handle(ctx context.Context, sub Subscriber, group []claimed) error {
	var lost []int64
	err := o.store.InTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		lost = lost[:0]
		for _, c := range group {
			done, err := o.markDone(ctx, tx, c)
			if errors.Is(err, errAlreadyDone) {
				continue
			}
			if err != nil {
				return err
			}
			if !done {
				lost = append(lost, c.rec.ID)
				continue
			}
			if err := callHandler(ctx, tx, sub.Handle, delivery(c)); err != nil {
				return fmt.Errorf("delivery %d: %w", c.rec.ID, err)
			}
		}
		return nil
	})
	if err != nil {
		if len(group) == 1 {
			return err
		}
		o.log.Debug("saga: batched delivery failed; delivering one by one", "subscriber", sub.Name, "err", err)
		return err
	}
	for _, id := range lost {
		o.log.Warn("saga: delivery lease lost; another dispatcher has it", "subscriber", sub.Name, "delivery_id", id)
	}
	for _, c := range group {
		if !slices.Contains(lost, c.rec.ID) {
			o.report(c, nil, false)
		}
	}
	return nil
}

// markDone marks a leased delivery done; false means the lease was lost (or
// an earlier run of this transaction already committed, which also means
// there is nothing left to do).
func (o *Outbox) markDone(ctx context.Context, tx *sql.Tx, c claimed) (bool, error) {
	d := c.rec
	d.Status = DeliveryDone
	d.RunAt = time.Time{}
	d.LeaseToken = c.token
	d.LastError = ""
	d.UpdatedAt = o.now()
	ok, err := o.store.UpdateDelivery(ctx, tx, d, DeliveryPending, c.token)
	if err != nil || ok {
		return ok, err
	}
	cur, err := o.store.Delivery(ctx, tx, d.ID)
	if err != nil {
		return false, err
	}
	if cur.Status == DeliveryDone && cur.LeaseToken == c.token {
		// An earlier run of this transaction committed though its
		// commit reported an error; the delivery is ours and done.
		return false, errAlreadyDone
	}
	return false, nil
}

// errAlreadyDone ends a delivery transaction whose work an earlier run of it
// already committed.
var errAlreadyDone = errors.New("saga: delivery already done")

func callHandler(ctx context.Context, tx *sql.Tx, h Handler, d Delivery) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = &panicError{value: v}
		}
	}()
	return h(ctx, tx, d)
}

func (o *Outbox) relay(ctx context.Context, sub Subscriber, group []claimed) {
	ds := make([]Delivery, len(group))
	for i, c := range group {
		ds[i] = delivery(c)
	}
	err := func() (err error) {
		defer func() {
			if v := recover(); v != nil {
				err = &panicError{value: v}
			}
		}()
		return sub.Relay.Publish(ctx, ds)
	}()
	if err != nil {
		for _, c := range group {
			o.failed(ctx, sub, c, err)
		}
		return
	}
	err = o.store.InTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		for _, c := range group {
			if _, err := o.markDone(ctx, tx, c); err != nil && !errors.Is(err, errAlreadyDone) {
				return err
			}
		}
		return nil
	})
	if err != nil {
		// Published but not marked: the leases expire and the events
		// are published again, which a relay's receiver tolerates.
		o.log.Error("saga: relayed events not marked delivered", "subscriber", sub.Name, "err", err)
		return
	}
	for _, c := range group {
		o.report(c, nil, false)
	}
}

// failed records a failed delivery attempt: due again after backoff, or dead.
func (o *Outbox) failed(ctx context.Context, sub Subscriber, c claimed, cause error) {
	policy := sub.Retry.withDefaults()
	d := c.rec
	now := o.now()
	dead := IsPermanent(cause) || policy.exhausted(d.Attempts)
	d.LastError = cause.Error()
	d.LeaseToken = ""
	d.UpdatedAt = now
	if dead {
		d.Status = DeliveryDead
		d.RunAt = time.Time{}
	} else {
		d.RunAt = now.Add(policy.Backoff(d.Attempts))
	}
	var ok bool
	err := o.store.InTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		var err error
		ok, err = o.store.UpdateDelivery(ctx, tx, d, DeliveryPending, c.token)
		return err
	})
	switch {
	case err != nil:
		o.log.Error("saga: record failed delivery", "subscriber", sub.Name, "delivery_id", d.ID, "err", err, "cause", cause)
		return
	case !ok:
		o.log.Warn("saga: delivery lease lost", "subscriber", sub.Name, "delivery_id", d.ID)
		return
	}
	level := slog.LevelWarn
	if dead {
		level = slog.LevelError
	}
	o.log.Log(ctx, level, "saga: delivery failed", "subscriber", sub.Name, "delivery_id", d.ID,
		"event_id", d.EventID, "event_type", d.Event.Type, "attempt", d.Attempts, "dead", dead, "err", cause)
	o.report(c, cause, dead)
}

func (o *Outbox) report(c claimed, err error, dead bool) {
	if h := o.cfg.OnDelivery; h != nil {
		h(DeliveryReport{
			DeliveryID: c.rec.ID, EventID: c.rec.EventID, EventType: c.rec.Event.Type,
			Subscriber: c.rec.Subscriber, Attempt: c.rec.Attempts, Err: err, Dead: dead,
		})
	}
}

// Deliveries lists deliveries for operators, for example the dead ones:
// Deliveries(ctx, DeliveryFilter{Status: DeliveryDead}).
func (o *Outbox) Deliveries(ctx context.Context, f DeliveryFilter) ([]DeliveryRecord, error) {
	ds, err := o.store.Deliveries(ctx, f)
	if err != nil {
		return nil, fmt.Errorf("saga: list deliveries: %w", err)
	}
	return ds, nil
}

// Redeliver makes a dead delivery pending again, due at once, with its
// attempt count restarted. Redeliver of a delivery that is not dead returns
// an error wrapping ErrInvalidState.
func (o *Outbox) Redeliver(ctx context.Context, id int64) error {
	err := o.store.InTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		d, err := o.store.Delivery(ctx, tx, id)
		if err != nil {
			return err
		}
		if d.Status != DeliveryDead {
			return fmt.Errorf("%w: delivery is %s, not %s", ErrInvalidState, d.Status, DeliveryDead)
		}
		now := o.now()
		prevToken := d.LeaseToken
		d.Status = DeliveryPending
		d.Attempts = 0
		d.RunAt = now
		d.LeaseToken = ""
		d.UpdatedAt = now
		ok, err := o.store.UpdateDelivery(ctx, tx, d, DeliveryDead, prevToken)
		if err != nil {
			return err
		}
		if !ok {
			return errors.New("delivery changed concurrently; try again")
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("saga: redeliver %d: %w", id, err)
	}
	o.notify()
	return nil
}
