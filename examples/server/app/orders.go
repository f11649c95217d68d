package app

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"time"

	"github.com/shopspring/decimal"

	"github.com/paygate/paygate"
	"github.com/paygate/paygate/pg"
	"github.com/paygate/paygate/store"
)

//go:embed migrations
var migrations embed.FS

// Migrations adds the example shop's own table (example_orders, version
// 0900) to what store.DB.Migrate applies; New migrates with it:
//
//	err := db.Migrate(ctx, app.Migrations())
func Migrations() store.MigrateOption {
	// "migrations" is a valid path, so Sub cannot fail; were it to return
	// nil, Migrate would refuse the missing files.
	sub, _ := fs.Sub(migrations, "migrations")
	return store.WithMigrations("example-shop", sub)
}

// Order statuses of the example shop.
const (
	OrderPendingPayment    = "PENDING_PAYMENT"
	OrderPaid              = "PAID"
	OrderPreparingShipment = "PREPARING_SHIPMENT"
	OrderCanceled          = "CANCELED"
)

// Failure modes a sandbox checkout can script for its order.
const (
	FailPermanent = "permanent"
	FailTransient = "transient"
)

// ErrOrderNotFound is returned for an unknown order id.
var ErrOrderNotFound = errors.New("order not found")

// Order is the example shop's order.
type Order struct {
	OrderID   string `json:"orderId"`
	Status    string `json:"status"`
	PaymentID string `json:"paymentId,omitempty"`
}

// Orders is the example shop's order service: it implements
// paygate.OrderService on its own table.
//
//	PENDING_PAYMENT → PAID → PREPARING_SHIPMENT
//	PENDING_PAYMENT → CANCELED   (the payment was refunded)
//
// A declined payment leaves the order PENDING_PAYMENT so the buyer can pay
// again with another attempt.
type Orders struct {
	db  *store.DB
	now func() time.Time
}

var _ paygate.OrderService = (*Orders)(nil)

// NewOrders returns the order service on db, migrated with Migrations.
func NewOrders(db *store.DB, now func() time.Time) *Orders {
	if now == nil {
		now = time.Now
	}
	return &Orders{db: db, now: now}
}

// Place records a new order waiting for payment. Placing the same order
// again with the same amount is a no-op; with another amount it fails.
// failMode/failTimes script the order service's failure for the sandbox.
func (o *Orders) Place(ctx context.Context, orderID string, amount pg.Money, failMode string, failTimes int) error {
	now := o.now().UTC()
	return o.db.InTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO example_orders
			(order_id, status, amount, currency, fail_mode, fail_times, attempts, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, 0, ?, ?)`,
			orderID, OrderPendingPayment, amount.Int64(), string(amount.Currency()), failMode, failTimes, now, now)
		if err == nil {
			return nil
		}
		if !store.IsUniqueViolation(err) {
			return fmt.Errorf("place order %q: %w", orderID, err)
		}
		var have int64
		var cur string
		if err := tx.QueryRowContext(ctx, `SELECT amount, currency FROM example_orders WHERE order_id = ?`, orderID).Scan(&have, &cur); err != nil {
			return fmt.Errorf("place order %q: %w", orderID, err)
		}
		if have != amount.Int64() || cur != string(amount.Currency()) {
			return fmt.Errorf("place order %q: %w", orderID, ErrOrderExists)
		}
		return nil
	})
}

// ErrOrderExists is returned when an order id is reused with another amount.
var ErrOrderExists = errors.New("order exists with another amount")

// Get returns an order.
func (o *Orders) Get(ctx context.Context, orderID string) (Order, error) {
	var ord Order
	var pay sql.NullString
	err := o.db.SQL().QueryRowContext(ctx, `SELECT order_id, status, payment_id FROM example_orders WHERE order_id = ?`, orderID).
		Scan(&ord.OrderID, &ord.Status, &pay)
	if errors.Is(err, sql.ErrNoRows) {
		return Order{}, ErrOrderNotFound
	}
	if err != nil {
		return Order{}, fmt.Errorf("get order %q: %w", orderID, err)
	}
	ord.PaymentID = pay.String
	return ord, nil
}

// CreateOrder implements paygate.OrderService: the order becomes PAID by the
// payment. It is idempotent: an order already paid by this payment succeeds
// again. Scripted failures count attempts in the same transaction as the
// answer, so a transient failure "N times" fails exactly N times however the
// calls are retried.
func (o *Orders) CreateOrder(ctx context.Context, req paygate.OrderRequest) error {
	now := o.now().UTC()
	var transient error
	err := o.db.InTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		transient = nil
		var status, failMode string
		var pay sql.NullString
		var failTimes, attempts int
		var amount int64
		err := tx.QueryRowContext(ctx, `SELECT status, payment_id, amount, fail_mode, fail_times, attempts
			FROM example_orders WHERE order_id = ?`+forUpdate(o.db), req.OrderID).
			Scan(&status, &pay, &amount, &failMode, &failTimes, &attempts)
		if errors.Is(err, sql.ErrNoRows) {
			return paygate.Permanent(fmt.Errorf("create order %q: %w", req.OrderID, ErrOrderNotFound))
		}
		if err != nil {
			return err
		}
		switch status {
		case OrderPaid, OrderPreparingShipment:
			if pay.String == req.PaymentID {
				return nil
			}
			return paygate.Permanent(fmt.Errorf("create order %q: already paid by %s", req.OrderID, pay.String))
		case OrderCanceled:
			return paygate.Permanent(fmt.Errorf("create order %q: order was canceled", req.OrderID))
		}
		if amount != req.Amount.Int64() {
			return paygate.Permanent(fmt.Errorf("create order %q: paid %s, order is %d", req.OrderID, req.Amount, amount))
		}
		switch {
		case failMode == FailPermanent:
			return paygate.Permanent(fmt.Errorf("create order %q: out of stock", req.OrderID))
		case failMode == FailTransient && attempts < failTimes:
			if _, err := tx.ExecContext(ctx, `UPDATE example_orders SET attempts = attempts + 1, updated_at = ? WHERE order_id = ?`, now, req.OrderID); err != nil {
				return err
			}
			transient = fmt.Errorf("create order %q: inventory service unavailable (attempt %d of %d failing)", req.OrderID, attempts+1, failTimes)
			return nil
		}
		_, err = tx.ExecContext(ctx, `UPDATE example_orders SET status = ?, payment_id = ?, updated_at = ? WHERE order_id = ?`,
			OrderPaid, req.PaymentID, now, req.OrderID)
		return err
	})
	if err != nil {
		return err
	}
	return transient
}

// RollbackOrder implements paygate.OrderService: the order is CANCELED
// unless another payment paid it.
func (o *Orders) RollbackOrder(ctx context.Context, req paygate.OrderRequest) error {
	now := o.now().UTC()
	_, err := o.db.SQL().ExecContext(ctx, `UPDATE example_orders SET status = ?, updated_at = ?
		WHERE order_id = ? AND status <> ? AND (payment_id IS NULL OR payment_id = ?)`,
		OrderCanceled, now, req.OrderID, OrderCanceled, req.PaymentID)
	if err != nil {
		return fmt.Errorf("roll back order %q: %w", req.OrderID, err)
	}
	return nil
}

// StartShipment moves a paid order to PREPARING_SHIPMENT once its settlement
// was recorded.
func (o *Orders) StartShipment(ctx context.Context, tx *sql.Tx, orderID, paymentID string) error {
	_, err := tx.ExecContext(ctx, `UPDATE example_orders SET status = ?, updated_at = ?
		WHERE order_id = ? AND status = ? AND payment_id = ?`,
		OrderPreparingShipment, o.now().UTC(), orderID, OrderPaid, paymentID)
	if err != nil {
		return fmt.Errorf("start shipment of %q: %w", orderID, err)
	}
	return nil
}

func forUpdate(db *store.DB) string {
	if db.Dialect() == store.MySQL {
		return " FOR UPDATE"
	}
	return ""
}

// Amount returns the order's amount.
func (o *Orders) Amount(ctx context.Context, orderID string) (pg.Money, error) {
	var amount int64
	var cur string
	err := o.db.SQL().QueryRowContext(ctx, `SELECT amount, currency FROM example_orders WHERE order_id = ?`, orderID).Scan(&amount, &cur)
	if errors.Is(err, sql.ErrNoRows) {
		return pg.Money{}, ErrOrderNotFound
	}
	if err != nil {
		return pg.Money{}, fmt.Errorf("order %q amount: %w", orderID, err)
	}
	units, _ := pg.Currency(cur).MinorUnits()
	return pg.NewMoney(decimal.New(amount, -units), pg.Currency(cur))
}
