package outbox_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/paygate/paygate/outbox"
	"github.com/paygate/paygate/store"
	"github.com/paygate/paygate/store/storetest"
)

// Deadlocks after a delivery's handler ran, and commits reported as failed
// though they landed, leave every event handled exactly once.
func TestFaults_DeadlocksAndLostCommits_EveryDeliveryOnce(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		t.Parallel()
		fs := &faultyStore{Store: newStore(db), every: 3}
		cfg := outboxConfig()
		// A claim whose commit is lost leaves its rows leased until the
		// lease expires: keep the lease short so the test is quick.
		cfg.Lease = 2 * time.Second
		o := outbox.New(fs, cfg)
		_, err := db.SQL().ExecContext(context.Background(), `CREATE TABLE test_ledger (event_id VARCHAR(64) NOT NULL PRIMARY KEY)`)
		require.NoError(t, err)
		var handlerDups atomic.Int64
		require.NoError(t, o.Subscribe(outbox.Subscriber{Name: "ledger", Handle: func(ctx context.Context, tx *sql.Tx, d outbox.Delivery) error {
			_, err := tx.ExecContext(ctx, `INSERT INTO test_ledger (event_id) VALUES (?)`, d.ID)
			if store.IsUniqueViolation(err) {
				handlerDups.Add(1)
				return nil
			}
			return err
		}}))

		const n = 40
		for i := range n {
			require.NoError(t, fs.InTx(context.Background(), func(ctx context.Context, tx *sql.Tx) error {
				_, err := o.Emit(ctx, tx, outbox.Event{ID: fmt.Sprintf("ev-%02d", i), Type: "SAGA_STARTED", Key: fmt.Sprintf("order-%02d", i)})
				if errors.Is(err, outbox.ErrDuplicate) {
					return nil // a lost commit: the first run of this transaction landed
				}
				return err
			}))
		}
		runFor(t, o)
		waitCount(t, "ledger rows", n, func() int { return rowCount(t, db, "test_ledger") })
		waitCount(t, "pending deliveries", 0, func() int {
			pending, err := o.Deliveries(context.Background(), outbox.DeliveryFilter{Status: outbox.DeliveryPending})
			require.NoError(t, err)
			return len(pending)
		})
		assert.Positive(t, fs.deadlocks.Load())
		assert.Positive(t, fs.lostCommit.Load())
		assert.Zero(t, handlerDups.Load(), "no delivery handled twice")
		t.Logf("%s: %d injected deadlocks, %d lost commits", db.Dialect(), fs.deadlocks.Load(), fs.lostCommit.Load())
	})
}
