package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// AppendEvent adds e to the payment event log in tx, so an event commits with
// the state change it reports. It sets OccurredAt when zero. The same event
// id twice is ErrDuplicate, which makes a retried append detectable.
func (db *DB) AppendEvent(ctx context.Context, tx *sql.Tx, e *Event) error {
	return db.AppendEvents(ctx, tx, e)
}

// AppendEvents is AppendEvent for several events, written in one
// statement. A duplicate event id fails the statement, and none of them is
// written.
func (db *DB) AppendEvents(ctx context.Context, tx *sql.Tx, es ...*Event) error {
	if len(es) == 0 {
		return nil
	}
	args := make([]any, 0, 6*len(es))
	ats := make([]time.Time, len(es))
	for i, e := range es {
		if err := checkFields(
			check{"event id", e.ID, maxIDLen, true},
			check{"payment id", e.PaymentID, maxIDLen, true},
			check{"order id", e.OrderID, maxIDLen, true},
			check{"event type", e.Type, maxTypeLen, true},
		); err != nil {
			return fmt.Errorf("store: append event %q: %w", e.ID, err)
		}
		if len(e.Payload) == 0 {
			return fmt.Errorf("store: append event %q: %w: payload is empty", e.ID, ErrInvalid)
		}
		payload, err := jsonArg("payload", e.Payload)
		if err != nil {
			return fmt.Errorf("store: append event %q: %w", e.ID, err)
		}
		ats[i] = orNow(e.OccurredAt, db.clock())
		args = append(args, e.ID, e.PaymentID, e.OrderID, e.Type, payload, ats[i])
	}
	err := InsertRows(ctx, tx, `INSERT INTO payment_events (event_id, payment_id, order_id, event_type, payload, occurred_at)
  VALUES `, "(?, ?, ?, ?, ?, ?)", len(es), args...)
	if err != nil {
		if IsUniqueViolation(err) {
			return fmt.Errorf("store: append event %q: %w: %w", es[0].ID, ErrDuplicate, err)
		}
		return fmt.Errorf("store: append event %q: %w", es[0].ID, err)
	}
	for i, e := range es {
		e.OccurredAt = ats[i]
	}
	return nil
}

// EventsByPayment returns a payment's events in the order they occurred
// (ties broken by the time-sortable event id); empty when there is none.
func (db *DB) EventsByPayment(ctx context.Context, paymentID string) ([]*Event, error) {
	return db.eventsByPayment(ctx, db.sql, paymentID)
}

// EventsByPaymentTx is EventsByPayment in tx: it sees what tx wrote.
func (db *DB) EventsByPaymentTx(ctx context.Context, tx *sql.Tx, paymentID string) ([]*Event, error) {
	return db.eventsByPayment(ctx, tx, paymentID)
}

func (db *DB) eventsByPayment(ctx context.Context, q Querier, paymentID string) ([]*Event, error) {
	es, err := queryEvents(ctx, q, `SELECT event_id, payment_id, order_id, event_type, payload, occurred_at
  FROM payment_events WHERE payment_id = ? ORDER BY occurred_at, event_id`, paymentID)
	if err != nil {
		return nil, fmt.Errorf("store: events of payment %q: %w", paymentID, err)
	}
	return es, nil
}

// EventsByOrder returns the events of every payment of an order, in the
// order they occurred; empty when there is none.
func (db *DB) EventsByOrder(ctx context.Context, orderID string) ([]*Event, error) {
	return db.eventsByOrder(ctx, db.sql, orderID)
}

// EventsByOrderTx is EventsByOrder in tx: it sees what tx wrote.
func (db *DB) EventsByOrderTx(ctx context.Context, tx *sql.Tx, orderID string) ([]*Event, error) {
	return db.eventsByOrder(ctx, tx, orderID)
}

func (db *DB) eventsByOrder(ctx context.Context, q Querier, orderID string) ([]*Event, error) {
	es, err := queryEvents(ctx, q, `SELECT event_id, payment_id, order_id, event_type, payload, occurred_at
  FROM payment_events WHERE order_id = ? ORDER BY occurred_at, event_id`, orderID)
	if err != nil {
		return nil, fmt.Errorf("store: events of order %q: %w", orderID, err)
	}
	return es, nil
}

func queryEvents(ctx context.Context, q Querier, query string, args ...any) ([]*Event, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var es []*Event
	for rows.Next() {
		var (
			e       Event
			payload string
			at      time.Time
		)
		if err := rows.Scan(&e.ID, &e.PaymentID, &e.OrderID, &e.Type, &payload, &at); err != nil {
			return nil, err
		}
		e.Payload = []byte(payload)
		e.OccurredAt = at.UTC()
		es = append(es, &e)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	return es, nil
}
