// Package adminstore implements admin.Store, the reads of the operators'
// console, on paygate's database (MySQL/MariaDB and SQLite).
//
// The payment search pages by keyset on (created_at, id) descending: the
// next page starts after the last row of the previous one, so a page costs
// the rows it returns whatever its depth, and rows inserted meanwhile never
// shift it. Migration 0470 adds the indexes that serve that order, alone
// and after an equality filter on status, PG or method.
package adminstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/shopspring/decimal"

	"github.com/paygate/paygate/admin"
	"github.com/paygate/paygate/pg"
	"github.com/paygate/paygate/store"
	"github.com/paygate/paygate/store/sagastore"
)

// Store reads the console's data. It is safe for concurrent use.
type Store struct {
	db *store.DB
}

// New returns the console's store on db (migrated by db.Migrate).
func New(db *store.DB) *Store { return &Store{db: db} }

var _ admin.Store = (*Store)(nil)

const paymentCols = `p.id, p.order_id, COALESCE(c.order_name, ''), p.pg, COALESCE(p.payment_key, ''), p.method, p.status,
p.currency, p.amount, p.approved_amount, p.canceled_amount, p.failure_code, p.failure_message,
p.approved_at, p.canceled_at, p.created_at, p.updated_at`

// SearchPayments implements admin.Store.
func (s *Store) SearchPayments(ctx context.Context, f admin.PaymentFilter) ([]admin.Payment, error) {
	query, args, err := searchQuery(f)
	if err != nil {
		return nil, err
	}
	return s.queryPayments(ctx, query, args...)
}

// searchQuery builds the search's SQL, the same on both dialects.
func searchQuery(f admin.PaymentFilter) (string, []any, error) {
	if f.Limit < 1 || f.Limit > admin.MaxLimit+1 {
		return "", nil, fmt.Errorf("adminstore: limit must be 1 to %d", admin.MaxLimit+1)
	}
	var where []string
	var args []any
	eq := func(col, v string) {
		if v != "" {
			where = append(where, col+" = ?")
			args = append(args, v)
		}
	}
	eq("p.status", f.Status)
	eq("p.pg", f.PG)
	eq("p.method", f.Method)
	eq("p.order_id", f.OrderID)
	eq("p.id", f.PaymentID)
	if !f.From.IsZero() {
		where = append(where, "p.created_at >= ?")
		args = append(args, dbTime(f.From))
	}
	if !f.To.IsZero() {
		where = append(where, "p.created_at < ?")
		args = append(args, dbTime(f.To))
	}
	for _, b := range []struct {
		m  pg.Money
		op string
	}{{f.MinAmount, ">="}, {f.MaxAmount, "<="}} {
		if !b.m.IsSet() {
			continue
		}
		v, err := minorUnits(b.m)
		if err != nil {
			return "", nil, err
		}
		where = append(where, "p.currency = ? AND p.amount "+b.op+" ?")
		args = append(args, string(b.m.Currency()), v)
	}
	if f.Text != "" {
		where = append(where, "LOWER(c.order_name) LIKE ? ESCAPE '!'")
		args = append(args, "%"+likeEscape(strings.ToLower(f.Text))+"%")
	}
	if f.After != nil {
		// Written so both dialects see a range on created_at.
		at := dbTime(f.After.CreatedAt)
		where = append(where, "p.created_at <= ? AND (p.created_at < ? OR p.id < ?)")
		args = append(args, at, at, f.After.ID)
	}
	query := `SELECT ` + paymentCols + ` FROM payments p LEFT JOIN checkouts c ON c.order_id = p.order_id`
	if len(where) > 0 {
		query += " WHERE " + strings.Join(where, " AND ")
	}
	query += " ORDER BY p.created_at DESC, p.id DESC LIMIT ?"
	args = append(args, f.Limit)
	return query, args, nil
}

// Explain returns the database's plan for the search f (EXPLAIN on MySQL,
// EXPLAIN QUERY PLAN on SQLite), one line per row, for tests and
// benchmarks that check the indexes serve it.
func (s *Store) Explain(ctx context.Context, f admin.PaymentFilter) ([]string, error) {
	query, args, err := searchQuery(f)
	if err != nil {
		return nil, err
	}
	prefix := "EXPLAIN "
	if s.db.Dialect() == store.SQLite {
		prefix = "EXPLAIN QUERY PLAN "
	}
	rows, err := s.db.SQL().QueryContext(ctx, prefix+query, args...)
	if err != nil {
		return nil, fmt.Errorf("adminstore: explain: %w", err)
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return nil, err
	}
	var out []string
	for rows.Next() {
		vals := make([]sql.NullString, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return nil, fmt.Errorf("adminstore: explain: %w", err)
		}
		parts := make([]string, len(cols))
		for i, c := range cols {
			parts[i] = c + "=" + vals[i].String
		}
		out = append(out, strings.Join(parts, " "))
	}
	return out, rows.Err()
}

// Payment implements admin.Store.
func (s *Store) Payment(ctx context.Context, id string) (admin.Payment, error) {
	ps, err := s.queryPayments(ctx, `SELECT `+paymentCols+` FROM payments p
LEFT JOIN checkouts c ON c.order_id = p.order_id WHERE p.id = ?`, id)
	if err != nil {
		return admin.Payment{}, err
	}
	if len(ps) == 0 {
		return admin.Payment{}, fmt.Errorf("adminstore: payment %q: %w", id, admin.ErrNotFound)
	}
	return ps[0], nil
}

func (s *Store) queryPayments(ctx context.Context, query string, args ...any) ([]admin.Payment, error) {
	rows, err := s.db.SQL().QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("adminstore: payments: %w", err)
	}
	defer rows.Close()
	var out []admin.Payment
	for rows.Next() {
		var p admin.Payment
		var status, cur string
		var amount, approved, canceled int64
		var approvedAt, canceledAt sql.NullTime
		if err := rows.Scan(&p.ID, &p.OrderID, &p.OrderName, &p.PG, &p.PaymentKey, &p.Method, &status,
			&cur, &amount, &approved, &canceled, &p.FailureCode, &p.FailureMessage,
			&approvedAt, &canceledAt, &p.CreatedAt, &p.UpdatedAt); err != nil {
			return nil, fmt.Errorf("adminstore: payments: %w", err)
		}
		p.Status = pg.Status(status)
		if p.Amount, err = money(amount, cur); err == nil {
			if p.ApprovedAmount, err = money(approved, cur); err == nil {
				p.CanceledAmount, err = money(canceled, cur)
			}
		}
		if err != nil {
			return nil, fmt.Errorf("adminstore: payment %s: %w", p.ID, err)
		}
		p.ApprovedAt, p.CanceledAt = timeOf(approvedAt), timeOf(canceledAt)
		p.CreatedAt, p.UpdatedAt = p.CreatedAt.UTC(), p.UpdatedAt.UTC()
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("adminstore: payments: %w", err)
	}
	return out, nil
}

// Events implements admin.Store.
func (s *Store) Events(ctx context.Context, paymentID string) ([]admin.Event, error) {
	rows, err := s.db.SQL().QueryContext(ctx, `SELECT event_id, event_type, occurred_at, payload
FROM payment_events WHERE payment_id = ? ORDER BY occurred_at, event_id`, paymentID)
	if err != nil {
		return nil, fmt.Errorf("adminstore: events of %s: %w", paymentID, err)
	}
	defer rows.Close()
	var out []admin.Event
	for rows.Next() {
		var e admin.Event
		var payload string
		if err := rows.Scan(&e.ID, &e.Type, &e.OccurredAt, &payload); err != nil {
			return nil, fmt.Errorf("adminstore: events of %s: %w", paymentID, err)
		}
		e.OccurredAt = e.OccurredAt.UTC()
		e.Payload = []byte(payload)
		out = append(out, e)
	}
	return out, rows.Err()
}

// Sagas implements admin.Store.
func (s *Store) Sagas(ctx context.Context, paymentID string, cancelIDs []string) ([]admin.Saga, error) {
	keys := append([]string{paymentID}, cancelIDs...)
	rows, err := s.db.SQL().QueryContext(ctx, `SELECT id, definition, business_key, state, reason, created_at, updated_at
FROM saga_instances WHERE business_key IN (`+placeholders(len(keys))+`) ORDER BY created_at, id`, anys(keys)...)
	if err != nil {
		return nil, fmt.Errorf("adminstore: sagas of %s: %w", paymentID, err)
	}
	var out []admin.Saga
	index := map[string]int{}
	for rows.Next() {
		var g admin.Saga
		if err := rows.Scan(&g.ID, &g.Definition, &g.BusinessKey, &g.State, &g.Reason, &g.CreatedAt, &g.UpdatedAt); err != nil {
			rows.Close()
			return nil, fmt.Errorf("adminstore: sagas of %s: %w", paymentID, err)
		}
		g.CreatedAt, g.UpdatedAt = g.CreatedAt.UTC(), g.UpdatedAt.UTC()
		index[g.ID] = len(out)
		out = append(out, g)
	}
	if err := rows.Err(); err != nil {
		rows.Close()
		return nil, fmt.Errorf("adminstore: sagas of %s: %w", paymentID, err)
	}
	rows.Close()
	if len(out) == 0 {
		return out, nil
	}
	ids := make([]string, len(out))
	for i, g := range out {
		ids[i] = g.ID
	}
	steps, err := sagastore.New(s.db).Steps(ctx, nil, ids...)
	if err != nil {
		return nil, fmt.Errorf("adminstore: saga steps of %s: %w", paymentID, err)
	}
	sort.SliceStable(steps, func(a, b int) bool {
		x, y := steps[a], steps[b]
		if !x.UpdatedAt.Equal(y.UpdatedAt) {
			return x.UpdatedAt.Before(y.UpdatedAt)
		}
		if x.Step != y.Step {
			return x.Step < y.Step
		}
		return x.Op < y.Op
	})
	for _, st := range steps {
		if i, ok := index[st.SagaID]; ok {
			out[i].Steps = append(out[i].Steps, admin.SagaStep{
				Step: st.Step, Op: string(st.Op), Status: string(st.Status), Attempts: st.Attempts,
				LastError: st.LastError, UpdatedAt: st.UpdatedAt,
			})
		}
	}
	return out, nil
}

// Ledger implements admin.Store.
func (s *Store) Ledger(ctx context.Context, paymentID string) ([]admin.LedgerEntry, error) {
	rows, err := s.db.SQL().QueryContext(ctx, `SELECT id, entry_type, business_date, payout_date, currency, gross, fee, vat, net, created_at
FROM settlement_entries WHERE payment_id = ? ORDER BY created_at, id`, paymentID)
	if err != nil {
		return nil, fmt.Errorf("adminstore: ledger of %s: %w", paymentID, err)
	}
	defer rows.Close()
	var out []admin.LedgerEntry
	for rows.Next() {
		var e admin.LedgerEntry
		var cur string
		var gross, fee, vat, net int64
		if err := rows.Scan(&e.ID, &e.Type, &e.BusinessDate, &e.PayoutDate, &cur, &gross, &fee, &vat, &net, &e.CreatedAt); err != nil {
			return nil, fmt.Errorf("adminstore: ledger of %s: %w", paymentID, err)
		}
		e.CreatedAt = e.CreatedAt.UTC()
		for _, m := range []struct {
			dst *pg.Money
			v   int64
		}{{&e.Gross, gross}, {&e.Fee, fee}, {&e.VAT, vat}, {&e.Net, net}} {
			if *m.dst, err = money(m.v, cur); err != nil {
				return nil, fmt.Errorf("adminstore: ledger entry %s: %w", e.ID, err)
			}
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

// maxWebhookBody is how much of a notification's body the console shows.
const maxWebhookBody = 8 << 10

// Webhooks implements admin.Store.
func (s *Store) Webhooks(ctx context.Context, pgName, paymentKey, orderID string) ([]admin.Webhook, error) {
	const cols = `SELECT id, pg, event_type, status, remote_addr, received_at, replay_count, body FROM webhook_deliveries`
	query := cols + ` WHERE order_id = ?`
	args := []any{orderID}
	if paymentKey != "" {
		// Two index lookups, (order_id, received_at) and (pg, payment_key).
		query += ` UNION ` + cols + ` WHERE pg = ? AND payment_key = ?`
		args = append(args, pgName, paymentKey)
	}
	rows, err := s.db.SQL().QueryContext(ctx, `SELECT * FROM (`+query+`) w ORDER BY received_at, id LIMIT 200`, args...)
	if err != nil {
		return nil, fmt.Errorf("adminstore: webhooks of %s: %w", orderID, err)
	}
	defer rows.Close()
	var out []admin.Webhook
	for rows.Next() {
		var w admin.Webhook
		var body []byte
		if err := rows.Scan(&w.ID, &w.PG, &w.EventType, &w.Status, &w.RemoteAddr, &w.ReceivedAt, &w.ReplayCount, &body); err != nil {
			return nil, fmt.Errorf("adminstore: webhooks of %s: %w", orderID, err)
		}
		w.ReceivedAt = w.ReceivedAt.UTC()
		if len(body) > maxWebhookBody {
			body = body[:maxWebhookBody]
		}
		w.Body = strings.ToValidUTF8(string(body), "\uFFFD")
		out = append(out, w)
	}
	return out, rows.Err()
}

// captured is the SQL of "this payment was captured".
const captured = `CASE WHEN p.approved_amount > 0 THEN 1 ELSE 0 END`

// Stats implements admin.Store.
func (s *Store) Stats(ctx context.Context, f admin.StatsFilter) (admin.Stats, error) {
	if !f.Currency.Valid() {
		return admin.Stats{}, fmt.Errorf("adminstore: unknown currency %q", f.Currency)
	}
	cur := string(f.Currency)
	out := admin.Stats{}
	zero, err := money(0, cur)
	if err != nil {
		return out, err
	}
	out.ApprovedAmount, out.RefundedAmount = zero, zero
	where := ` FROM payments p WHERE p.created_at >= ? AND p.created_at < ? AND p.currency = ?`
	args := []any{dbTime(f.From), dbTime(f.To), cur}
	sums := `COUNT(*), COALESCE(SUM(` + captured + `), 0), COALESCE(SUM(p.approved_amount), 0), COALESCE(SUM(p.canceled_amount), 0)`
	day := `DATE_FORMAT(DATE_ADD(p.created_at, INTERVAL 9 HOUR), '%Y-%m-%d')`
	if s.db.Dialect() == store.SQLite {
		day = `strftime('%Y-%m-%d', p.created_at, '+9 hours')`
	}
	groups := []struct {
		key string
		dst *[]admin.GroupStats
	}{{"p.pg", &out.ByPG}, {day, &out.ByDay}}
	for _, g := range groups {
		rows, err := s.db.SQL().QueryContext(ctx, `SELECT `+g.key+`, `+sums+where+` GROUP BY `+g.key+` ORDER BY 1`, args...)
		if err != nil {
			return out, fmt.Errorf("adminstore: stats: %w", err)
		}
		for rows.Next() {
			var gs admin.GroupStats
			var approved, refunded int64
			if err := rows.Scan(&gs.Key, &gs.Count, &gs.Captured, &approved, &refunded); err != nil {
				rows.Close()
				return out, fmt.Errorf("adminstore: stats: %w", err)
			}
			if gs.ApprovedAmount, err = money(approved, cur); err == nil {
				gs.RefundedAmount, err = money(refunded, cur)
			}
			if err != nil {
				rows.Close()
				return out, err
			}
			*g.dst = append(*g.dst, gs)
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return out, fmt.Errorf("adminstore: stats: %w", err)
		}
	}
	// The totals are the sums of the PGs' rows: one scan fewer.
	for _, gs := range out.ByPG {
		out.Count += gs.Count
		out.Captured += gs.Captured
		if out.ApprovedAmount, err = out.ApprovedAmount.Add(gs.ApprovedAmount); err == nil {
			out.RefundedAmount, err = out.RefundedAmount.Add(gs.RefundedAmount)
		}
		if err != nil {
			return out, err
		}
	}
	err = s.db.SQL().QueryRowContext(ctx, `SELECT COUNT(*) FROM payments WHERE status IN (?, ?)`,
		string(pg.StatusApproving), string(pg.StatusUnknown)).Scan(&out.OpenUnknown)
	if err != nil {
		return out, fmt.Errorf("adminstore: stats: %w", err)
	}
	return out, nil
}

// dbTime is a time as the store writes it: UTC, to the microsecond.
func dbTime(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

func timeOf(n sql.NullTime) time.Time {
	if !n.Valid {
		return time.Time{}
	}
	return n.Time.UTC()
}

// likeEscape escapes LIKE's wildcards with '!'.
func likeEscape(s string) string {
	return strings.NewReplacer("!", "!!", "%", "!%", "_", "!_").Replace(s)
}

func placeholders(n int) string { return strings.TrimSuffix(strings.Repeat("?, ", n), ", ") }

func anys(xs []string) []any {
	out := make([]any, len(xs))
	for i, x := range xs {
		out[i] = x
	}
	return out
}

// money turns a stored amount in minor units back into Money.
func money(v int64, currency string) (pg.Money, error) {
	c := pg.Currency(currency)
	units, ok := c.MinorUnits()
	if !ok {
		return pg.Money{}, fmt.Errorf("adminstore: stored currency %q is unknown", currency)
	}
	return pg.NewMoney(decimal.New(v, -units), c)
}

// minorUnits is an amount as the database stores it.
func minorUnits(m pg.Money) (int64, error) {
	units, ok := m.Currency().MinorUnits()
	if !ok {
		return 0, fmt.Errorf("adminstore: unknown currency %q", m.Currency())
	}
	shifted := m.Amount().Shift(units)
	if !shifted.IsInteger() || !shifted.Equal(decimal.NewFromInt(shifted.IntPart())) {
		return 0, errors.New("adminstore: amount out of range or below the currency's minor unit")
	}
	return shifted.IntPart(), nil
}
