package store_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/paygate/paygate/pg"
	"github.com/paygate/paygate/store"
)

func Example() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "paygate-example")
	defer os.RemoveAll(dir)

	db, err := store.Open(ctx, "sqlite:"+filepath.Join(dir, "paygate.db"))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer db.Close()
	if err := db.Migrate(ctx); err != nil {
		fmt.Println(err)
		return
	}

	// Record a payment and claim its order in one transaction: either
	// both commit or neither does.
	p := &store.Payment{
		ID: store.NewPaymentID(), PG: "tosspay", OrderID: "order-1",
		Amount: pg.Won(15000), Status: pg.StatusApproving,
	}
	err = db.InTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		if err := db.InsertPayment(ctx, tx, p); err != nil {
			return err
		}
		return db.ClaimOrder(ctx, tx, p.OrderID, p.ID)
	})
	fmt.Println("first attempt:", err)

	// A second payment for the same order while the first holds it.
	again := &store.Payment{
		ID: store.NewPaymentID(), PG: "tosspay", OrderID: "order-1",
		Amount: pg.Won(15000), Status: pg.StatusApproving,
	}
	err = db.InTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		if err := db.InsertPayment(ctx, tx, again); err != nil {
			return err
		}
		return db.ClaimOrder(ctx, tx, again.OrderID, again.ID)
	})
	fmt.Println("second attempt claimed:", errors.Is(err, store.ErrOrderClaimed))

	got, _ := db.PaymentsByOrder(ctx, "order-1")
	fmt.Println("payments stored:", len(got), got[0].Amount)
	// Output:
	// first attempt: <nil>
	// second attempt claimed: true
	// payments stored: 1 15000 KRW
}

func ExampleDB_UpdatePayment() {
	ctx := context.Background()
	db, err := store.Open(ctx, "sqlite::memory:")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer db.Close()
	if err := db.Migrate(ctx); err != nil {
		fmt.Println(err)
		return
	}
	p := &store.Payment{
		ID: store.NewPaymentID(), PG: "kakaopay", OrderID: "order-2",
		Amount: pg.Won(9900), Status: pg.StatusApproving,
	}
	_ = db.InTx(ctx, func(ctx context.Context, tx *sql.Tx) error { return db.InsertPayment(ctx, tx, p) })

	// Two writers read version 1; only the first to write wins.
	late := *p
	p.Status, p.ApprovedAmount = pg.StatusApproved, p.Amount
	err = db.InTx(ctx, func(ctx context.Context, tx *sql.Tx) error { return db.UpdatePayment(ctx, tx, p, 1) })
	fmt.Println("approve:", err, "version", p.Version)
	late.Status = pg.StatusFailed
	err = db.InTx(ctx, func(ctx context.Context, tx *sql.Tx) error { return db.UpdatePayment(ctx, tx, &late, 1) })
	fmt.Println("late fail refused:", errors.Is(err, store.ErrConflict))
	// Output:
	// approve: <nil> version 2
	// late fail refused: true
}

// A read has two forms: the plain one reads the pool, the Tx form reads in
// a transaction and sees what it wrote before the commit.
func ExampleDB_PaymentByIDTx() {
	ctx := context.Background()
	db, err := store.Open(ctx, "sqlite::memory:")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer db.Close()
	if err := db.Migrate(ctx); err != nil {
		fmt.Println(err)
		return
	}
	p := &store.Payment{
		ID: store.NewPaymentID(), PG: "inicis", OrderID: "order-3",
		Amount: pg.Won(27000), Status: pg.StatusApproving,
	}
	err = db.InTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		if err := db.InsertPayment(ctx, tx, p); err != nil {
			return err
		}
		got, err := db.PaymentByIDTx(ctx, tx, p.ID) // in tx: sees the insert
		if err != nil {
			return err
		}
		fmt.Println("in the transaction:", got.Status)
		return nil
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	got, err := db.PaymentByID(ctx, p.ID) // the pool: committed rows
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("after the commit:", got.Status, got.Amount)
	// Output:
	// in the transaction: APPROVING
	// after the commit: APPROVING 27000 KRW
}
