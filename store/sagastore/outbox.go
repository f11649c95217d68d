package sagastore

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/paygate/paygate/outbox"
	"github.com/paygate/paygate/store"
)

// InsertEvent implements outbox.Store. In a context whose inserts are
// deferred (DB.WithDeferred) the rows are added to the transaction's
// deferred inserts instead.
func (s *Store) InsertEvent(ctx context.Context, tx *sql.Tx, ev outbox.EventRecord, deliveries []outbox.DeliveryRecord) error {
	err := store.InsertRows(ctx, tx, `INSERT INTO saga_events (id, type, event_key, payload, occurred_at, created_at, trace_parent)
VALUES `, "(?, ?, ?, ?, ?, ?, ?)", 1,
		ev.ID, ev.Type, ev.Key, ev.Payload, dbTime(ev.OccurredAt), dbTime(time.Now()), ev.TraceParent)
	if store.IsUniqueViolation(err) {
		return fmt.Errorf("sagastore: insert event %s: %w", ev.ID, outbox.ErrDuplicate)
	}
	if err != nil {
		return fmt.Errorf("sagastore: insert event %s: %w", ev.ID, err)
	}
	if len(deliveries) == 0 {
		return nil
	}
	args := make([]any, 0, 9*len(deliveries))
	for _, d := range deliveries {
		args = append(args, d.EventID, d.Subscriber, d.Key, boolInt(d.Ordered), string(d.Status), d.Attempts,
			dbTime(d.RunAt), dbTime(d.CreatedAt), dbTime(d.UpdatedAt))
	}
	if err := store.InsertRows(ctx, tx, `INSERT INTO saga_deliveries
(event_id, subscriber, event_key, in_order, status, attempts, run_at, created_at, updated_at) VALUES `,
		"(?, ?, ?, ?, ?, ?, ?, ?, ?)", len(deliveries), args...); err != nil {
		return fmt.Errorf("sagastore: insert deliveries of %s: %w", ev.ID, err)
	}
	return nil
}

// Deferring returns ctx with its writes deferred (DB.WithDeferred) and
// the function that writes them; the saga runner's write groups use it.
func (s *Store) Deferring(ctx context.Context) (context.Context, func(context.Context, *sql.Tx) error) {
	ctx, d := s.db.WithDeferred(ctx)
	return ctx, d.Flush
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

const deliveryCols = `d.id, d.event_id, d.subscriber, d.event_key, d.in_order, d.status, d.attempts, d.run_at,
d.lease_token, d.last_error, d.created_at, d.updated_at`

const eventCols = `e.id, e.type, e.event_key, e.payload, e.occurred_at, e.trace_parent`

func scanDelivery(sc scanner, withEvent bool) (outbox.DeliveryRecord, error) {
	var d outbox.DeliveryRecord
	var ordered int
	var status string
	var runAt sql.NullTime
	dest := []any{&d.ID, &d.EventID, &d.Subscriber, &d.Key, &ordered, &status, &d.Attempts, &runAt,
		&d.LeaseToken, &d.LastError, &d.CreatedAt, &d.UpdatedAt}
	if withEvent {
		dest = append(dest, &d.Event.ID, &d.Event.Type, &d.Event.Key, &d.Event.Payload, &d.Event.OccurredAt, &d.Event.TraceParent)
	}
	err := sc.Scan(dest...)
	d.Ordered = ordered != 0
	d.Status = outbox.DeliveryStatus(status)
	d.RunAt = fromNull(runAt)
	d.CreatedAt, d.UpdatedAt, d.Event.OccurredAt = d.CreatedAt.UTC(), d.UpdatedAt.UTC(), d.Event.OccurredAt.UTC()
	return d, err
}

func queryDeliveries(ctx context.Context, q store.Querier, withEvent bool, query string, args ...any) ([]outbox.DeliveryRecord, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []outbox.DeliveryRecord
	for rows.Next() {
		d, err := scanDelivery(rows, withEvent)
		if err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, rows.Err()
}

// ClaimDeliveries implements outbox.Store. Due deliveries are found
// through run_at, which is NULL once a delivery is done or dead; an ordered
// delivery waits while an earlier one of its subscriber and key is pending
// (in flight included) or dead. The order (run_at, subscriber, id) is the
// run_at index's own, so a claim reads the index from its start and stops
// at the limit, however many deliveries wait behind it.
func (s *Store) ClaimDeliveries(ctx context.Context, tx *sql.Tx, c outbox.DeliveryClaim) ([]outbox.DeliveryRecord, error) {
	if len(c.Subscribers) == 0 || c.Limit <= 0 {
		return nil, nil
	}
	args := append([]any{dbTime(c.Now)}, anys(c.Subscribers)...)
	args = append(args, c.Limit)
	rows, err := tx.QueryContext(ctx, `SELECT d.id FROM saga_deliveries d
WHERE d.run_at <= ? AND d.subscriber IN (`+placeholders(len(c.Subscribers))+`)
  AND (d.in_order = 0 OR NOT EXISTS (
    SELECT 1 FROM saga_deliveries p
    WHERE p.subscriber = d.subscriber AND p.event_key = d.event_key
      AND p.status IN ('PENDING', 'DEAD') AND p.id < d.id))
ORDER BY d.run_at, d.subscriber, d.id LIMIT ?`+s.forUpdateSkipLocked(), args...)
	if err != nil {
		return nil, fmt.Errorf("sagastore: claim deliveries: %w", err)
	}
	var ids []any
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return nil, fmt.Errorf("sagastore: claim deliveries: %w", err)
		}
		ids = append(ids, id)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sagastore: claim deliveries: %w", err)
	}
	if len(ids) == 0 {
		return nil, nil
	}
	in := placeholders(len(ids))
	if !c.Hold {
		if err := s.lease(ctx, tx, ids, c); err != nil {
			return nil, fmt.Errorf("sagastore: claim deliveries: %w", err)
		}
	}
	ds, err := queryDeliveries(ctx, tx, true, `SELECT `+deliveryCols+`, `+eventCols+`
FROM saga_deliveries d JOIN saga_events e ON e.id = d.event_id
WHERE d.id IN (`+in+`) ORDER BY d.id`, ids...)
	if err != nil {
		return nil, fmt.Errorf("sagastore: claim deliveries: %w", err)
	}
	if c.Hold {
		for i := range ds {
			ds[i].Attempts++
		}
	}
	return ds, nil
}

func (s *Store) lease(ctx context.Context, tx *sql.Tx, ids []any, c outbox.DeliveryClaim) error {
	_, err := tx.ExecContext(ctx, `UPDATE saga_deliveries
SET lease_token = ?, run_at = ?, attempts = attempts + 1, updated_at = ?
WHERE id IN (`+placeholders(len(ids))+`)`, append([]any{c.Token, dbTime(c.LeaseUntil), dbTime(c.Now)}, ids...)...)
	return err
}

// LeaseDeliveries implements outbox.Store.
func (s *Store) LeaseDeliveries(ctx context.Context, tx *sql.Tx, ids []int64, c outbox.DeliveryClaim) error {
	if len(ids) == 0 {
		return nil
	}
	if err := s.lease(ctx, tx, int64s(ids), c); err != nil {
		return fmt.Errorf("sagastore: lease %d deliveries: %w", len(ids), err)
	}
	return nil
}

// MarkHeldDone implements outbox.Store.
func (s *Store) MarkHeldDone(ctx context.Context, tx *sql.Tx, ids []int64, at time.Time) (int, error) {
	if len(ids) == 0 {
		return 0, nil
	}
	args := append([]any{string(outbox.DeliveryDone), dbTime(at)}, int64s(ids)...)
	args = append(args, string(outbox.DeliveryPending))
	res, err := tx.ExecContext(ctx, `UPDATE saga_deliveries
SET status = ?, run_at = NULL, last_error = '', attempts = attempts + 1, updated_at = ?
WHERE id IN (`+placeholders(len(ids))+`) AND status = ?`, args...)
	if err != nil {
		return 0, fmt.Errorf("sagastore: mark %d held deliveries done: %w", len(ids), err)
	}
	n, err := rowsAffected(res)
	if err != nil {
		return 0, fmt.Errorf("sagastore: mark %d held deliveries done: %w", len(ids), err)
	}
	return int(n), nil
}

func int64s(ids []int64) []any {
	out := make([]any, len(ids))
	for i, id := range ids {
		out[i] = id
	}
	return out
}

// UpdateDelivery implements outbox.Store.
func (s *Store) UpdateDelivery(ctx context.Context, tx *sql.Tx, d outbox.DeliveryRecord, prevStatus outbox.DeliveryStatus, prevToken string) (bool, error) {
	res, err := tx.ExecContext(ctx, `UPDATE saga_deliveries
SET status = ?, attempts = ?, run_at = ?, lease_token = ?, last_error = ?, updated_at = ?
WHERE id = ? AND status = ? AND lease_token = ?`,
		string(d.Status), d.Attempts, dbTime(d.RunAt), d.LeaseToken, clip(d.LastError), dbTime(d.UpdatedAt),
		d.ID, string(prevStatus), prevToken)
	if err != nil {
		return false, fmt.Errorf("sagastore: update delivery %d: %w", d.ID, err)
	}
	n, err := rowsAffected(res)
	if err != nil {
		return false, fmt.Errorf("sagastore: update delivery %d: %w", d.ID, err)
	}
	return n == 1, nil
}

// MarkDone implements outbox.Store.
func (s *Store) MarkDone(ctx context.Context, tx *sql.Tx, ids []int64, token string, at time.Time) (int, error) {
	if len(ids) == 0 {
		return 0, nil
	}
	args := append(make([]any, 0, len(ids)+4), string(outbox.DeliveryDone), dbTime(at))
	for _, id := range ids {
		args = append(args, id)
	}
	args = append(args, string(outbox.DeliveryPending), token)
	res, err := tx.ExecContext(ctx, `UPDATE saga_deliveries
SET status = ?, run_at = NULL, last_error = '', updated_at = ?
WHERE id IN (`+placeholders(len(ids))+`) AND status = ? AND lease_token = ?`, args...)
	if err != nil {
		return 0, fmt.Errorf("sagastore: mark %d deliveries done: %w", len(ids), err)
	}
	n, err := rowsAffected(res)
	if err != nil {
		return 0, fmt.Errorf("sagastore: mark %d deliveries done: %w", len(ids), err)
	}
	return int(n), nil
}

// Delivery implements outbox.Store.
func (s *Store) Delivery(ctx context.Context, tx *sql.Tx, id int64) (outbox.DeliveryRecord, error) {
	d, err := scanDelivery(s.q(tx).QueryRowContext(ctx, `SELECT `+deliveryCols+` FROM saga_deliveries d WHERE d.id = ?`, id), false)
	if isNoRows(err) {
		return d, notFound(fmt.Sprintf("delivery %d", id), outbox.ErrNotFound)
	}
	if err != nil {
		return d, fmt.Errorf("sagastore: delivery %d: %w", id, err)
	}
	return d, nil
}

// Backlog implements outbox.Store: the oldest pending delivery by id and
// the count of dead ones, both through the (status, id) index.
func (s *Store) Backlog(ctx context.Context) (outbox.Backlog, error) {
	var b outbox.Backlog
	var oldest time.Time
	err := s.db.SQL().QueryRowContext(ctx, `SELECT created_at FROM saga_deliveries WHERE status = 'PENDING' ORDER BY id LIMIT 1`).Scan(&oldest)
	switch {
	case isNoRows(err):
	case err != nil:
		return b, fmt.Errorf("sagastore: oldest pending delivery: %w", err)
	default:
		b.OldestPending = oldest.UTC()
	}
	if err := s.db.SQL().QueryRowContext(ctx, `SELECT COUNT(*) FROM saga_deliveries WHERE status = 'DEAD'`).Scan(&b.Dead); err != nil {
		return b, fmt.Errorf("sagastore: dead deliveries: %w", err)
	}
	return b, nil
}

// Deliveries implements outbox.Store.
func (s *Store) Deliveries(ctx context.Context, f outbox.DeliveryFilter) ([]outbox.DeliveryRecord, error) {
	var where []string
	var args []any
	if f.Status != "" {
		where = append(where, "d.status = ?")
		args = append(args, string(f.Status))
	}
	if f.Subscriber != "" {
		where = append(where, "d.subscriber = ?")
		args = append(args, f.Subscriber)
	}
	if f.EventID != "" {
		where = append(where, "d.event_id = ?")
		args = append(args, f.EventID)
	}
	if f.AfterID > 0 {
		where = append(where, "d.id > ?")
		args = append(args, f.AfterID)
	}
	query := `SELECT ` + deliveryCols + `, ` + eventCols + ` FROM saga_deliveries d JOIN saga_events e ON e.id = d.event_id`
	if len(where) > 0 {
		query += " WHERE " + strings.Join(where, " AND ")
	}
	query += " ORDER BY d.id LIMIT ?"
	args = append(args, limit(f.Limit))
	ds, err := queryDeliveries(ctx, s.db.SQL(), true, query, args...)
	if err != nil {
		return nil, fmt.Errorf("sagastore: list deliveries: %w", err)
	}
	return ds, nil
}
