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
// zero) and UpdatedAt. A checkout for the same order id is ErrDuplicate.
func (db *DB) InsertCheckout(ctx context.Context, tx *sql.Tx, c *Checkout) error {
	if err := c.validate(); err != nil {
		return fmt.Errorf("store: insert checkout %q: %w", c.OrderID, err)
	}
	amount, err := minorUnits(c.Amount)
	if err != nil {
		return fmt.Errorf("store: insert checkout %q: amount: %w", c.OrderID, err)
	}
	data, err := jsonArg("prepare data", c.PrepareData)
	if err != nil {
		return fmt.Errorf("store: insert checkout %q: %w", c.OrderID, err)
	}
	now := db.clock()
	created := orNow(c.CreatedAt, now)
	// Deferred (a group of Prepare calls), an order prepared meanwhile
	// fails the flush, and the group's owner runs this again alone.
	err = InsertRows(ctx, tx, `INSERT INTO checkouts
  (order_id, pg, amount, currency, order_name, prepare_data, expires_at, created_at, updated_at)
  VALUES `, "(?, ?, ?, ?, ?, ?, ?, ?, ?)", 1,
		c.OrderID, c.PG, amount, string(c.Amount.Currency()), c.OrderName, data, nullTime(c.ExpiresAt), created, now)
	if err != nil {
		if IsUniqueViolation(err) {
			return fmt.Errorf("store: insert checkout %q: %w: %w", c.OrderID, ErrDuplicate, err)
		}
		return fmt.Errorf("store: insert checkout %q: %w", c.OrderID, err)
	}
	c.CreatedAt, c.UpdatedAt = created, now
	return nil
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
