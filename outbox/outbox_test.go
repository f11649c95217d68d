package outbox_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/paygate/paygate/outbox"
	"github.com/paygate/paygate/saga"
	"github.com/paygate/paygate/store"
	"github.com/paygate/paygate/store/storetest"
)

func TestOutbox_EmitAndSubscribers_EachDeliveredOnceInTheirTransaction(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		t.Parallel()
		o := outbox.New(newStore(db), outboxConfig())
		var relayed sync.Map
		require.NoError(t, o.Subscribe(
			outbox.Subscriber{Name: "ledger", Types: []string{"ORDER_CREATED", "PAYMENT_REFUNDED"}, Handle: ledger(t, db, "t_ledger")},
			outbox.Subscriber{Name: "log", Handle: ledger(t, db, "t_log")},
			outbox.Subscriber{Name: "broker", Relay: relayFunc(func(ctx context.Context, ds []outbox.Delivery) error {
				for _, d := range ds {
					relayed.Store(d.ID, true)
				}
				return nil
			})},
		))
		runFor(t, o)
		types := []string{"PAYMENT_APPROVED", "ORDER_CREATED", "PAYMENT_REFUNDED", "SETTLEMENT_RECORDED"}
		for i := range 20 {
			emit(t, db, o, outbox.Event{Type: types[i%len(types)], Key: fmt.Sprintf("pay_%d", i%5), Payload: []byte(`{}`)})
		}
		waitCount(t, "log rows", 20, func() int { return rowCount(t, db, "t_log") })
		waitCount(t, "ledger rows", 10, func() int { return rowCount(t, db, "t_ledger") })
		waitCount(t, "relayed", 20, func() int {
			n := 0
			relayed.Range(func(any, any) bool { n++; return true })
			return n
		})
		// The relay sees a batch before the transaction that marks its
		// deliveries done commits: wait for that state rather than
		// asserting it the moment the last event was seen.
		waitCount(t, "pending deliveries", 0, func() int {
			pending, err := o.Deliveries(context.Background(), outbox.DeliveryFilter{Status: outbox.DeliveryPending})
			require.NoError(t, err)
			return len(pending)
		})
	})
}

// A retired subscriber gets no delivery of what is emitted now, and Wants
// does not count it; the deliveries written for it before it was retired —
// by an earlier version of the process — are still handled, once each.
func TestOutbox_RetiredSubscriber_NoNewDeliveries_EarlierOnesHandled(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		t.Parallel()
		handle := ledger(t, db, "t_retired")
		before := outbox.New(newStore(db), outboxConfig())
		require.NoError(t, before.Subscribe(outbox.Subscriber{Name: "schedule", Types: []string{"PAYMENT_APPROVED"}, Handle: handle}))
		for i := range 3 {
			emit(t, db, before, outbox.Event{Type: "PAYMENT_APPROVED", Key: fmt.Sprintf("pay_%d", i), Payload: []byte(`{}`)})
		}

		o := outbox.New(newStore(db), outboxConfig())
		require.NoError(t, o.Subscribe(
			outbox.Subscriber{Name: "schedule", Types: []string{"PAYMENT_APPROVED"}, Handle: handle, Retired: true},
			outbox.Subscriber{Name: "log", Handle: ledger(t, db, "t_retired_log")},
		))
		assert.True(t, o.Wants("PAYMENT_APPROVED"), "the log takes every type")
		only := outbox.New(newStore(db), outboxConfig())
		require.NoError(t, only.Subscribe(outbox.Subscriber{Name: "schedule", Types: []string{"PAYMENT_APPROVED"}, Handle: handle, Retired: true}))
		assert.False(t, only.Wants("PAYMENT_APPROVED"), "a retired subscriber wants nothing")

		for i := range 4 {
			emit(t, db, o, outbox.Event{Type: "PAYMENT_APPROVED", Key: fmt.Sprintf("pay_new_%d", i), Payload: []byte(`{}`)})
		}
		runFor(t, o)
		waitCount(t, "log rows", 4, func() int { return rowCount(t, db, "t_retired_log") })
		waitCount(t, "the retired subscriber's earlier deliveries handled", 3, func() int { return rowCount(t, db, "t_retired") })
		waitCount(t, "pending deliveries", 0, func() int {
			pending, err := o.Deliveries(context.Background(), outbox.DeliveryFilter{Status: outbox.DeliveryPending})
			require.NoError(t, err)
			return len(pending)
		})
		all, err := o.Deliveries(context.Background(), outbox.DeliveryFilter{Subscriber: "schedule"})
		require.NoError(t, err)
		assert.Len(t, all, 3, "no delivery written for the retired subscriber after it was retired")
		var keys []string
		require.NoError(t, func() error {
			rows, err := db.SQL().Query(`SELECT event_key FROM t_retired ORDER BY event_key`)
			if err != nil {
				return err
			}
			defer rows.Close()
			for rows.Next() {
				var k string
				if err := rows.Scan(&k); err != nil {
					return err
				}
				keys = append(keys, k)
			}
			return rows.Err()
		}())
		assert.Equal(t, []string{"pay_0", "pay_1", "pay_2"}, keys)
	})
}

// A subscriber the emitter names in Handled gets no delivery of that event
// (its work was written with it); the others get theirs, and the event
// without Handled goes to all. Wants leaves the handled subscribers out.
func TestOutbox_Handled_NoDeliveryForTheSubscriberThatEmitterDid(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		t.Parallel()
		o := outbox.New(newStore(db), outboxConfig())
		require.NoError(t, o.Subscribe(
			outbox.Subscriber{Name: "ledger", Types: []string{"PAYMENT_APPROVED"}, Handle: ledger(t, db, "t_handled_ledger")},
			outbox.Subscriber{Name: "log", Handle: ledger(t, db, "t_handled_log")},
		))
		assert.True(t, o.Wants("PAYMENT_APPROVED", "ledger"), "the log still wants it")
		only := outbox.New(newStore(db), outboxConfig())
		require.NoError(t, only.Subscribe(outbox.Subscriber{Name: "ledger", Types: []string{"PAYMENT_APPROVED"}, Handle: ledger(t, db, "t_handled_only")}))
		assert.True(t, only.Wants("PAYMENT_APPROVED"))
		assert.False(t, only.Wants("PAYMENT_APPROVED", "ledger"), "nobody else wants it")

		emit(t, db, o, outbox.Event{Type: "PAYMENT_APPROVED", Key: "pay_handled", Payload: []byte(`{}`), Handled: []string{"ledger"}})
		emit(t, db, o, outbox.Event{Type: "PAYMENT_APPROVED", Key: "pay_plain", Payload: []byte(`{}`)})
		runFor(t, o)
		waitCount(t, "log rows", 2, func() int { return rowCount(t, db, "t_handled_log") })
		waitCount(t, "ledger rows", 1, func() int { return rowCount(t, db, "t_handled_ledger") })
		ds, err := o.Deliveries(context.Background(), outbox.DeliveryFilter{Subscriber: "ledger"})
		require.NoError(t, err)
		require.Len(t, ds, 1, "no delivery of the handled event")
		var key string
		require.NoError(t, db.SQL().QueryRow(`SELECT event_key FROM t_handled_ledger`).Scan(&key))
		assert.Equal(t, "pay_plain", key)
	})
}

func TestOutbox_Emit_DuplicateIDAndBadInput(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		t.Parallel()
		o := outbox.New(newStore(db), outboxConfig())
		emit(t, db, o, outbox.Event{ID: "ev-1", Type: "PAYMENT_APPROVED"})
		tests := []struct {
			name string
			ev   outbox.Event
			want error
		}{
			{"same id", outbox.Event{ID: "ev-1", Type: "PAYMENT_APPROVED"}, outbox.ErrDuplicate},
			{"no type", outbox.Event{ID: "ev-2"}, outbox.ErrInvalid},
			{"key too long", outbox.Event{Type: "X", Key: string(make([]byte, 256))}, outbox.ErrInvalid},
		}
		for _, tt := range tests {
			err := db.InTx(context.Background(), func(ctx context.Context, tx *sql.Tx) error {
				_, err := o.Emit(ctx, tx, tt.ev)
				return err
			})
			assert.ErrorIs(t, err, tt.want, tt.name)
		}
	})
}

// TestOutbox_LateCommit_StillDelivered: an event whose transaction started
// first (lower delivery id) commits after a later event was delivered. A
// consumer that remembers "the last id seen" would skip it forever.
func TestOutbox_LateCommit_StillDelivered(t *testing.T) {
	db := storetest.Open(t, store.MySQL) // SQLite has one writer: no transaction can commit "late"
	o := outbox.New(newStore(db), outboxConfig())
	var mu sync.Mutex
	var order []string
	handle := ledger(t, db, "t_ledger")
	require.NoError(t, o.Subscribe(outbox.Subscriber{Name: "ledger", Handle: func(ctx context.Context, tx *sql.Tx, d outbox.Delivery) error {
		mu.Lock()
		order = append(order, d.Type)
		mu.Unlock()
		return handle(ctx, tx, d)
	}}))
	ctx := context.Background()
	late, err := db.SQL().BeginTx(ctx, nil)
	require.NoError(t, err)
	defer late.Rollback()
	_, err = o.Emit(ctx, late, outbox.Event{Type: "EARLY_ID_LATE_COMMIT"})
	require.NoError(t, err)

	runFor(t, o)
	emit(t, db, o, outbox.Event{Type: "LATER_ID_FIRST_COMMIT"})
	waitCount(t, "first delivery", 1, func() int { return rowCount(t, db, "t_ledger") })
	ds, err := o.Deliveries(ctx, outbox.DeliveryFilter{})
	require.NoError(t, err)
	require.Len(t, ds, 1)

	require.NoError(t, late.Commit())
	waitCount(t, "both delivered", 2, func() int { return rowCount(t, db, "t_ledger") })
	ds, err = o.Deliveries(ctx, outbox.DeliveryFilter{})
	require.NoError(t, err)
	require.Len(t, ds, 2)
	assert.Less(t, ds[0].ID, ds[1].ID)
	assert.Equal(t, "EARLY_ID_LATE_COMMIT", ds[0].Event.Type, "the late event has the lower id")
	mu.Lock()
	defer mu.Unlock()
	assert.Equal(t, []string{"LATER_ID_FIRST_COMMIT", "EARLY_ID_LATE_COMMIT"}, order)
}

// TestOutbox_OrderedSubscriber_PerKeyOrderUnderRetriesAndTwoDispatchers:
// handlers fail at random, two dispatchers compete, and still every key's
// events are handled in emission order.
func TestOutbox_OrderedSubscriber_PerKeyOrderUnderRetriesAndTwoDispatchers(t *testing.T) {
	for _, d := range storetest.Dialects {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			dsn, db := openShared(t, d)
			handle := ledger(t, db, "t_ordered")
			var failures atomic.Int64
			sub := outbox.Subscriber{
				Name: "ordered", Ordered: true,
				Retry: outbox.Policy{MaxAttempts: outbox.Unlimited, InitialBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond},
				Handle: func(ctx context.Context, tx *sql.Tx, d outbox.Delivery) error {
					if d.Attempt == 1 && d.ID[len(d.ID)-1]%3 == 0 {
						failures.Add(1)
						return errors.New("ledger busy")
					}
					return handle(ctx, tx, d)
				},
			}
			var outboxes []*outbox.Outbox
			for range 2 {
				o := outbox.New(newStore(openDSN(t, dsn)), outboxConfig())
				require.NoError(t, o.Subscribe(sub))
				outboxes = append(outboxes, o)
			}
			const keys, perKey = 10, 8
			for n := range perKey {
				for k := range keys {
					emit(t, db, outboxes[0], outbox.Event{
						ID: fmt.Sprintf("%s-k%02d-n%02d", d, k, n), Type: "E", Key: fmt.Sprintf("pay_%02d", k),
					})
				}
			}
			for _, o := range outboxes {
				runFor(t, o)
			}
			waitCount(t, "handled", keys*perKey, func() int { return rowCount(t, db, "t_ordered") })
			rows, err := db.SQL().Query(`SELECT event_id, event_key FROM t_ordered ORDER BY seq`)
			require.NoError(t, err)
			defer rows.Close()
			last := map[string]string{}
			for rows.Next() {
				var id, key string
				require.NoError(t, rows.Scan(&id, &key))
				assert.Less(t, last[key], id, "key %s: %s handled after %s", key, id, last[key])
				last[key] = id
			}
			require.NoError(t, rows.Err())
			assert.Positive(t, failures.Load())
		})
	}
}

func TestOutbox_FailingSubscriber_RetriedThenDeadThenRedelivered(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		t.Parallel()
		handle := ledger(t, db, "t_ledger")
		var broken atomic.Bool
		broken.Store(true)
		var maxAttempt atomic.Int64
		var mu sync.Mutex
		var reports []outbox.DeliveryReport
		cfg := outboxConfig()
		cfg.OnDelivery = func(r outbox.DeliveryReport) {
			mu.Lock()
			defer mu.Unlock()
			if r.EventID == "ev-ok" {
				reports = append(reports, r)
			}
		}
		o := outbox.New(newStore(db), cfg)
		require.NoError(t, o.Subscribe(outbox.Subscriber{
			Name:  "settlement",
			Retry: outbox.Policy{MaxAttempts: 3, InitialBackoff: time.Millisecond, MaxBackoff: 2 * time.Millisecond},
			Handle: func(ctx context.Context, tx *sql.Tx, d outbox.Delivery) error {
				if d.Type == "POISON" {
					return outbox.Permanent(errors.New("cannot parse"))
				}
				if broken.Load() {
					if int64(d.Attempt) > maxAttempt.Load() {
						maxAttempt.Store(int64(d.Attempt))
					}
					if _, err := tx.ExecContext(ctx, `INSERT INTO t_ledger (event_id, event_key, seq) VALUES (?, '', 0)`, d.ID); err != nil {
						return err
					}
					panic("settlement handler bug") // the insert above must roll back
				}
				return handle(ctx, tx, d)
			},
		}))
		runFor(t, o)
		emit(t, db, o, outbox.Event{ID: "ev-ok", Type: "ORDER_CREATED"}, outbox.Event{ID: "ev-poison", Type: "POISON"})
		var dead []outbox.DeliveryRecord
		waitCount(t, "dead deliveries", 2, func() int {
			var err error
			dead, err = o.Deliveries(context.Background(), outbox.DeliveryFilter{Status: outbox.DeliveryDead})
			require.NoError(t, err)
			return len(dead)
		})
		assert.EqualValues(t, 3, maxAttempt.Load(), "retried up to MaxAttempts")
		assert.Zero(t, rowCount(t, db, "t_ledger"), "a failed handler's writes roll back")
		byEvent := map[string]outbox.DeliveryRecord{}
		for _, d := range dead {
			byEvent[d.EventID] = d
		}
		assert.Equal(t, 1, byEvent["ev-poison"].Attempts, "a permanent error is not retried")
		assert.Contains(t, byEvent["ev-ok"].LastError, "settlement handler bug")

		err := o.Redeliver(context.Background(), byEvent["ev-ok"].ID+1000)
		assert.ErrorIs(t, err, outbox.ErrNotFound)
		broken.Store(false)
		require.NoError(t, o.Redeliver(context.Background(), byEvent["ev-ok"].ID))
		waitCount(t, "ledger rows", 1, func() int { return rowCount(t, db, "t_ledger") })
		assert.ErrorIs(t, o.Redeliver(context.Background(), byEvent["ev-ok"].ID), outbox.ErrInvalidState)
		// The report follows the commit the ledger row is seen by.
		waitCount(t, "reports", 4, func() int {
			mu.Lock()
			defer mu.Unlock()
			return len(reports)
		})
		mu.Lock()
		defer mu.Unlock()
		var outcomes []string
		for _, r := range reports {
			outcomes = append(outcomes, fmt.Sprintf("%d:%t:%t", r.Attempt, r.Err == nil, r.Dead))
		}
		assert.Equal(t, []string{"1:false:false", "2:false:false", "3:false:true", "1:true:false"}, outcomes)
	})
}

// TestOutbox_StaleDispatcher_LateCompletionRefused: a handler stalls past
// the delivery's lease, another dispatcher delivers it, and the stale
// handler's transaction is refused: one effect.
func TestOutbox_StaleDispatcher_LateCompletionRefused(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		t.Parallel()
		handle := ledger(t, db, "t_ledger")
		clock := newFakeClock()
		entered, release := make(chan struct{}), make(chan struct{})
		var calls atomic.Int64
		sub := outbox.Subscriber{Name: "ledger", Handle: func(ctx context.Context, tx *sql.Tx, d outbox.Delivery) error {
			if calls.Add(1) == 1 {
				close(entered)
				<-release
			}
			return handle(ctx, tx, d)
		}}
		cfg := outboxConfig()
		cfg.Clock = clock
		stale := outbox.New(newStore(db), cfg)
		require.NoError(t, stale.Subscribe(sub))
		runFor(t, stale)
		emit(t, db, stale, outbox.Event{ID: "ev-1", Type: "ORDER_CREATED"})
		<-entered
		if db.Dialect() == store.SQLite {
			// The stalled handler holds SQLite's only writer: another
			// dispatcher cannot even claim. Nothing can be delivered twice.
			close(release)
			waitCount(t, "ledger rows", 1, func() int { return rowCount(t, db, "t_ledger") })
			return
		}
		clock.Advance(time.Hour)
		fresh := outbox.New(newStore(db), cfg)
		require.NoError(t, fresh.Subscribe(sub))
		runFor(t, fresh)
		time.Sleep(200 * time.Millisecond)
		close(release)
		waitCount(t, "ledger rows", 1, func() int { return rowCount(t, db, "t_ledger") })
		ds, err := fresh.Deliveries(context.Background(), outbox.DeliveryFilter{})
		require.NoError(t, err)
		require.Len(t, ds, 1)
		waitCount(t, "done", 1, func() int {
			ds, err := fresh.Deliveries(context.Background(), outbox.DeliveryFilter{Status: outbox.DeliveryDone})
			require.NoError(t, err)
			return len(ds)
		})
	})
}

// saga and outbox share one Permanent mark: an error marked by either is
// permanent for both, so a helper's saga.Permanent error returned by a
// subscriber still parks its delivery at once.
func TestPermanent_SameMarkAsSaga(t *testing.T) {
	cause := errors.New("refused")
	assert.True(t, outbox.IsPermanent(saga.Permanent(cause)))
	assert.True(t, saga.IsPermanent(fmt.Errorf("wrapped: %w", outbox.Permanent(cause))))
	assert.ErrorIs(t, outbox.Permanent(cause), cause)
	assert.False(t, outbox.IsPermanent(cause))
	assert.NoError(t, outbox.Permanent(nil))
}
