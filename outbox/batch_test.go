package outbox_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/paygate/paygate/outbox"
	"github.com/paygate/paygate/store"
	"github.com/paygate/paygate/store/storetest"
)

// A batch handler gets the deliveries claimed together in one call, in the
// transaction that marks them all done; when it fails, nothing of the batch
// is kept and each delivery goes to Handle on its own, once.
func TestOutbox_HandleBatch_WholeBatchOrEachAlone(t *testing.T) {
	for _, poison := range []bool{false, true} {
		t.Run(fmt.Sprintf("batch fails %v", poison), func(t *testing.T) {
			storetest.Each(t, func(t *testing.T, db *store.DB) {
				t.Parallel()
				table := "t_batch"
				handle := ledger(t, db, table)
				var batches, batched, single atomic.Int64
				o := outbox.New(newStore(db), outboxConfig())
				require.NoError(t, o.Subscribe(outbox.Subscriber{
					Name: "ledger",
					Handle: func(ctx context.Context, tx *sql.Tx, d outbox.Delivery) error {
						single.Add(1)
						return handle(ctx, tx, d)
					},
					HandleBatch: func(ctx context.Context, tx *sql.Tx, ds []outbox.Delivery) error {
						batches.Add(1)
						for _, d := range ds {
							if err := handle(ctx, tx, d); err != nil {
								return err
							}
						}
						if poison {
							// After writing every row: the rollback must
							// take them all back.
							return errors.New("batch refused")
						}
						batched.Add(int64(len(ds)))
						return nil
					},
				}))
				var evs []outbox.Event
				for i := range 20 {
					evs = append(evs, outbox.Event{Type: "PAYMENT_APPROVED", Key: fmt.Sprintf("pay_%d", i), Payload: []byte(`{}`)})
				}
				emit(t, db, o, evs...) // before Run: claimed together
				runFor(t, o)
				waitCount(t, "pending deliveries", 0, func() int {
					pending, err := o.Deliveries(context.Background(), outbox.DeliveryFilter{Status: outbox.DeliveryPending})
					require.NoError(t, err)
					return len(pending)
				})
				assert.Equal(t, 20, rowCount(t, db, table), "one row per event")
				assert.GreaterOrEqual(t, batches.Load(), int64(1), "the batch handler was called")
				if poison {
					assert.Equal(t, int64(20), single.Load(), "each delivery handled alone after the batch failed")
				} else {
					assert.Equal(t, int64(20), batched.Load()+single.Load())
					assert.Greater(t, batched.Load(), int64(1), "deliveries handled in batches")
				}
				dead, err := o.Deliveries(context.Background(), outbox.DeliveryFilter{Status: outbox.DeliveryDead})
				require.NoError(t, err)
				assert.Empty(t, dead)
			})
		})
	}
}

func TestOutbox_Subscribe_HandleBatchNeedsHandle(t *testing.T) {
	o := outbox.New(nil, outboxConfig())
	err := o.Subscribe(outbox.Subscriber{Name: "x", Relay: relayFunc(func(context.Context, []outbox.Delivery) error { return nil }),
		HandleBatch: func(context.Context, *sql.Tx, []outbox.Delivery) error { return nil }})
	assert.ErrorIs(t, err, outbox.ErrInvalid)
}
