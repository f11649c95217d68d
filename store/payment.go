package store

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/paygate/paygate/pg"
)

const paymentColumns = `id, pg, payment_key, order_id, amount, currency, status, approved_amount, canceled_amount,
  method, failure_code, failure_message, pg_data, approved_at, canceled_at, created_at, updated_at, version`

// paymentArgs validates p and returns the stored forms of the fields that
// need converting.
type paymentArgs struct {
	amount, approved, canceled int64
	data                       any
}

func (p *Payment) args() (paymentArgs, error) {
	var a paymentArgs
	if err := checkFields(
		check{"payment id", p.ID, maxIDLen, true},
		check{"pg", p.PG, maxPGLen, true},
		check{"payment key", p.PaymentKey, maxKeyLen, false},
		check{"order id", p.OrderID, maxIDLen, true},
		check{"method", p.Method, maxMethodLen, false},
		check{"failure code", p.FailureCode, maxCodeLen, false},
		check{"failure message", p.FailureMessage, maxMessageLen, false},
	); err != nil {
		return a, err
	}
	if !p.Status.Valid() {
		return a, fmt.Errorf("%w: unknown payment status %q", ErrInvalid, p.Status)
	}
	var err error
	if a.amount, err = minorUnits(p.Amount); err != nil {
		return a, fmt.Errorf("amount: %w", err)
	}
	cur := p.Amount.Currency()
	if a.approved, err = optionalMinorUnits(p.ApprovedAmount, cur, "approved amount"); err != nil {
		return a, err
	}
	if a.canceled, err = optionalMinorUnits(p.CanceledAmount, cur, "canceled amount"); err != nil {
		return a, err
	}
	if a.canceled > a.approved {
		return a, fmt.Errorf("%w: canceled amount %s exceeds approved amount %s", ErrInvalid, p.CanceledAmount, p.ApprovedAmount)
	}
	if a.data, err = jsonArg("pg data", p.PGData); err != nil {
		return a, err
	}
	return a, nil
}

// InsertPayment records a new payment in tx with Version 1. It sets
// CreatedAt (when zero) and UpdatedAt. A taken id or (PG, PaymentKey) is
// ErrDuplicate. In a context whose writes are deferred (DB.WithDeferred)
// the insert waits for Flush, which reports a duplicate.
func (db *DB) InsertPayment(ctx context.Context, tx *sql.Tx, p *Payment) error {
	a, err := p.args()
	if err != nil {
		return fmt.Errorf("store: insert payment %q: %w", p.ID, err)
	}
	now := db.clock()
	created := orNow(p.CreatedAt, now)
	_, err = ExecOrDefer(ctx, tx, `INSERT INTO payments (`+paymentColumns+`)
  VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		p.ID, p.PG, nullString(p.PaymentKey), p.OrderID, a.amount, string(p.Amount.Currency()), string(p.Status),
		a.approved, a.canceled, p.Method, p.FailureCode, p.FailureMessage, a.data,
		nullTime(p.ApprovedAt), nullTime(p.CanceledAt), created, now, 1)
	if err != nil {
		if IsUniqueViolation(err) {
			return fmt.Errorf("store: insert payment %q: %w: %w", p.ID, ErrDuplicate, err)
		}
		return fmt.Errorf("store: insert payment %q: %w", p.ID, err)
	}
	p.CreatedAt, p.UpdatedAt, p.Version = created, now, 1
	return nil
}

// UpdatePayment writes p's mutable fields (payment key, status, approved and
// canceled amounts, method, failure, PG data, approved/canceled times) in tx
// if the stored version is still expectedVersion, and moves the version on
// by one. PG, order id, amount and creation time never change and are not
// written.
//
// A version that moved is ErrConflict: someone else wrote the payment since
// it was read; read it again and decide again. A missing payment is
// ErrNotFound, a (PG, PaymentKey) taken by another payment ErrDuplicate. On
// success p.Version and p.UpdatedAt hold the stored values.
//
// Whether the status change is allowed (pg.CheckTransition) is the caller's
// rule; the store refuses only malformed records.
func (db *DB) UpdatePayment(ctx context.Context, tx *sql.Tx, p *Payment, expectedVersion int64) error {
	a, err := p.args()
	if err != nil {
		return fmt.Errorf("store: update payment %q: %w", p.ID, err)
	}
	now := db.clock()
	res, err := tx.ExecContext(ctx, `UPDATE payments SET payment_key = ?, status = ?, approved_amount = ?, canceled_amount = ?,
  method = ?, failure_code = ?, failure_message = ?, pg_data = ?, approved_at = ?, canceled_at = ?,
  updated_at = ?, version = ?
  WHERE id = ? AND version = ?`,
		nullString(p.PaymentKey), string(p.Status), a.approved, a.canceled,
		p.Method, p.FailureCode, p.FailureMessage, a.data, nullTime(p.ApprovedAt), nullTime(p.CanceledAt),
		now, expectedVersion+1, p.ID, expectedVersion)
	if err != nil {
		if IsUniqueViolation(err) {
			return fmt.Errorf("store: update payment %q: payment key %q: %w: %w", p.ID, p.PaymentKey, ErrDuplicate, err)
		}
		return fmt.Errorf("store: update payment %q: %w", p.ID, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("store: update payment %q: %w", p.ID, err)
	}
	if n == 0 {
		var current int64
		err := tx.QueryRowContext(ctx, `SELECT version FROM payments WHERE id = ?`, p.ID).Scan(&current)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			return fmt.Errorf("store: update payment %q: %w", p.ID, ErrNotFound)
		case err != nil:
			return fmt.Errorf("store: update payment %q: %w", p.ID, err)
		}
		return fmt.Errorf("store: update payment %q: version is %d, expected %d: %w", p.ID, current, expectedVersion, ErrConflict)
	}
	p.Version, p.UpdatedAt = expectedVersion+1, now
	return nil
}

// UpdatePaymentDeferred is UpdatePayment for a caller that reads nothing of
// the payment in tx after writing it. In a context whose writes are
// deferred (DB.WithDeferred) the compare-and-set joins the transaction's
// deferred payment updates: Flush writes them in one statement and fails
// with ErrConflict unless every one of them lands, and with ErrDuplicate
// on a taken (PG, PaymentKey). p.Version and p.UpdatedAt are set as they
// will be stored, and are only true if Flush succeeds; the transaction is
// rolled back otherwise. Elsewhere it is UpdatePayment.
func (db *DB) UpdatePaymentDeferred(ctx context.Context, tx *sql.Tx, p *Payment, expectedVersion int64) error {
	d := DeferredFrom(ctx)
	if d == nil {
		return db.UpdatePayment(ctx, tx, p, expectedVersion)
	}
	a, err := p.args()
	if err != nil {
		return fmt.Errorf("store: update payment %q: %w", p.ID, err)
	}
	now := db.clock()
	d.payments.add(p.ID, expectedVersion, []any{nullString(p.PaymentKey), string(p.Status), a.approved, a.canceled,
		p.Method, p.FailureCode, p.FailureMessage, a.data, nullTime(p.ApprovedAt), nullTime(p.CanceledAt), now})
	p.Version, p.UpdatedAt = expectedVersion+1, now
	return nil
}

// HoldPaymentDeferred is UpdatePaymentDeferred for a change that records
// events about the payment but changes none of its fields (SameStored):
// the compare-and-set on expectedVersion holds the payment's row lock to
// the end of tx, so the events stay ordered with the payment's writes, and
// writes nothing (its version and updated-at stay). Deferred, it joins the
// transaction's payment updates; elsewhere it runs at once, with
// UpdatePayment's errors (ErrConflict, ErrNotFound).
func (db *DB) HoldPaymentDeferred(ctx context.Context, tx *sql.Tx, id string, expectedVersion int64) error {
	if d := DeferredFrom(ctx); d != nil {
		d.payments.add(id, expectedVersion, nil)
		return nil
	}
	res, err := tx.ExecContext(ctx, `UPDATE payments SET version = version WHERE id = ? AND version = ?`, id, expectedVersion)
	if err != nil {
		return fmt.Errorf("store: hold payment %q: %w", id, err)
	}
	// Matched rows, not changed ones: clientFoundRows on MySQL, and
	// SQLite counts every row its WHERE matched.
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("store: hold payment %q: %w", id, err)
	} else if n == 1 {
		return nil
	}
	var current int64
	err = tx.QueryRowContext(ctx, `SELECT version FROM payments WHERE id = ?`, id).Scan(&current)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return fmt.Errorf("store: hold payment %q: %w", id, ErrNotFound)
	case err != nil:
		return fmt.Errorf("store: hold payment %q: %w", id, err)
	}
	return fmt.Errorf("store: hold payment %q: version is %d, expected %d: %w", id, current, expectedVersion, ErrConflict)
}

// SameStored reports whether p and q have the same value in every column
// UpdatePayment writes, updated-at aside.
func (p *Payment) SameStored(q *Payment) bool {
	return p.PaymentKey == q.PaymentKey && p.Status == q.Status &&
		p.ApprovedAmount.Equal(q.ApprovedAmount) && p.CanceledAmount.Equal(q.CanceledAmount) &&
		p.Method == q.Method && p.FailureCode == q.FailureCode && p.FailureMessage == q.FailureMessage &&
		bytes.Equal(p.PGData, q.PGData) && p.ApprovedAt.Equal(q.ApprovedAt) && p.CanceledAt.Equal(q.CanceledAt)
}

// paymentUpdateColumns are the columns UpdatePayment writes besides
// version, in the order of paymentUpdates' values.
var paymentUpdateColumns = []string{"payment_key", "status", "approved_amount", "canceled_amount",
	"method", "failure_code", "failure_message", "pg_data", "approved_at", "canceled_at", "updated_at"}

// paymentUpdates are the deferred compare-and-set updates of a transaction.
type paymentUpdates struct {
	ids      []string
	versions []int64
	values   [][]any // nil for a payment held (HoldPaymentDeferred)
	held     bool
	twice    bool // a payment updated twice: the first write's values would be lost
}

func (u *paymentUpdates) add(id string, version int64, values []any) {
	if slices.Contains(u.ids, id) {
		u.twice = true
	}
	u.ids, u.versions, u.values = append(u.ids, id), append(u.versions, version), append(u.values, values)
	u.held = u.held || values == nil
}

// statement is the updates as one statement: each column chosen by id,
// each row still a compare-and-set on its version, so that it changes as
// many rows as there are updates only if every one of them lands.
func (u *paymentUpdates) statement() deferredStmt {
	n := len(u.ids)
	var q strings.Builder
	args := make([]any, 0, n*(2*len(paymentUpdateColumns)+3)+1)
	q.WriteString("UPDATE payments SET ")
	for c, col := range paymentUpdateColumns {
		q.WriteString(col + " = CASE id")
		for i, id := range u.ids {
			if u.values[i] == nil {
				q.WriteString(" WHEN ? THEN " + col)
				args = append(args, id)
				continue
			}
			q.WriteString(" WHEN ? THEN ?")
			args = append(args, id, u.values[i][c])
		}
		q.WriteString(" END, ")
	}
	q.WriteString("version = version + 1")
	if u.held {
		q.WriteString(" - CASE id")
		for i, id := range u.ids {
			if u.values[i] == nil {
				q.WriteString(" WHEN ? THEN 1")
				args = append(args, id)
			}
		}
		q.WriteString(" ELSE 0 END")
	}
	q.WriteString(" WHERE id IN (" + values("?", n) + ") AND version = CASE id")
	for _, id := range u.ids {
		args = append(args, id)
	}
	for i, id := range u.ids {
		q.WriteString(" WHEN ? THEN ?")
		args = append(args, id, u.versions[i])
	}
	q.WriteString(" END")
	return deferredStmt{query: q.String(), args: args}
}

// PaymentByID reads a payment; ErrNotFound when there is none.
func (db *DB) PaymentByID(ctx context.Context, id string) (*Payment, error) {
	return db.paymentByID(ctx, db.sql, id)
}

// PaymentByIDTx is PaymentByID in tx: it sees what tx wrote.
func (db *DB) PaymentByIDTx(ctx context.Context, tx *sql.Tx, id string) (*Payment, error) {
	return db.paymentByID(ctx, tx, id)
}

func (db *DB) paymentByID(ctx context.Context, q Querier, id string) (*Payment, error) {
	p, err := scanPayment(q.QueryRowContext(ctx, `SELECT `+paymentColumns+` FROM payments WHERE id = ?`, id))
	if err != nil {
		return nil, fmt.Errorf("store: payment %q: %w", id, err)
	}
	return p, nil
}

// PaymentsByIDsTx reads the payments of ids in tx, in one statement, keyed
// by id; an id without a payment is absent from the map.
func (db *DB) PaymentsByIDsTx(ctx context.Context, tx *sql.Tx, ids []string) (map[string]*Payment, error) {
	out := make(map[string]*Payment, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	args := make([]any, len(ids))
	for i, id := range ids {
		args[i] = id
	}
	ps, err := queryPayments(ctx, tx, `SELECT `+paymentColumns+` FROM payments WHERE id IN (?`+strings.Repeat(", ?", len(ids)-1)+`)`, args...)
	if err != nil {
		return nil, fmt.Errorf("store: %d payments: %w", len(ids), err)
	}
	for _, p := range ps {
		out[p.ID] = p
	}
	return out, nil
}

// LockPayment reads a payment in tx and locks it until tx ends (SELECT … FOR
// UPDATE on MySQL; on SQLite the immediate transaction already excludes
// other writers). ErrNotFound when there is none.
func (db *DB) LockPayment(ctx context.Context, tx *sql.Tx, id string) (*Payment, error) {
	p, err := scanPayment(tx.QueryRowContext(ctx, `SELECT `+paymentColumns+` FROM payments WHERE id = ?`+db.forUpdate(), id))
	if err != nil {
		return nil, fmt.Errorf("store: lock payment %q: %w", id, err)
	}
	return p, nil
}

// PaymentByKey reads the payment a PG knows by paymentKey; ErrNotFound when
// there is none.
func (db *DB) PaymentByKey(ctx context.Context, pgName, paymentKey string) (*Payment, error) {
	return db.paymentByKey(ctx, db.sql, pgName, paymentKey)
}

// PaymentByKeyTx is PaymentByKey in tx: it sees what tx wrote.
func (db *DB) PaymentByKeyTx(ctx context.Context, tx *sql.Tx, pgName, paymentKey string) (*Payment, error) {
	return db.paymentByKey(ctx, tx, pgName, paymentKey)
}

func (db *DB) paymentByKey(ctx context.Context, q Querier, pgName, paymentKey string) (*Payment, error) {
	if paymentKey == "" {
		return nil, fmt.Errorf("store: payment by key: %w: empty payment key", ErrInvalid)
	}
	p, err := scanPayment(q.QueryRowContext(ctx, `SELECT `+paymentColumns+` FROM payments WHERE pg = ? AND payment_key = ?`, pgName, paymentKey))
	if err != nil {
		return nil, fmt.Errorf("store: payment %s key %q: %w", pgName, paymentKey, err)
	}
	return p, nil
}

// PaymentsByOrder lists every payment attempt for an order, oldest first;
// empty (not an error) when there is none.
func (db *DB) PaymentsByOrder(ctx context.Context, orderID string) ([]*Payment, error) {
	return db.paymentsByOrder(ctx, db.sql, orderID)
}

// PaymentsByOrderTx is PaymentsByOrder in tx: it sees what tx wrote.
func (db *DB) PaymentsByOrderTx(ctx context.Context, tx *sql.Tx, orderID string) ([]*Payment, error) {
	return db.paymentsByOrder(ctx, tx, orderID)
}

func (db *DB) paymentsByOrder(ctx context.Context, q Querier, orderID string) ([]*Payment, error) {
	ps, err := queryPayments(ctx, q, `SELECT `+paymentColumns+` FROM payments WHERE order_id = ? ORDER BY created_at, id`, orderID)
	if err != nil {
		return nil, fmt.Errorf("store: payments of order %q: %w", orderID, err)
	}
	return ps, nil
}

// PaymentsByStatus lists up to limit payments in status whose last write is
// older than olderThan, least recently updated first: the janitor's view of
// payments waiting to be resolved. It does not lock; see
// LockPaymentsByStatus to claim them.
func (db *DB) PaymentsByStatus(ctx context.Context, status pg.Status, olderThan time.Time, limit int) ([]*Payment, error) {
	return db.paymentsByStatus(ctx, db.sql, status, olderThan, limit)
}

// PaymentsByStatusTx is PaymentsByStatus in tx: it sees what tx wrote.
func (db *DB) PaymentsByStatusTx(ctx context.Context, tx *sql.Tx, status pg.Status, olderThan time.Time, limit int) ([]*Payment, error) {
	return db.paymentsByStatus(ctx, tx, status, olderThan, limit)
}

func (db *DB) paymentsByStatus(ctx context.Context, q Querier, status pg.Status, olderThan time.Time, limit int) ([]*Payment, error) {
	if limit <= 0 {
		return nil, fmt.Errorf("store: payments by status: %w: limit %d must be positive", ErrInvalid, limit)
	}
	ps, err := queryPayments(ctx, q, `SELECT `+paymentColumns+` FROM payments
  WHERE status = ? AND updated_at < ? ORDER BY updated_at, id LIMIT ?`, string(status), dbTime(olderThan), limit)
	if err != nil {
		return nil, fmt.Errorf("store: payments %s older than %s: %w", status, olderThan.UTC().Format(time.RFC3339), err)
	}
	return ps, nil
}

// PaymentsApproved lists pgName's payments approved at a time in [from, to),
// whatever their status since (a refunded payment was approved too), in
// order of approval time and id: up to limit of them after the payment
// (afterAt, afterID) of the previous page, from the first when afterID is
// empty. Reconciliation reads a PG's payments of a range of days with it,
// through the (pg, approved_at) index of migration 0480.
func (db *DB) PaymentsApproved(ctx context.Context, pgName string, from, to, afterAt time.Time, afterID string, limit int) ([]*Payment, error) {
	if limit <= 0 {
		return nil, fmt.Errorf("store: payments approved: %w: limit %d must be positive", ErrInvalid, limit)
	}
	q := `SELECT ` + paymentColumns + ` FROM payments WHERE pg = ? AND approved_at >= ? AND approved_at < ?`
	args := []any{pgName, dbTime(from), dbTime(to)}
	if afterID != "" {
		q += ` AND (approved_at > ? OR (approved_at = ? AND id > ?))`
		args = append(args, dbTime(afterAt), dbTime(afterAt), afterID)
	}
	q += ` ORDER BY approved_at, id LIMIT ?`
	args = append(args, limit)
	ps, err := queryPayments(ctx, db.sql, q, args...)
	if err != nil {
		return nil, fmt.Errorf("store: payments of %s approved from %s: %w", pgName, from.UTC().Format(time.RFC3339), err)
	}
	return ps, nil
}

// LockPaymentsByStatus is PaymentsByStatus that also claims the rows for tx:
// on MySQL with FOR UPDATE SKIP LOCKED, so several janitors share the work
// without waiting on or double-processing each other's rows; on SQLite the
// immediate transaction already makes it the only writer. Claim, then mark
// the rows (UpdatePayment) in the same transaction before calling out.
func (db *DB) LockPaymentsByStatus(ctx context.Context, tx *sql.Tx, status pg.Status, olderThan time.Time, limit int) ([]*Payment, error) {
	if limit <= 0 {
		return nil, fmt.Errorf("store: lock payments by status: %w: limit %d must be positive", ErrInvalid, limit)
	}
	ps, err := queryPayments(ctx, tx, `SELECT `+paymentColumns+` FROM payments
  WHERE status = ? AND updated_at < ? ORDER BY updated_at, id LIMIT ?`+db.skipLocked(), string(status), dbTime(olderThan), limit)
	if err != nil {
		return nil, fmt.Errorf("store: lock payments %s older than %s: %w", status, olderThan.UTC().Format(time.RFC3339), err)
	}
	return ps, nil
}

// forUpdate is the locking clause of a read that must lock its rows.
func (db *DB) forUpdate() string {
	if db.dialect == MySQL {
		return " FOR UPDATE"
	}
	return ""
}

// skipLocked is the locking clause of a claim that passes over rows other
// transactions hold.
func (db *DB) skipLocked() string {
	if db.dialect == MySQL {
		return " FOR UPDATE SKIP LOCKED"
	}
	return ""
}

type scanner interface{ Scan(dest ...any) error }

func scanPayment(row scanner) (*Payment, error) {
	var (
		p                          Payment
		key, data                  sql.NullString
		amount, approved, canceled int64
		cur, status                string
		approvedAt, canceledAt     sql.NullTime
		created, updated           time.Time
	)
	err := row.Scan(&p.ID, &p.PG, &key, &p.OrderID, &amount, &cur, &status, &approved, &canceled,
		&p.Method, &p.FailureCode, &p.FailureMessage, &data, &approvedAt, &canceledAt, &created, &updated, &p.Version)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	p.PaymentKey = key.String
	p.Status = pg.Status(status)
	if p.Amount, err = money(amount, cur); err != nil {
		return nil, err
	}
	if p.ApprovedAmount, err = money(approved, cur); err != nil {
		return nil, err
	}
	if p.CanceledAmount, err = money(canceled, cur); err != nil {
		return nil, err
	}
	p.PGData = rawJSON(data)
	p.ApprovedAt, p.CanceledAt = timeOf(approvedAt), timeOf(canceledAt)
	p.CreatedAt, p.UpdatedAt = created.UTC(), updated.UTC()
	return &p, nil
}

func queryPayments(ctx context.Context, q Querier, query string, args ...any) ([]*Payment, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var ps []*Payment
	for rows.Next() {
		p, err := scanPayment(rows)
		if err != nil {
			return nil, err
		}
		ps = append(ps, p)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	return ps, nil
}

// ClaimOrder makes paymentID the order's active payment, in tx, by inserting
// the order's row in payment_order_mapping: the unique order id lets exactly
// one of any number of concurrent claims win. If another payment holds the
// order, it returns ErrOrderClaimed (the message names the holder; read it
// with OrderPayment). Claiming again for the payment that already holds the
// order returns nil, so a retried transaction is harmless. In a context
// whose writes are deferred (DB.WithDeferred) the claim waits for Flush,
// where a claim held by anyone, even paymentID, is ErrDuplicate: defer it
// only where the order's claim was read under the checkout's lock.
func (db *DB) ClaimOrder(ctx context.Context, tx *sql.Tx, orderID, paymentID string) error {
	if err := checkFields(check{"order id", orderID, maxIDLen, true}, check{"payment id", paymentID, maxIDLen, true}); err != nil {
		return fmt.Errorf("store: claim order %q: %w", orderID, err)
	}
	deferred, err := ExecOrDefer(ctx, tx, `INSERT INTO payment_order_mapping (order_id, payment_id, created_at) VALUES (?, ?, ?)`,
		orderID, paymentID, db.clock())
	if err == nil || deferred {
		return err
	}
	if !IsUniqueViolation(err) {
		return fmt.Errorf("store: claim order %q: %w", orderID, err)
	}
	holder, rerr := db.OrderPaymentTx(ctx, tx, orderID)
	switch {
	case errors.Is(rerr, ErrNotFound):
		// InnoDB keeps a shared lock on the duplicate it met and SQLite
		// has one writer, so the holder cannot vanish here; say so
		// plainly if a database ever lets it.
		return fmt.Errorf("store: claim order %q: claim vanished after a duplicate insert: %w", orderID, ErrConflict)
	case rerr != nil:
		return fmt.Errorf("store: claim order %q: %w", orderID, rerr)
	case holder == paymentID:
		return nil
	}
	return fmt.Errorf("store: claim order %q for %s: held by %s: %w", orderID, paymentID, holder, ErrOrderClaimed)
}

// ReleaseOrder gives up paymentID's claim on the order in tx, so the buyer
// can pay the order again (after a decline). It deletes the claim only if
// paymentID holds it: a claim held by another payment is ErrConflict and is
// left alone. An order nobody holds returns nil, so a retried release is
// harmless.
func (db *DB) ReleaseOrder(ctx context.Context, tx *sql.Tx, orderID, paymentID string) error {
	res, err := tx.ExecContext(ctx, `DELETE FROM payment_order_mapping WHERE order_id = ? AND payment_id = ?`, orderID, paymentID)
	if err != nil {
		return fmt.Errorf("store: release order %q: %w", orderID, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("store: release order %q: %w", orderID, err)
	}
	if n == 1 {
		return nil
	}
	holder, err := db.OrderPaymentTx(ctx, tx, orderID)
	switch {
	case errors.Is(err, ErrNotFound):
		return nil
	case err != nil:
		return fmt.Errorf("store: release order %q: %w", orderID, err)
	}
	return fmt.Errorf("store: release order %q for %s: held by %s: %w", orderID, paymentID, holder, ErrConflict)
}

// LockCheckoutAttempts is LockCheckout and the order's attempts in one read:
// the order's checkout, locked until tx ends, the id of the payment holding
// the order's claim ("" when none does) and every payment attempt of the
// order, oldest first. The claim's row and the attempts, when there are
// any, are locked with the checkout (a locking read locks every row it
// returns); a first attempt has none. ErrNotFound when the order has no
// checkout.
func (db *DB) LockCheckoutAttempts(ctx context.Context, tx *sql.Tx, orderID string) (c *Checkout, holder string, ps []*Payment, err error) {
	got, err := db.LockCheckoutsAttempts(ctx, tx, []string{orderID})
	if err != nil {
		return nil, "", nil, err
	}
	o, ok := got[orderID]
	if !ok {
		return nil, "", nil, fmt.Errorf("store: checkout %q: %w", orderID, ErrNotFound)
	}
	return o.Checkout, o.Holder, o.Attempts, nil
}

// CheckoutAttempts is what LockCheckoutsAttempts reads of one order.
type CheckoutAttempts struct {
	Checkout *Checkout
	// Holder is the id of the payment holding the order's claim, "" when
	// none does.
	Holder string
	// Attempts are the order's payments, oldest first.
	Attempts []*Payment
}

// LockCheckoutsAttempts is LockCheckoutAttempts for several orders in one
// read, keyed by order id; an order without a checkout is absent. The rows
// are locked in the order of the checkouts' key, whatever the order of
// orderIDs, as every such read locks them.
func (db *DB) LockCheckoutsAttempts(ctx context.Context, tx *sql.Tx, orderIDs []string) (map[string]*CheckoutAttempts, error) {
	out := make(map[string]*CheckoutAttempts, len(orderIDs))
	if len(orderIDs) == 0 {
		return out, nil
	}
	what := fmt.Sprintf("%d orders", len(orderIDs))
	if len(orderIDs) == 1 {
		what = fmt.Sprintf("order %q", orderIDs[0])
	}
	label := what // for scanCheckout's errors
	if len(orderIDs) == 1 {
		label = orderIDs[0]
	}
	args := make([]any, len(orderIDs))
	for i, id := range orderIDs {
		args[i] = id
	}
	rows, err := tx.QueryContext(ctx, `SELECT c.order_id, c.pg, c.amount, c.currency, c.order_name, c.prepare_data, c.expires_at,
  c.created_at, c.updated_at, p.id, COALESCE(m.payment_id, ''), `+prefixedPaymentColumns+`
  FROM checkouts c LEFT JOIN payments p ON p.order_id = c.order_id
  LEFT JOIN payment_order_mapping m ON m.order_id = c.order_id
  WHERE c.order_id IN (?`+strings.Repeat(", ?", len(orderIDs)-1)+`)`+db.forUpdate(), args...)
	if err != nil {
		return nil, fmt.Errorf("store: checkout and attempts of %s: %w", what, err)
	}
	defer rows.Close()
	for rows.Next() {
		// The checkout's columns, then the attempt's id and the holder;
		// the attempt's own columns are scanned again below when there is
		// one (a checkout without attempts has them NULL).
		var pid sql.NullString
		var holder string
		read, err := scanCheckout(rowWithTail{rows, append([]any{&pid, &holder}, discard(len(paymentColumnList))...)}, label)
		if err != nil {
			return nil, err
		}
		o := out[read.OrderID]
		if o == nil {
			o = &CheckoutAttempts{Checkout: read, Holder: holder}
			out[read.OrderID] = o
		}
		if !pid.Valid {
			continue
		}
		p, err := scanPayment(rowWithHead{rows, checkoutColumns + 2})
		if err != nil {
			return nil, fmt.Errorf("store: checkout and attempts of %s: %w", what, err)
		}
		o.Attempts = append(o.Attempts, p)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: checkout and attempts of %s: %w", what, err)
	}
	// Sorted here: an ORDER BY over the join costs the server a temporary
	// table and a sort on every call, for the few rows an order has.
	for _, o := range out {
		slices.SortFunc(o.Attempts, func(a, b *Payment) int {
			if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
				return c
			}
			return strings.Compare(a.ID, b.ID)
		})
	}
	return out, nil
}

// paymentColumnList is paymentColumns, a name each.
var paymentColumnList = strings.Split(paymentColumns, ",")

// rowWithTail scans a row's leading columns with sc's Scan and the rest
// into tail.
type rowWithTail struct {
	sc   scanner
	tail []any
}

func (r rowWithTail) Scan(dest ...any) error { return r.sc.Scan(append(dest, r.tail...)...) }

// rowWithHead scans a row's columns after its first skip ones.
type rowWithHead struct {
	sc   scanner
	skip int
}

func (r rowWithHead) Scan(dest ...any) error { return r.sc.Scan(append(discard(r.skip), dest...)...) }

// discard is n scan destinations whose values nobody reads, all one
// variable. (Not sql.RawBytes: a row scanned into RawBytes cannot be
// scanned again.)
func discard(n int) []any {
	var sink any
	out := make([]any, n)
	for i := range out {
		out[i] = &sink
	}
	return out
}

// prefixedPaymentColumns is paymentColumns of the table aliased p.
var prefixedPaymentColumns = func() string {
	cols := slices.Clone(paymentColumnList)
	for i, c := range cols {
		cols[i] = "p." + strings.TrimSpace(c)
	}
	return strings.Join(cols, ", ")
}()

// OrderPayment returns the id of the payment holding the order's claim;
// ErrNotFound when no payment holds it.
func (db *DB) OrderPayment(ctx context.Context, orderID string) (string, error) {
	return db.orderPayment(ctx, db.sql, orderID)
}

// OrderPaymentTx is OrderPayment in tx: it sees what tx wrote.
func (db *DB) OrderPaymentTx(ctx context.Context, tx *sql.Tx, orderID string) (string, error) {
	return db.orderPayment(ctx, tx, orderID)
}

func (db *DB) orderPayment(ctx context.Context, q Querier, orderID string) (string, error) {
	var id string
	err := q.QueryRowContext(ctx, `SELECT payment_id FROM payment_order_mapping WHERE order_id = ?`, orderID).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return "", fmt.Errorf("store: order %q: no active payment: %w", orderID, ErrNotFound)
	}
	if err != nil {
		return "", fmt.Errorf("store: order %q: %w", orderID, err)
	}
	return id, nil
}

// UnknownOutcome counts the calls of one PG whose outcome is unknown.
type UnknownOutcome struct {
	PG string
	// Op is "approve" (payments UNKNOWN) or "cancel" (cancels UNKNOWN).
	Op    string
	Count int64
}

// UnknownOutcomes counts, per PG, the payments whose approval and the
// cancels whose outcome is UNKNOWN: what the janitor still has to resolve
// by lookup. Both queries range over a (status, updated_at) index, so they
// read only the unknown rows.
func (db *DB) UnknownOutcomes(ctx context.Context) ([]UnknownOutcome, error) {
	var out []UnknownOutcome
	for _, q := range []struct{ op, query string }{
		{"approve", `SELECT pg, COUNT(*) FROM payments WHERE status = ? GROUP BY pg ORDER BY pg`},
		{"cancel", `SELECT p.pg, COUNT(*) FROM payment_cancels c JOIN payments p ON p.id = c.payment_id
  WHERE c.status = ? GROUP BY p.pg ORDER BY p.pg`},
	} {
		status := string(pg.StatusUnknown)
		if q.op == "cancel" {
			status = string(CancelUnknown)
		}
		rows, err := db.sql.QueryContext(ctx, q.query, status)
		if err != nil {
			return nil, fmt.Errorf("store: unknown outcomes: %w", err)
		}
		for rows.Next() {
			u := UnknownOutcome{Op: q.op}
			if err := rows.Scan(&u.PG, &u.Count); err != nil {
				rows.Close()
				return nil, fmt.Errorf("store: unknown outcomes: %w", err)
			}
			out = append(out, u)
		}
		if err := rows.Close(); err != nil {
			return nil, fmt.Errorf("store: unknown outcomes: %w", err)
		}
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("store: unknown outcomes: %w", err)
		}
	}
	return out, nil
}
