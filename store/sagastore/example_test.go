package sagastore_test

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/paygate/paygate/outbox"
	"github.com/paygate/paygate/saga"
	"github.com/paygate/paygate/store"
	"github.com/paygate/paygate/store/sagastore"
)

// One Store serves a saga runner and an outbox on one migrated database: a
// step emits its event in the transaction that records the step as done,
// and a subscriber receives it.
func ExampleNew() {
	dir, err := os.MkdirTemp("", "sagastore-example")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	ctx := context.Background()
	db, err := store.Open(ctx, "sqlite:"+filepath.Join(dir, "paygate.db"))
	if err != nil {
		panic(err)
	}
	defer db.Close()
	if err := db.Migrate(ctx); err != nil {
		panic(err)
	}

	s := sagastore.New(db)
	loop := saga.Loop{PollInterval: 10 * time.Millisecond}
	runner := saga.NewRunner(s, saga.RunnerConfig{Loop: loop})
	ob := outbox.New(s, outbox.Config{Loop: loop})

	received := make(chan string, 1)
	err = ob.Subscribe(outbox.Subscriber{Name: "mailer", Handle: func(ctx context.Context, tx *sql.Tx, d outbox.Delivery) error {
		received <- d.Type + " " + d.Key
		return nil
	}})
	if err != nil {
		panic(err)
	}
	order := &saga.Definition{Name: "order", Steps: []saga.Step{{
		Name: "create",
		Action: func(ctx context.Context, a saga.Attempt) (saga.Result, error) {
			return saga.Result{Commit: func(ctx context.Context, tx *sql.Tx) error {
				_, err := ob.Emit(ctx, tx, outbox.Event{Type: "ORDER_CREATED", Key: a.BusinessKey})
				return err
			}}, nil
		},
	}}}
	if err := runner.Register(order); err != nil {
		panic(err)
	}

	runCtx, stop := context.WithCancel(ctx)
	stopped := make(chan error, 2)
	go func() { stopped <- runner.Run(runCtx) }()
	go func() { stopped <- ob.Run(runCtx) }()
	defer func() { stop(); <-stopped; <-stopped }()

	err = db.InTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		_, err := runner.Start(ctx, tx, order, "order-1", nil)
		return err
	})
	if err != nil {
		panic(err)
	}
	fmt.Println(<-received)
	// Output: ORDER_CREATED order-1
}
