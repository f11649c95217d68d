package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

func (c *Checkout) validate() error {
	if err := checkFields(
		check{"order id", c.OrderID, maxIDLen, true},
		check{"pg", c.PG, maxPGLen, true},
		check{"order name", c.OrderName, maxNameLen, false},
	); err != nil {
		return err
	}
	return nil
}

// InsertCheckout records a prepared checkout in tx. It sets CreatedAt (when
// zero) and UpdatedAt. A checkout for the same order id is ErrDuplicate, at
// once even where writes are deferred: Prepare reads the order's checkout
// after a duplicate. Several new checkouts at once are InsertCheckouts'.
func (db *DB) InsertCheckout(ctx context.Context, tx *sql.Tx, c *Checkout) error {
	now := db.clock()
	args, err := checkoutRow(c, now)
	if err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, insertCheckoutsHead+checkoutRowMarks, args...); err != nil {
		return checkoutInsertError(c.OrderID, 1, err)
	}
	c.CreatedAt, c.UpdatedAt = orNow(c.CreatedAt, now), now
	return nil
}

// InsertCheckouts records new checkouts in one statement committed on its
// own (Autocommit): all of them or, when any order has a checkout already
// (ErrDuplicate) or the statement fails, none. It sets their CreatedAt
// (when zero) and UpdatedAt.
func (db *DB) InsertCheckouts(ctx context.Context, cs ...*Checkout) error {
	if len(cs) == 0 {
		return nil
	}
	now := db.clock()
	args := make([]any, 0, len(cs)*9)
	for _, c := range cs {
		row, err := checkoutRow(c, now)
		if err != nil {
			return err
		}
		args = append(args, row...)
	}
	if _, err := db.Autocommit(ctx, insertCheckoutsHead+values(checkoutRowMarks, len(cs)), args...); err != nil {
		return checkoutInsertError(cs[0].OrderID, len(cs), err)
	}
	for _, c := range cs {
		c.CreatedAt, c.UpdatedAt = orNow(c.CreatedAt, now), now
	}
	return nil
}

const (
	insertCheckoutsHead = `INSERT INTO checkouts
  (order_id, pg, amount, currency, order_name, prepare_data, expires_at, created_at, updated_at)
  VALUES `
	checkoutRowMarks = "(?, ?, ?, ?, ?, ?, ?, ?, ?)"
)

// checkoutRow is the arguments of c's row in an insert made at now, or why
// c cannot be stored.
func checkoutRow(c *Checkout, now time.Time) ([]any, error) {
	if err := c.validate(); err != nil {
		return nil, fmt.Errorf("store: insert checkout %q: %w", c.OrderID, err)
	}
	amount, err := minorUnits(c.Amount)
	if err != nil {
		return nil, fmt.Errorf("store: insert checkout %q: amount: %w", c.OrderID, err)
	}
	data, err := jsonArg("prepare data", c.PrepareData)
	if err != nil {
		return nil, fmt.Errorf("store: insert checkout %q: %w", c.OrderID, err)
	}
	return []any{c.OrderID, c.PG, amount, string(c.Amount.Currency()), c.OrderName, data, nullTime(c.ExpiresAt),
		orNow(c.CreatedAt, now), now}, nil
}

// checkoutInsertError is the error of an insert of n checkouts, the first
// for order.
func checkoutInsertError(order string, n int, err error) error {
	what := fmt.Sprintf("%q", order)
	if n > 1 {
		what = fmt.Sprintf("of %d orders", n)
	}
	if IsUniqueViolation(err) {
		return fmt.Errorf("store: insert checkout %s: %w: %w", what, ErrDuplicate, err)
	}
	return fmt.Errorf("store: insert checkout %s: %w", what, err)
}

// UpdateCheckout replaces the mutable fields of the order's checkout (PG,
// amount, order name, prepare data, expiry) in tx, for a buyer who prepares
// again after a failed attempt. Whether the amount may change is the flow's
// decision. It sets UpdatedAt; a missing checkout is ErrNotFound.
func (db *DB) UpdateCheckout(ctx context.Context, tx *sql.Tx, c *Checkout) error {
	if err := c.validate(); err != nil {
		return fmt.Errorf("store: update checkout %q: %w", c.OrderID, err)
	}
	amount, err := minorUnits(c.Amount)
	if err != nil {
		return fmt.Errorf("store: update checkout %q: amount: %w", c.OrderID, err)
	}
	data, err := jsonArg("prepare data", c.PrepareData)
	if err != nil {
		return fmt.Errorf("store: update checkout %q: %w", c.OrderID, err)
	}
	now := db.clock()
	res, err := tx.ExecContext(ctx, `UPDATE checkouts
  SET pg = ?, amount = ?, currency = ?, order_name = ?, prepare_data = ?, expires_at = ?, updated_at = ?
  WHERE order_id = ?`,
		c.PG, amount, string(c.Amount.Currency()), c.OrderName, data, nullTime(c.ExpiresAt), now, c.OrderID)
	if err != nil {
		return fmt.Errorf("store: update checkout %q: %w", c.OrderID, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("store: update checkout %q: %w", c.OrderID, err)
	} else if n == 0 {
		return fmt.Errorf("store: update checkout %q: %w", c.OrderID, ErrNotFound)
	}
	c.UpdatedAt = now
	return nil
}

// CheckoutByOrder reads the order's checkout; ErrNotFound when there is none.
func (db *DB) CheckoutByOrder(ctx context.Context, orderID string) (*Checkout, error) {
	return db.checkoutByOrder(ctx, db.sql, orderID)
}

// CheckoutByOrderTx is CheckoutByOrder in tx: it sees what tx wrote.
func (db *DB) CheckoutByOrderTx(ctx context.Context, tx *sql.Tx, orderID string) (*Checkout, error) {
	return db.checkoutByOrder(ctx, tx, orderID)
}

func (db *DB) checkoutByOrder(ctx context.Context, q Querier, orderID string) (*Checkout, error) {
	return scanCheckout(q.QueryRowContext(ctx, checkoutSelect, orderID), orderID)
}

// LockCheckout reads the order's checkout in tx and locks it until tx ends,
// so a checkout renewed and an approval claiming the order serialize on
// it; ErrNotFound when there is none.
func (db *DB) LockCheckout(ctx context.Context, tx *sql.Tx, orderID string) (*Checkout, error) {
	return scanCheckout(tx.QueryRowContext(ctx, checkoutSelect+db.forUpdate(), orderID), orderID)
}

// checkoutColumns is how many columns checkoutSelect reads.
const checkoutColumns = 9

const checkoutSelect = `SELECT order_id, pg, amount, currency, order_name, prepare_data, expires_at, created_at, updated_at
  FROM checkouts WHERE order_id = ?`

func scanCheckout(row scanner, orderID string) (*Checkout, error) {
	var (
		c       Checkout
		amount  int64
		cur     string
		data    sql.NullString
		expires sql.NullTime
		created time.Time
		updated time.Time
	)
	err := row.Scan(&c.OrderID, &c.PG, &amount, &cur, &c.OrderName, &data, &expires, &created, &updated)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("store: checkout %q: %w", orderID, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("store: checkout %q: %w", orderID, err)
	}
	if c.Amount, err = money(amount, cur); err != nil {
		return nil, fmt.Errorf("store: checkout %q: %w", orderID, err)
	}
	c.PrepareData = rawJSON(data)
	c.ExpiresAt = timeOf(expires)
	c.CreatedAt, c.UpdatedAt = created.UTC(), updated.UTC()
	return &c, nil
}
