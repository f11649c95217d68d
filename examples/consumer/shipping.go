package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	_ "modernc.org/sqlite" // registers the "sqlite" driver

	"github.com/paygate/paygate"
)

// Shipping books a parcel for every order paygate created. Booking is not
// idempotent by itself (each call books one more parcel), so the service
// records the id of every event it processed in the transaction that books,
// and skips an event whose id is recorded.
//
// Why not rely on JetStream's duplicate window alone? It only drops a
// publish of an id the stream saw within the window (2 minutes by default).
// Copies still reach a consumer:
//   - the outbox publishes again after the window when it could not record
//     a publish for longer than that (an outage, a relay process that
//     stalled past its lease), and the stream stores the copy;
//   - JetStream delivers to consumers at least once: a message comes again
//     when its ack is lost, when AckWait runs out while it is processed, or
//     when the service stops between its commit and its ack;
//   - an operator replays the stream to rebuild or repair the service.
//
// The processed-ids table makes each of those a no-op.
type Shipping struct {
	db  *sql.DB
	log *slog.Logger
}

const schema = `
CREATE TABLE IF NOT EXISTS processed_events (
	event_id     TEXT NOT NULL PRIMARY KEY,
	event_type   TEXT NOT NULL,
	processed_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS shipments (
	id         INTEGER PRIMARY KEY AUTOINCREMENT,
	order_id   TEXT NOT NULL,
	payment_id TEXT NOT NULL,
	amount     TEXT NOT NULL,
	currency   TEXT NOT NULL,
	booked_at  TEXT NOT NULL
);`

// OpenShipping opens (creating it if needed) the service's SQLite database
// at path.
func OpenShipping(ctx context.Context, path string, log *slog.Logger) (*Shipping, error) {
	db, err := sql.Open("sqlite", path+"?_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)")
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(1) // one writer
	if _, err := db.ExecContext(ctx, schema); err != nil {
		db.Close()
		return nil, fmt.Errorf("consumer: create tables: %w", err)
	}
	return &Shipping{db: db, log: log}, nil
}

// Close closes the database.
func (s *Shipping) Close() error { return s.db.Close() }

// errMalformed marks a message that can never be processed.
var errMalformed = errors.New("malformed event")

// Process applies one message: it books a parcel for a created order and
// records the event id, in one transaction, or does nothing when the id was
// recorded before. It reports whether the event was new. It does not ack:
// the caller acks after Process returned nil, so a crash before the ack
// only means the message comes again and Process skips it.
func (s *Shipping) Process(ctx context.Context, m jetstream.Msg) (bool, error) {
	id := m.Headers().Get(jetstream.MsgIDHeader)
	if id == "" {
		return false, fmt.Errorf("%w: no %s header", errMalformed, jetstream.MsgIDHeader)
	}
	ev, err := paygate.ParseEvent(m.Data())
	if err != nil || ev.EventID != id {
		return false, fmt.Errorf("%w: event %s: payload does not parse as its event", errMalformed, id)
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return false, err
	}
	defer tx.Rollback()
	now := time.Now().UTC().Format(time.RFC3339Nano)
	res, err := tx.ExecContext(ctx, `INSERT INTO processed_events (event_id, event_type, processed_at) VALUES (?, ?, ?)
ON CONFLICT (event_id) DO NOTHING`, id, ev.EventType, now)
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, err
	}
	if n == 0 {
		return false, nil // processed before: nothing to do
	}
	if ev.EventType == paygate.EventOrderCreated {
		if _, err := tx.ExecContext(ctx, `INSERT INTO shipments (order_id, payment_id, amount, currency, booked_at) VALUES (?, ?, ?, ?, ?)`,
			ev.OrderID, ev.PaymentID, ev.Amount.String(), ev.Currency, now); err != nil {
			return false, err
		}
	}
	if err := tx.Commit(); err != nil {
		return false, err
	}
	return true, nil
}

// ConsumerConfig names what Run reads.
type ConsumerConfig struct {
	Stream  string
	Durable string
	// Subjects filters the stream; empty reads every event.
	Subjects []string
	// AckWait is how long JetStream waits for an ack before it delivers a
	// message again. Default 30s.
	AckWait time.Duration
}

// Run reads the stream with a durable consumer until ctx is canceled:
// each message is processed, then acked. A message that failed is
// delivered again after a second; one that can never be processed is
// terminated (and logged) so it does not block the others.
func (s *Shipping) Run(ctx context.Context, js jetstream.JetStream, cfg ConsumerConfig) error {
	if cfg.AckWait <= 0 {
		cfg.AckWait = 30 * time.Second
	}
	c, err := js.CreateOrUpdateConsumer(ctx, cfg.Stream, jetstream.ConsumerConfig{
		Durable:        cfg.Durable,
		FilterSubjects: cfg.Subjects,
		AckPolicy:      jetstream.AckExplicitPolicy,
		AckWait:        cfg.AckWait,
		DeliverPolicy:  jetstream.DeliverAllPolicy,
		MaxDeliver:     -1,
	})
	if err != nil {
		return fmt.Errorf("consumer: durable consumer %s on stream %s: %w", cfg.Durable, cfg.Stream, err)
	}
	cc, err := c.Consume(func(m jetstream.Msg) {
		id := m.Headers().Get(jetstream.MsgIDHeader)
		fresh, err := s.Process(ctx, m)
		switch {
		case errors.Is(err, errMalformed):
			s.log.Error("consumer: dropping a message that cannot be processed", "subject", m.Subject(), "err", err)
			_ = m.Term()
		case err != nil:
			s.log.Warn("consumer: processing failed; will retry", "event_id", id, "err", err)
			_ = m.NakWithDelay(time.Second)
		default:
			if !fresh {
				s.log.Info("consumer: event seen before; skipped", "event_id", id)
			}
			// A lost ack only means a redelivery, which Process skips.
			_ = m.Ack()
		}
	})
	if err != nil {
		return fmt.Errorf("consumer: consume: %w", err)
	}
	<-ctx.Done()
	cc.Stop()
	<-cc.Closed()
	return nil
}
