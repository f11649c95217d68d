package saga_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/paygate/paygate/saga"
	"github.com/paygate/paygate/store"
	"github.com/paygate/paygate/store/sagastore"
)

// exampleDB opens a fresh SQLite database for an example.
func exampleDB() (*store.DB, func()) {
	dir, err := os.MkdirTemp("", "saga-example")
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

// A saga definition: approve at the PG (with a lookup for unknown outcomes
// and a refund as compensation), then create the order, which the host may
// refuse for good.
func Example_definition() {
	payment := &saga.Definition{
		Name: "payment",
		Steps: []saga.Step{
			{
				Name: "approve",
				Action: func(ctx context.Context, a saga.Attempt) (saga.Result, error) {
					// Call the PG with a.IdempotencyKey; record the result in
					// the same transaction as the step's completion.
					return saga.Result{
						Output: []byte(`{"paymentKey":"pk_1"}`),
						Commit: func(ctx context.Context, tx *sql.Tx) error { return nil },
					}, nil
				},
				Resolve: func(ctx context.Context, a saga.Attempt) (saga.Result, error) {
					// Look the payment up by order id; nothing found:
					return saga.Result{}, saga.ErrNotDone
				},
				Compensate: func(ctx context.Context, a saga.Attempt) (saga.Result, error) {
					fmt.Printf("refund %s\n", a.Output)
					return saga.Result{}, nil
				},
			},
			{
				Name: "create_order",
				Action: func(ctx context.Context, a saga.Attempt) (saga.Result, error) {
					return saga.Result{}, saga.Permanent(errors.New("out of stock"))
				},
				Retry: saga.Policy{MaxAttempts: 5, InitialBackoff: time.Second},
			},
		},
	}
	db, done := exampleDB()
	defer done()
	runner := saga.NewRunner(sagastore.New(db), saga.RunnerConfig{Loop: saga.Loop{PollInterval: 10 * time.Millisecond}})
	if err := runner.Register(payment); err != nil {
		panic(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	stopped := make(chan error)
	go func() { stopped <- runner.Run(ctx) }()
	defer func() { stop(); <-stopped }()

	var in *saga.Instance
	_ = db.InTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		var err error
		in, err = runner.Start(ctx, tx, payment, "order-1", nil)
		return err
	})
	for in.State != saga.Compensated {
		time.Sleep(10 * time.Millisecond)
		in, _ = runner.Get(ctx, in.ID)
	}
	fmt.Println(in.State, "-", in.Reason)
	// Output:
	// refund {"paymentKey":"pk_1"}
	// COMPENSATED - step "create_order" failed: permanent: out of stock
}

// Start in the caller's transaction, run the first step inline while
// holding the lease, and leave the rest to the runners.
func ExampleRunner_RunInline() {
	db, done := exampleDB()
	defer done()
	step := func(name string) saga.Step {
		return saga.Step{Name: name, Action: func(ctx context.Context, a saga.Attempt) (saga.Result, error) {
			return saga.Result{Output: []byte(name + " ok")}, nil
		}}
	}
	payment := &saga.Definition{Name: "payment", Steps: []saga.Step{step("approve"), step("create_order")}}
	runner := saga.NewRunner(sagastore.New(db), saga.RunnerConfig{Loop: saga.Loop{PollInterval: 10 * time.Millisecond}})
	if err := runner.Register(payment); err != nil {
		panic(err)
	}
	ctx := context.Background()

	var in *saga.Instance
	err := db.InTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		// ... insert the payment as APPROVING, in tx ...
		var err error
		in, err = runner.Start(ctx, tx, payment, "order-1", []byte(`{"amount":15000}`), saga.Inline())
		return err
	})
	if err != nil {
		panic(err)
	}
	in, err = runner.RunInline(ctx, in, 1)
	if err != nil {
		panic(err)
	}
	approve, _ := in.Step("approve", saga.OpAction)
	fmt.Println(in.State, approve.Status, string(approve.Output))

	runCtx, stop := context.WithCancel(ctx)
	stopped := make(chan error)
	go func() { stopped <- runner.Run(runCtx) }()
	defer func() { stop(); <-stopped }()
	for in.State != saga.Completed {
		time.Sleep(10 * time.Millisecond)
		in, _ = runner.Get(ctx, in.ID)
	}
	fmt.Println(in.State)
	// Output:
	// RUNNING DONE approve ok
	// COMPLETED
}
