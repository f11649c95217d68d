package outbox

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
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/paygate/paygate/internal/claimloop"
	"github.com/paygate/paygate/internal/telemetry"
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
	// TraceParent is the W3C traceparent of the span that emitted the
	// event; Emit takes it from its context when empty. Deliveries join
	// that trace, and a relay can pass it on (natsrelay sends it as the
	// message's traceparent header).
	TraceParent string
	// Handled names subscribers whose work for this event the emitter did
	// itself, in the transaction it emits in: Emit writes them no
	// delivery. It is the fast path of a subscriber whose effect can be
	// written with the event (it then holds if and only if the event
	// does); when the emitter cannot do the work, it leaves the subscriber
	// out of Handled and the delivery is written as for any event.
	Handled []string
}

// Clock tells the time. Tests inject one to move time (lease expiry,
// backoff) without sleeping; timers that only pace polling use real time.
type Clock = claimloop.Clock

// Loop configures the claim loop an Outbox shares with saga's Runner
// (saga.Loop is the same type): Lease (a handler running longer may see
// its delivery taken over, and its late completion is refused),
// PollInterval (Emit in this process wakes Run at once), Concurrency (how
// many relayed batches are processed at once; default 4), ClaimBatch (how
// many deliveries one claim takes at most; default DefaultClaimBatch),
// ClaimBackoff, Clock and Logger. See claimloop.Config for every field and
// its default.
//
// Deliveries to handler subscribers are made in the claim's own
// transaction, one at a time per Outbox: a large batch is what keeps the
// outbox up with a busy flow, since the transaction costs little more for
// 500 deliveries than for 5.
type Loop = claimloop.Config

// DefaultClaimBatch is how many due deliveries one claim takes at most when
// Loop.ClaimBatch is zero.
const DefaultClaimBatch = 512

// Config configures an Outbox. Zero fields take the defaults.
type Config struct {
	Loop
	// OnDelivery, optional, reports every delivery attempt's outcome after
	// it was recorded. It must be quick.
	OnDelivery func(DeliveryReport)
	// MeterProvider and TracerProvider receive the outbox's metrics
	// (paygate.outbox.deliveries; while Run runs, the gauges
	// paygate.outbox.lag and paygate.outbox.dead, read from the database
	// once per collection) and a span per handled delivery, in the trace
	// of the span that emitted the event. nil means the global providers.
	MeterProvider  metric.MeterProvider
	TracerProvider trace.TracerProvider
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
	store Store
	cfg   Config
	log   *slog.Logger

	mu    sync.RWMutex
	subs  map[string]Subscriber
	names []string

	wake    *claimloop.Signal
	pulse   claimloop.Pulse
	running atomic.Bool
	tel     *telemetry.Outbox
}

// New returns an outbox over store. Subscribe before emitting.
func New(store Store, cfg Config) *Outbox {
	cfg.Loop = cfg.Loop.WithDefaults(4, DefaultClaimBatch)
	host, _ := os.Hostname()
	return &Outbox{
		store: store,
		cfg:   cfg,
		log:   cfg.Logger.With("component", "outbox", "host", host),
		subs:  map[string]Subscriber{},
		wake:  claimloop.NewSignal(),
		tel:   telemetry.NewOutbox(cfg.MeterProvider, cfg.TracerProvider),
	}
}

// LastLoop is when Run last went round its claim loop (real time), or zero
// when Run is not running. Run goes round at least every PollInterval, and
// every ClaimBackoff while its claims fail, so a much older time means the
// dispatcher is stuck. It costs an atomic load.
func (o *Outbox) LastLoop() time.Time { return o.pulse.Last() }

// Longest names the schema stores.
const (
	maxName = 64  // event ids and types, subscriber names
	maxKey  = 255 // event keys
)

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
		if s.HandleBatch != nil && s.Handle == nil {
			return fmt.Errorf("%w: subscriber %q has HandleBatch without Handle", ErrInvalid, s.Name)
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

func (o *Outbox) now() time.Time { return o.cfg.Now() }

// subscribersByKind splits the subscribers into those with a handler,
// whose deliveries are database work done in a transaction, and relays.
func (o *Outbox) subscribersByKind() (handlers, relays []Subscriber) {
	for _, s := range o.subscribers() {
		if s.Relay != nil {
			relays = append(relays, s)
		} else {
			handlers = append(handlers, s)
		}
	}
	return handlers, relays
}

// Wants reports whether any registered subscriber (a relay included, a
// retired one not, the handled ones left out) takes events of eventType:
// an event no subscriber wants is written by Emit but never delivered, so a
// caller that keeps its own record of the event can skip emitting it.
func (o *Outbox) Wants(eventType string, handled ...string) bool {
	o.mu.RLock()
	defer o.mu.RUnlock()
	for _, n := range o.names {
		if o.subs[n].wants(eventType) && !slices.Contains(handled, n) {
			return true
		}
	}
	return false
}

// Emit writes ev, and one pending delivery per subscriber registered for its
// type (but those ev.Handled names), in the caller's transaction: they
// exist if and only if tx commits. It returns the event as stored (with its ID and OccurredAt). An event ID
// that exists already returns an error wrapping ErrDuplicate.
func (o *Outbox) Emit(ctx context.Context, tx *sql.Tx, ev Event) (Event, error) {
	if tx == nil {
		return Event{}, fmt.Errorf("%w: Emit needs the caller's transaction", ErrInvalid)
	}
	if ev.Type == "" || len(ev.Type) > maxName {
		return Event{}, fmt.Errorf("%w: event type %q must be 1 to %d bytes", ErrInvalid, ev.Type, maxName)
	}
	if len(ev.Key) > maxKey || len(ev.ID) > maxName {
		return Event{}, fmt.Errorf("%w: event id or key too long", ErrInvalid)
	}
	now := o.now()
	if ev.ID == "" {
		id, err := uuid.NewV7()
		if err != nil {
			return Event{}, fmt.Errorf("outbox: emit %s: new id: %w", ev.Type, err)
		}
		ev.ID = id.String()
	}
	if ev.OccurredAt.IsZero() {
		ev.OccurredAt = now
	}
	if ev.TraceParent == "" {
		ev.TraceParent = telemetry.TraceParent(ctx)
	}
	if len(ev.TraceParent) > telemetry.MaxTraceParent {
		ev.TraceParent = ""
	}
	ev.OccurredAt = ev.OccurredAt.UTC().Truncate(time.Microsecond)
	var ds []DeliveryRecord
	for _, s := range o.subscribers() {
		if !s.wants(ev.Type) || slices.Contains(ev.Handled, s.Name) {
			continue
		}
		ds = append(ds, DeliveryRecord{
			EventID: ev.ID, Subscriber: s.Name, Key: ev.Key, Ordered: s.Ordered && ev.Key != "",
			Status: DeliveryPending, RunAt: now, CreatedAt: now, UpdatedAt: now,
		})
	}
	if err := o.store.InsertEvent(ctx, tx, ev, ds); err != nil {
		return Event{}, fmt.Errorf("outbox: emit %s %s: %w", ev.Type, ev.ID, err)
	}
	if len(ds) > 0 {
		o.wake.Notify()
	}
	return ev, nil
}

// Run claims due deliveries and hands them to their subscribers until ctx
// is canceled; then it lets the batches in flight finish and returns nil.
// Run may be called once at a time per Outbox.
func (o *Outbox) Run(ctx context.Context) error {
	if !o.running.CompareAndSwap(false, true) {
		return errors.New("outbox: Run is already running")
	}
	defer o.running.Store(false)
	if reg, err := o.registerGauges(); err != nil {
		o.log.Warn("outbox: gauges not registered", "err", err)
	} else {
		defer func() {
			if err := reg.Unregister(); err != nil {
				o.log.Warn("outbox: unregister gauges", "err", err)
			}
		}()
	}
	return claimloop.Loop[work]{
		Name: "outbox: claim deliveries", Log: o.log, Config: o.cfg.Loop, Signal: o.wake,
		Claim: func(ctx context.Context, _ int) ([]work, bool, error) {
			// Handler subscribers' deliveries are delivered in the
			// claim's transaction; the relays' deliveries are claimed
			// for the workers.
			handlers, relays := o.subscribersByKind()
			var units []work
			full := false
			if len(handlers) > 0 {
				n, left, err := o.claimAndDeliver(ctx, handlers)
				if err != nil {
					return nil, false, err
				}
				units = append(units, left...)
				full = n == o.cfg.ClaimBatch
			}
			if len(relays) > 0 {
				batch, err := o.claim(ctx, relays)
				if len(batch) > 0 {
					units = append(units, work{batch: batch})
				}
				full = full || len(batch) == o.cfg.ClaimBatch
				if err != nil {
					return units, full, err
				}
			}
			return units, full, nil
		},
		Work:  func(ctx context.Context, w work, _ <-chan struct{}) { o.work(ctx, w) },
		Pulse: &o.pulse,
	}.Run(ctx)
}

// Backlog is what waits in the outbox: the age of the oldest pending
// delivery (in flight or waiting for a retry) and how many are dead.
type Backlog struct {
	// OldestPending is when the oldest pending delivery was created; zero
	// when none is pending.
	OldestPending time.Time
	// Dead counts deliveries parked as dead, waiting for Redeliver.
	Dead int64
}

// Backlog reads the outbox's backlog with two indexed queries.
func (o *Outbox) Backlog(ctx context.Context) (Backlog, error) {
	b, err := o.store.Backlog(ctx)
	if err != nil {
		return Backlog{}, fmt.Errorf("outbox: backlog: %w", err)
	}
	return b, nil
}

// gaugeTimeout bounds the backlog query of one metrics collection.
const gaugeTimeout = 5 * time.Second

// registerGauges registers the backlog gauges, read once per collection.
func (o *Outbox) registerGauges() (metric.Registration, error) {
	lag, err := o.tel.Meter.Float64ObservableGauge(telemetry.MetricOutboxLag, metric.WithUnit("s"),
		metric.WithDescription("Age of the oldest pending outbox delivery; 0 when none is pending."))
	if err != nil {
		return nil, err
	}
	dead, err := o.tel.Meter.Int64ObservableGauge(telemetry.MetricOutboxDead, metric.WithUnit("{delivery}"),
		metric.WithDescription("Outbox deliveries parked as dead, waiting for an operator's Redeliver."))
	if err != nil {
		return nil, err
	}
	return o.tel.Meter.RegisterCallback(func(ctx context.Context, obs metric.Observer) error {
		ctx, cancel := context.WithTimeout(ctx, gaugeTimeout)
		defer cancel()
		b, err := o.Backlog(ctx)
		if err != nil {
			return err
		}
		age := 0.0
		if !b.OldestPending.IsZero() {
			age = max(0, o.now().Sub(b.OldestPending).Seconds())
		}
		obs.ObserveFloat64(lag, age)
		obs.ObserveInt64(dead, b.Dead)
		return nil
	}, lag, dead)
}
