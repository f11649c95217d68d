// Package natsrelay relays the outbox's events to a NATS JetStream
// stream, so services outside the database can follow payments.
//
// A Relay is an outbox.Relay: the outbox claims pending deliveries in batches
// and hands them to Publish, which publishes every event asynchronously and
// returns nil only after JetStream acknowledged each one, so a delivery is
// marked done only once the stream stored its event. While the NATS server
// is down or slow Publish returns an error and the outbox retries the
// deliveries with backoff; nothing is lost, since the events stay in the
// outbox until JetStream has them.
//
// Wiring takes one constructor and one subscriber:
//
//	nc, _ := nats.Connect(url, nats.MaxReconnects(-1))
//	relay, err := natsrelay.New(ctx, nc, natsrelay.Config{})
//	// ...
//	ob.Subscribe(relay.Subscriber()) // or paygate.Config.Subscribers
//
// # Messages
//
// Each event becomes one message on the subject "<prefix>.<type>"
// ("paygate.events.PAYMENT_APPROVED"; see Subject), with the event's payload
// as the body and these headers:
//
//	Nats-Msg-Id          the event id
//	Paygate-Event-Type   the event type, exactly as emitted
//	Paygate-Event-Key    the event's key (paygate's payment id); absent when empty
//	Paygate-Occurred-At  when the event happened, RFC 3339 in UTC
//
// # Duplicates
//
// The outbox is at least once: it publishes an event again when it could
// not record that the event was published (a crash, a lost lease, a batch
// of which only some events were acknowledged). JetStream drops a message
// whose Nats-Msg-Id it stored within the stream's duplicate window
// (Config.Duplicates), so such republishing normally leaves one message per
// event. A republish after the window (an outage longer than it) is stored
// again, and consumers see redeliveries of their own (an ack lost, a
// consumer restarted): a consumer deduplicates by event id, in the same
// transaction as its effect. examples/consumer shows one.
//
// # Order
//
// The relay subscriber is ordered by default (outbox.Subscriber.Ordered): an
// event is published only after every earlier event of its key (paygate's
// payment id) was, so the stream holds each payment's events in the order
// they were emitted (a copy stored after the duplicate window comes later
// again, which deduplicating consumers skip).
package natsrelay

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/paygate/paygate/outbox"
)

// Message headers the relay sets besides jetstream.MsgIDHeader (the event
// id).
const (
	HeaderEventType  = "Paygate-Event-Type"
	HeaderEventKey   = "Paygate-Event-Key"
	HeaderOccurredAt = "Paygate-Occurred-At"
	// HeaderTraceParent carries the W3C traceparent of the span that
	// emitted the event, when it was traced, so a consumer's spans join
	// that trace.
	HeaderTraceParent = "traceparent"
)

// Defaults of Config.
const (
	DefaultStream        = "PAYGATE_EVENTS"
	DefaultSubjectPrefix = "paygate.events"
	DefaultDuplicates    = 2 * time.Minute
	DefaultAckTimeout    = 10 * time.Second
	DefaultName          = "nats-relay"
)

// DefaultRetry is the subscriber's retry policy when Config.Retry is zero:
// retried for as long as it takes, at most a minute apart, so an outage of
// any length loses nothing and parks nothing as dead.
var DefaultRetry = outbox.Policy{MaxAttempts: outbox.Unlimited, InitialBackoff: time.Second, MaxBackoff: time.Minute}

// Config configures a Relay. Zero fields take the defaults.
type Config struct {
	// Stream names the JetStream stream. Default DefaultStream.
	Stream string
	// SubjectPrefix starts every subject: events go to
	// "<SubjectPrefix>.<type>" and the stream captures "<SubjectPrefix>.>".
	// Default DefaultSubjectPrefix.
	SubjectPrefix string
	// Duplicates is the stream's duplicate window: a message whose event id
	// the stream stored this recently is dropped. It should be longer than
	// an outbox lease plus a retry's backoff. Default DefaultDuplicates. An
	// existing stream's window must be at least this long.
	Duplicates time.Duration
	// Storage of a stream the relay creates; the zero value is file
	// storage, which keeps the events across a server restart.
	Storage jetstream.StorageType
	// Replicas of a stream the relay creates (clustered JetStream).
	// Default 1.
	Replicas int
	// MaxAge, when positive, limits how long a stream the relay creates
	// keeps messages; it must not be shorter than Duplicates. Zero keeps
	// them until the stream's other limits remove them.
	MaxAge time.Duration
	// AckTimeout bounds how long Publish waits for JetStream's
	// acknowledgements of one batch. Default DefaultAckTimeout.
	AckTimeout time.Duration

	// Name, Types, Retry and Unordered shape Subscriber: its name in
	// delivery records (default DefaultName), the event types it relays
	// (empty: every type), its retry policy (default DefaultRetry) and
	// whether it gives up per-key order for throughput.
	Name      string
	Types     []string
	Retry     outbox.Policy
	Unordered bool

	// Logger defaults to slog.Default(). Payloads are never logged.
	Logger *slog.Logger
}

// Relay publishes outbox events to a JetStream stream. It is safe for
// concurrent use; the outbox calls Publish from several batches at once.
type Relay struct {
	nc  *nats.Conn
	js  jetstream.JetStream
	cfg Config
	log *slog.Logger

	// ready is set once the stream is known to exist with a fitting
	// configuration, and cleared when a publish finds no stream.
	ready atomic.Bool
}

// New returns a relay publishing over nc, after creating the stream, or
// checking that an existing stream of that name captures the relay's
// subjects with a long enough duplicate window. An invalid configuration, a
// mismatching stream or a server that cannot be reached returns an error.
//
// The caller owns nc and closes it after the outbox stopped. Give it
// nats.MaxReconnects(-1): a connection that gave up reconnecting is closed
// for good, and the relay can then only fail.
func New(ctx context.Context, nc *nats.Conn, cfg Config) (*Relay, error) {
	if nc == nil {
		return nil, errors.New("natsrelay: New needs a NATS connection")
	}
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncTimeout(cfg.AckTimeout))
	if err != nil {
		return nil, fmt.Errorf("natsrelay: %w", err)
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	r := &Relay{nc: nc, js: js, cfg: cfg, log: log.With("component", "natsrelay", "stream", cfg.Stream)}
	if err := r.ensureStream(ctx); err != nil {
		return nil, err
	}
	return r, nil
}

func (c Config) withDefaults() (Config, error) {
	if c.Stream == "" {
		c.Stream = DefaultStream
	}
	if c.SubjectPrefix == "" {
		c.SubjectPrefix = DefaultSubjectPrefix
	}
	if c.Duplicates == 0 {
		c.Duplicates = DefaultDuplicates
	}
	if c.Replicas == 0 {
		c.Replicas = 1
	}
	if c.AckTimeout == 0 {
		c.AckTimeout = DefaultAckTimeout
	}
	if c.Name == "" {
		c.Name = DefaultName
	}
	if c.Retry == (outbox.Policy{}) {
		c.Retry = DefaultRetry
	}
	switch {
	case !validStreamName(c.Stream):
		return c, fmt.Errorf("natsrelay: stream name %q: want letters, digits, '-' or '_' (at most 255)", c.Stream)
	case !validPrefix(c.SubjectPrefix):
		return c, fmt.Errorf("natsrelay: subject prefix %q: want dot-separated tokens without spaces or wildcards", c.SubjectPrefix)
	case c.Duplicates < 0 || c.AckTimeout < 0 || c.MaxAge < 0:
		return c, errors.New("natsrelay: Duplicates, AckTimeout and MaxAge must not be negative")
	case c.MaxAge > 0 && c.MaxAge < c.Duplicates:
		return c, fmt.Errorf("natsrelay: MaxAge %s is shorter than the duplicate window %s", c.MaxAge, c.Duplicates)
	case c.Replicas < 0:
		return c, fmt.Errorf("natsrelay: Replicas %d must not be negative", c.Replicas)
	case c.Storage != jetstream.FileStorage && c.Storage != jetstream.MemoryStorage:
		return c, fmt.Errorf("natsrelay: unknown storage %d", c.Storage)
	}
	return c, nil
}

// Subscriber returns the outbox subscriber that relays events through r.
// Register it in every process that emits events (see outbox.Subscriber).
func (r *Relay) Subscriber() outbox.Subscriber {
	return outbox.Subscriber{
		Name:    r.cfg.Name,
		Types:   r.cfg.Types,
		Relay:   r,
		Ordered: !r.cfg.Unordered,
		Retry:   r.cfg.Retry,
	}
}

// Stream returns the name of the stream the relay publishes to.
func (r *Relay) Stream() string { return r.cfg.Stream }

// Subject returns the subject of events of eventType.
func (r *Relay) Subject(eventType string) string { return Subject(r.cfg.SubjectPrefix, eventType) }

// Publish publishes events to the stream, each with its id as Nats-Msg-Id,
// and returns nil once JetStream acknowledged every one of them (a
// duplicate the stream dropped counts: it holds the event already). It
// returns an error when the connection is down, when a message could not be
// sent, or when an acknowledgement is refused or has not come within
// Config.AckTimeout; the outbox then publishes all of them again later.
func (r *Relay) Publish(ctx context.Context, events []outbox.Delivery) error {
	if len(events) == 0 {
		return nil
	}
	if st := r.nc.Status(); st != nats.CONNECTED {
		return fmt.Errorf("natsrelay: publish %d events: NATS connection is %s", len(events), st)
	}
	if !r.ready.Load() {
		if err := r.ensureStream(ctx); err != nil {
			return err
		}
	}
	futures := make([]jetstream.PubAckFuture, len(events))
	for i, d := range events {
		f, err := r.js.PublishMsgAsync(r.message(d), jetstream.WithMsgID(d.ID))
		if err != nil {
			// The futures already made resolve or time out on their own.
			return fmt.Errorf("natsrelay: publish event %s (%s): %w", d.ID, d.Type, err)
		}
		futures[i] = f
	}
	ctx, cancel := context.WithTimeout(ctx, r.cfg.AckTimeout)
	defer cancel()
	duplicates := 0
	for i, f := range futures {
		d := events[i]
		select {
		case ack := <-f.Ok():
			if ack.Stream != r.cfg.Stream {
				return fmt.Errorf("natsrelay: event %s (%s) was stored by stream %q, not %q", d.ID, d.Type, ack.Stream, r.cfg.Stream)
			}
			if ack.Duplicate {
				duplicates++
			}
		case err := <-f.Err():
			if errors.Is(err, jetstream.ErrNoStreamResponse) {
				// No stream captures the subject any more (deleted, or
				// lost with memory storage): create it again next time.
				r.ready.Store(false)
			}
			return fmt.Errorf("natsrelay: publish event %s (%s): %w", d.ID, d.Type, err)
		case <-ctx.Done():
			return fmt.Errorf("natsrelay: event %s (%s): no acknowledgement from JetStream: %w", d.ID, d.Type, context.Cause(ctx))
		}
	}
	if duplicates > 0 {
		r.log.Debug("natsrelay: stream dropped republished events", "events", len(events), "duplicates", duplicates)
	}
	return nil
}

// message builds the message of one event.
func (r *Relay) message(d outbox.Delivery) *nats.Msg {
	h := nats.Header{}
	h.Set(HeaderEventType, d.Type)
	if d.Key != "" {
		h.Set(HeaderEventKey, d.Key)
	}
	h.Set(HeaderOccurredAt, d.OccurredAt.UTC().Format(time.RFC3339Nano))
	if d.TraceParent != "" {
		h.Set(HeaderTraceParent, d.TraceParent)
	}
	return &nats.Msg{Subject: r.Subject(d.Type), Header: h, Data: d.Payload}
}

// Subject returns the subject of events of eventType under prefix:
// "<prefix>.<token>", where token is eventType with every character other
// than ASCII letters, digits, '-' and '_' replaced by '_' (subjects split
// on '.', and '*' and '>' are wildcards). Distinct types can share a
// subject this way; the Paygate-Event-Type header keeps the exact type.
func Subject(prefix, eventType string) string {
	return prefix + "." + token(eventType)
}

func token(s string) string {
	if s == "" {
		return "_"
	}
	var b strings.Builder
	for _, c := range s {
		if tokenChar(c) {
			b.WriteRune(c)
		} else {
			b.WriteByte('_')
		}
	}
	return b.String()
}

func tokenChar(c rune) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_'
}

func validStreamName(s string) bool {
	if s == "" || len(s) > 255 {
		return false
	}
	for _, c := range s {
		if !tokenChar(c) {
			return false
		}
	}
	return true
}

func validPrefix(p string) bool {
	for t := range strings.SplitSeq(p, ".") {
		if t == "" || t == "*" || t == ">" {
			return false
		}
		for _, c := range t {
			if c <= ' ' || c == 0x7f || c == '*' || c == '>' {
				return false
			}
		}
	}
	return true
}
