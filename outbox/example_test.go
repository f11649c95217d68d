package outbox_test

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"

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
