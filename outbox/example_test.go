package outbox_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/paygate/paygate/outbox"
	"github.com/paygate/paygate/store"
	"github.com/paygate/paygate/store/sagastore"
)

// exampleDB opens a fresh SQLite database for an example.
func exampleDB() (*store.DB, func()) {
	dir, err := os.MkdirTemp("", "outbox-example")
	if err != nil {
		panic(err)
	}
	ctx := context.Background()
	db, err := store.Open(ctx, "sqlite:"+filepath.Join(dir, "paygate.db"))
	if err != nil {
		panic(err)
	}
	if err := db.Migrate(ctx); err != nil {
		panic(err)
	}
	return db, func() { db.Close(); os.RemoveAll(dir) }
}

// Emit an event in the business transaction; a subscriber writes its
// effect in the transaction that marks the delivery done.
func ExampleOutbox_Emit() {
	db, done := exampleDB()
	defer done()
	ctx := context.Background()
	if _, err := db.SQL().ExecContext(ctx, `CREATE TABLE ledger (event_id TEXT PRIMARY KEY, payload TEXT)`); err != nil {
		panic(err)
	}
	ob := outbox.New(sagastore.New(db), outbox.Config{})
	delivered := make(chan string, 1)
	err := ob.Subscribe(outbox.Subscriber{
		Name:    "settlement",
		Types:   []string{"ORDER_CREATED"},
		Ordered: true,
		Handle: func(ctx context.Context, tx *sql.Tx, d outbox.Delivery) error {
			_, err := tx.ExecContext(ctx, `INSERT INTO ledger (event_id, payload) VALUES (?, ?)`, d.ID, string(d.Payload))
			delivered <- d.Type + " " + string(d.Payload)
			return err
		},
	})
	if err != nil {
		panic(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	stopped := make(chan error)
	go func() { stopped <- ob.Run(runCtx) }()
	defer func() { stop(); <-stopped }()

	err = db.InTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		// ... the state change the event reports, in tx ...
		_, err := ob.Emit(ctx, tx, outbox.Event{
			ID: "evt_order-1_ORDER_CREATED", Type: "ORDER_CREATED", Key: "pay_1", Payload: []byte(`{"amount":15000}`),
		})
		return err
	})
	if err != nil {
		panic(err)
	}
	fmt.Println(<-delivered)
	// Output: ORDER_CREATED {"amount":15000}
}

// A subscriber that refuses an event for good has its delivery parked as
// dead; an operator lists the dead deliveries and, once the cause is fixed,
// redelivers them.
func ExampleOutbox_Redeliver() {
	db, done := exampleDB()
	defer done()
	ctx := context.Background()
	var fixed atomic.Bool
	handled := make(chan string, 1)
	ob := outbox.New(sagastore.New(db), outbox.Config{Loop: outbox.Loop{PollInterval: 10 * time.Millisecond}})
	err := ob.Subscribe(outbox.Subscriber{
		Name: "shipping",
		Handle: func(ctx context.Context, tx *sql.Tx, d outbox.Delivery) error {
			if !fixed.Load() {
				return outbox.Permanent(errors.New("unknown warehouse"))
			}
			handled <- d.ID
			return nil
		},
	})
	if err != nil {
		panic(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	stopped := make(chan error)
	go func() { stopped <- ob.Run(runCtx) }()
	defer func() { stop(); <-stopped }()

	err = db.InTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		_, err := ob.Emit(ctx, tx, outbox.Event{ID: "evt_1", Type: "ORDER_CREATED", Key: "pay_1"})
		return err
	})
	if err != nil {
		panic(err)
	}
	var dead []outbox.DeliveryRecord
	for len(dead) == 0 {
		time.Sleep(10 * time.Millisecond)
		if dead, err = ob.Deliveries(ctx, outbox.DeliveryFilter{Status: outbox.DeliveryDead}); err != nil {
			panic(err)
		}
	}
	fmt.Println(dead[0].EventID, dead[0].Status, dead[0].LastError)

	fixed.Store(true)
	if err := ob.Redeliver(ctx, dead[0].ID); err != nil {
		panic(err)
	}
	fmt.Println("handled", <-handled)
	// Output:
	// evt_1 DEAD delivery 1: permanent: unknown warehouse
	// handled evt_1
}

// printer is a Relay that prints what it forwards; a real one publishes to
// a broker (outbox/natsrelay) and returns nil only once the broker has
// every event.
type printer struct{ printed chan<- string }

func (p printer) Publish(ctx context.Context, events []outbox.Delivery) error {
	for _, d := range events {
		p.printed <- d.Key + " " + d.Type
	}
	return nil
}

// A Relay subscriber forwards events outside the database, at least once;
// Ordered keeps each key's events in the order they were emitted.
func ExampleRelay() {
	db, done := exampleDB()
	defer done()
	ctx := context.Background()
	printed := make(chan string, 3)
	ob := outbox.New(sagastore.New(db), outbox.Config{})
	if err := ob.Subscribe(outbox.Subscriber{Name: "broker", Relay: printer{printed}, Ordered: true}); err != nil {
		panic(err)
	}
	err := db.InTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		for _, typ := range []string{"PAYMENT_APPROVED", "ORDER_CREATED", "PAYMENT_REFUNDED"} {
			if _, err := ob.Emit(ctx, tx, outbox.Event{Type: typ, Key: "pay_1"}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		panic(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	stopped := make(chan error)
	go func() { stopped <- ob.Run(runCtx) }()
	defer func() { stop(); <-stopped }()
	for range 3 {
		fmt.Println(<-printed)
	}
	// Output:
	// pay_1 PAYMENT_APPROVED
	// pay_1 ORDER_CREATED
	// pay_1 PAYMENT_REFUNDED
}
