// Package webhookstore keeps the webhook delivery log in a paygate database:
// it implements webhook.Store and webhook.PaymentLog on *store.DB, for
// MySQL/MariaDB and SQLite alike (the webhook_deliveries table of store's
// migration 0101, unique on (pg, dedup_key)).
//
//	db, _ := store.Open(ctx, "sqlite:./data/paygate.db")
//	_ = db.Migrate(ctx)
//	intake, _ := webhook.New(webhook.Config{Registry: reg, Store: webhookstore.New(db), Effect: apply})
package webhookstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/paygate/paygate/pg"
	"github.com/paygate/paygate/store"
	"github.com/paygate/paygate/webhook"
)

// Store is the webhook.Store of a paygate database: the webhook log with
// its unique (pg, dedup_key). It is safe for concurrent use.
type Store struct {
	db *store.DB
}

var (
	_ webhook.Store      = (*Store)(nil)
	_ webhook.PaymentLog = (*Store)(nil)
)

// New returns the webhook log of db.
func New(db *store.DB) *Store { return &Store{db: db} }

// dbTime is how times go into the database: UTC to the microsecond, like
// every other paygate table, so both dialects compare the same instants.
func dbTime(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

// headerOf decodes a stored header column.
func headerOf(s string) (http.Header, error) {
	var h http.Header
	if s == "" {
		return http.Header{}, nil
	}
	if err := json.Unmarshal([]byte(s), &h); err != nil {
		return nil, err
	}
	return h, nil
}

// InTx implements webhook.Store with store.InTx: deadlocks, lock wait
// timeouts and SQLite busy errors re-run fn.
func (s *Store) InTx(ctx context.Context, fn func(ctx context.Context, tx *sql.Tx) error) error {
	return s.db.InTx(ctx, fn)
}

// InsertTx implements webhook.Store. On MySQL a concurrent insert of the same
// (pg, dedup_key) waits for the first transaction: it fails as a duplicate if
// that one commits and goes ahead if it rolls back.
func (s *Store) InsertTx(ctx context.Context, tx *sql.Tx, d webhook.Delivery) error {
	event, err := json.Marshal(d.Event)
	if err != nil {
		return fmt.Errorf("webhookstore: webhook %s: encode event: %w", d.DedupKey, err)
	}
	header, err := json.Marshal(d.Header)
	if err != nil {
		return fmt.Errorf("webhookstore: webhook %s: encode headers: %w", d.DedupKey, err)
	}
	body := d.Body
	if body == nil {
		body = []byte{}
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO webhook_deliveries
  (id, pg, dedup_key, event_type, payment_key, order_id, status, event, headers, body, body_sha256,
   remote_addr, received_at, replay_count, replayed_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, NULL)`,
		d.ID, d.PG, d.DedupKey, string(d.Event.Type), d.Event.PaymentKey, d.Event.OrderID,
		string(d.Event.Status), string(event), string(header), body, d.BodySHA256,
		d.RemoteAddr, dbTime(d.ReceivedAt))
	if store.IsUniqueViolation(err) {
		return fmt.Errorf("webhookstore: webhook %s/%s: %w", d.PG, d.DedupKey, webhook.ErrDuplicate)
	}
	if err != nil {
		return fmt.Errorf("webhookstore: record webhook %s/%s: %w", d.PG, d.DedupKey, err)
	}
	return nil
}

const deliveryColumns = `id, pg, dedup_key, event, headers, body, body_sha256, remote_addr,
  received_at, replay_count, replayed_at`

type rowScanner interface{ Scan(dest ...any) error }

func scanDelivery(row rowScanner, id string) (webhook.Delivery, error) {
	var (
		d              webhook.Delivery
		event, headers string
		replayed       sql.NullTime
	)
	err := row.Scan(&d.ID, &d.PG, &d.DedupKey, &event, &headers, &d.Body, &d.BodySHA256,
		&d.RemoteAddr, &d.ReceivedAt, &d.ReplayCount, &replayed)
	if errors.Is(err, sql.ErrNoRows) {
		return webhook.Delivery{}, fmt.Errorf("webhookstore: webhook %s: %w", id, webhook.ErrNotFound)
	}
	if err != nil {
		return webhook.Delivery{}, fmt.Errorf("webhookstore: read webhook %s: %w", id, err)
	}
	if err := json.Unmarshal([]byte(event), &d.Event); err != nil {
		return webhook.Delivery{}, fmt.Errorf("webhookstore: webhook %s: decode event: %w", id, err)
	}
	if d.Header, err = headerOf(headers); err != nil {
		return webhook.Delivery{}, fmt.Errorf("webhookstore: webhook %s: decode headers: %w", id, err)
	}
	if replayed.Valid {
		d.ReplayedAt = replayed.Time
	}
	return d, nil
}

// LockTx implements webhook.Store: FOR UPDATE on MySQL; SQLite's write
// transaction already excludes every other writer.
func (s *Store) LockTx(ctx context.Context, tx *sql.Tx, id string) (webhook.Delivery, error) {
	query := `SELECT ` + deliveryColumns + ` FROM webhook_deliveries WHERE id = ?`
	if s.db.Dialect() == store.MySQL {
		query += ` FOR UPDATE`
	}
	return scanDelivery(tx.QueryRowContext(ctx, query, id), id)
}

// MarkReplayedTx implements webhook.Store.
func (s *Store) MarkReplayedTx(ctx context.Context, tx *sql.Tx, id string, at time.Time) error {
	res, err := tx.ExecContext(ctx, `UPDATE webhook_deliveries
SET replay_count = replay_count + 1, replayed_at = ? WHERE id = ?`, dbTime(at), id)
	if err != nil {
		return fmt.Errorf("webhookstore: mark webhook %s replayed: %w", id, err)
	}
	if n, err := res.RowsAffected(); err != nil || n != 1 {
		return fmt.Errorf("webhookstore: mark webhook %s replayed: %w", id, errors.Join(err, webhook.ErrNotFound))
	}
	return nil
}

// Get implements webhook.Store.
func (s *Store) Get(ctx context.Context, id string) (webhook.Delivery, error) {
	row := s.db.SQL().QueryRowContext(ctx, `SELECT `+deliveryColumns+` FROM webhook_deliveries WHERE id = ?`, id)
	return scanDelivery(row, id)
}

// ByPayment lists the recorded deliveries about one payment of a PG, oldest
// first, for an operator's timeline.
func (s *Store) ByPayment(ctx context.Context, pgName, paymentKey string) ([]webhook.Delivery, error) {
	rows, err := s.db.SQL().QueryContext(ctx, `SELECT `+deliveryColumns+` FROM webhook_deliveries
WHERE pg = ? AND payment_key = ? ORDER BY received_at, id`, pgName, paymentKey)
	if err != nil {
		return nil, fmt.Errorf("webhookstore: list webhooks of %s/%s: %w", pgName, paymentKey, err)
	}
	defer rows.Close()
	var out []webhook.Delivery
	for rows.Next() {
		d, err := scanDelivery(rows, paymentKey)
		if err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("webhookstore: list webhooks of %s/%s: %w", pgName, paymentKey, err)
	}
	return out, nil
}

// maxPaymentEvents bounds PaymentEventsTx: a payment has a handful of
// notifications, one per state it went through.
const maxPaymentEvents = 200

// PaymentEventsTx implements webhook.PaymentLog: the events of the latest
// deliveries recorded for one payment of a PG, newest first.
func (s *Store) PaymentEventsTx(ctx context.Context, tx *sql.Tx, pgName, paymentKey string) ([]pg.WebhookEvent, error) {
	rows, err := tx.QueryContext(ctx, `SELECT event FROM webhook_deliveries
WHERE pg = ? AND payment_key = ? ORDER BY received_at DESC, id DESC LIMIT ?`, pgName, paymentKey, maxPaymentEvents)
	if err != nil {
		return nil, fmt.Errorf("webhookstore: events of %s/%s: %w", pgName, paymentKey, err)
	}
	defer rows.Close()
	var out []pg.WebhookEvent
	for rows.Next() {
		var raw string
		if err := rows.Scan(&raw); err != nil {
			return nil, fmt.Errorf("webhookstore: events of %s/%s: %w", pgName, paymentKey, err)
		}
		var ev pg.WebhookEvent
		if err := json.Unmarshal([]byte(raw), &ev); err != nil {
			return nil, fmt.Errorf("webhookstore: events of %s/%s: decode: %w", pgName, paymentKey, err)
		}
		out = append(out, ev)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("webhookstore: events of %s/%s: %w", pgName, paymentKey, err)
	}
	return out, nil
}
