package paygate_test

import (
	"context"
	"database/sql"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/paygate/paygate"
	"github.com/paygate/paygate/outbox"
	"github.com/paygate/paygate/pg"
	"github.com/paygate/paygate/store"
	"github.com/paygate/paygate/store/storetest"
)

// noScheduledPrune keeps Run's own prune out of a test that prunes by hand.
func noScheduledPrune(c *paygate.Config) { c.Retention.Disabled = true }

// ageAll moves every timestamp of the tables retention reads, and of those
// it must never touch, back by d: as if the rows were written d ago.
func ageAll(t *testing.T, db *store.DB, d time.Duration) {
	t.Helper()
	ctx := context.Background()
	for _, u := range []struct{ table, cols string }{
		{"saga_instances", "created_at, updated_at"},
		{"saga_steps", "updated_at"},
		{"saga_events", "created_at, occurred_at"},
		{"saga_deliveries", "created_at, updated_at"},
		{"webhook_deliveries", "received_at"},
		{"payment_events", "occurred_at"},
		{"settlement_entries", "created_at"},
		{"payments", "created_at, updated_at"},
	} {
		rows, err := db.SQL().QueryContext(ctx, "SELECT "+u.cols+" FROM "+u.table)
		require.NoError(t, err)
		require.NoError(t, rows.Close())
		set := ""
		for i, c := range splitCols(u.cols) {
			if i > 0 {
				set += ", "
			}
			set += c + " = ?"
		}
		var args []any
		for range splitCols(u.cols) {
			args = append(args, time.Now().UTC().Add(-d).Truncate(time.Microsecond))
		}
		_, err = db.SQL().ExecContext(ctx, "UPDATE "+u.table+" SET "+set, args...)
		require.NoError(t, err, u.table)
	}
}

func splitCols(s string) []string {
	var out []string
	cur := ""
	for _, r := range s {
		switch r {
		case ',':
			out, cur = append(out, cur), ""
		case ' ':
		default:
			cur += string(r)
		}
	}
	return append(out, cur)
}

func count(t *testing.T, db *store.DB, query string, args ...any) int64 {
	t.Helper()
	var n int64
	require.NoError(t, db.SQL().QueryRowContext(context.Background(), query, args...).Scan(&n), query)
	return n
}

// insertSaga writes a saga instance in state with one saga_steps row (as
// one last written before step records moved into its row), both last
// written at at.
func insertSaga(t *testing.T, db *store.DB, id, state string, at time.Time) {
	t.Helper()
	at = at.UTC().Truncate(time.Microsecond)
	_, err := db.SQL().Exec(`INSERT INTO saga_instances (id, definition, business_key, state, step_index, payload, reason, resume_state, version, created_at, updated_at)
VALUES (?, 'payment', ?, ?, 0, NULL, '', 'RUNNING', 1, ?, ?)`, id, id, state, at, at)
	require.NoError(t, err)
	_, err = db.SQL().Exec(`INSERT INTO saga_steps (saga_id, step, op, status, attempts, updated_at) VALUES (?, 'approve', 'action', 'DONE', 1, ?)`, id, at)
	require.NoError(t, err)
}

// insertEvent writes an outbox event with one delivery per status given.
func insertEvent(t *testing.T, db *store.DB, id string, at time.Time, statuses ...string) {
	t.Helper()
	at = at.UTC().Truncate(time.Microsecond)
	_, err := db.SQL().Exec(`INSERT INTO saga_events (id, type, event_key, payload, occurred_at, created_at) VALUES (?, 'PAYMENT_APPROVED', ?, NULL, ?, ?)`, id, id, at, at)
	require.NoError(t, err)
	for i, st := range statuses {
		_, err := db.SQL().Exec(`INSERT INTO saga_deliveries (event_id, subscriber, event_key, status, attempts, created_at, updated_at) VALUES (?, ?, ?, ?, 1, ?, ?)`,
			id, fmt.Sprintf("sub-%d", i), id, st, at, at)
		require.NoError(t, err)
	}
}

func insertWebhook(t *testing.T, db *store.DB, id string, at time.Time) {
	t.Helper()
	_, err := db.SQL().Exec(`INSERT INTO webhook_deliveries (id, pg, dedup_key, event_type, event, headers, body, body_sha256, received_at)
VALUES (?, 'inicis', ?, 'PAYMENT_STATUS_CHANGED', '{}', '{}', ?, ?, ?)`, id, id, []byte("{}"), fmt.Sprintf("%064d", 0), at.UTC().Truncate(time.Microsecond))
	require.NoError(t, err)
}

func insertKey(t *testing.T, db *store.DB, key string, expires time.Time) {
	t.Helper()
	expires = expires.UTC().Truncate(time.Microsecond)
	_, err := db.SQL().Exec(`INSERT INTO idempotency_keys (scope, idem_key, fingerprint, state, token, lease_until, expires_at, created_at)
VALUES ('test', ?, ?, 'completed', 't', ?, ?, ?)`, key, fmt.Sprintf("%064d", 0), expires, expires, expires.Add(-24*time.Hour))
	require.NoError(t, err)
}

func TestPrune_DeletesOldFinishedWork_KeepsOpenWorkAndTheRecords(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		// A host's subscriber (as the example server's shipping) takes
		// ORDER_CREATED, so each flow has outbox events and deliveries.
		shipping := func(c *paygate.Config) {
			c.Subscribers = append(c.Subscribers, outbox.Subscriber{Name: "shipping", Types: []string{paygate.EventOrderCreated},
				Handle: func(context.Context, *sql.Tx, outbox.Delivery) error { return nil }})
		}
		f := newFlow(t, db, newInicis(t), noScheduledPrune, shipping)
		ctx := context.Background()

		// A whole flow, finished long ago: its saga, steps, events and
		// deliveries go; its payment, events log and ledger stay.
		req := f.checkout("old-order", 12000, "")
		res, err := f.p.Approve(ctx, req)
		require.NoError(t, err)
		f.settled(res.PaymentID)
		f.eventually("the old order's saga to complete", func() bool {
			return count(t, db, "SELECT COUNT(*) FROM saga_instances WHERE state = 'COMPLETED' AND business_key = ?", res.PaymentID) == 1
		})
		ageAll(t, db, 100*24*time.Hour)
		old := time.Now().Add(-100 * 24 * time.Hour)
		insertSaga(t, db, "saga-running-old", "RUNNING", old)
		insertSaga(t, db, "saga-attention-old", "NEEDS_ATTENTION", old)
		insertSaga(t, db, "saga-compensating-old", "COMPENSATING", old)
		insertSaga(t, db, "saga-compensated-old", "COMPENSATED", old)
		insertSaga(t, db, "saga-completed-young", "COMPLETED", time.Now().Add(-80*24*time.Hour))
		insertEvent(t, db, "ev-dead-old", old, "DONE", "DEAD")
		insertEvent(t, db, "ev-pending-old", old, "PENDING")
		insertEvent(t, db, "ev-done-young", time.Now().Add(-10*24*time.Hour), "DONE")
		insertWebhook(t, db, "wh-old", time.Now().Add(-31*24*time.Hour))
		insertWebhook(t, db, "wh-young", time.Now().Add(-29*24*time.Hour))
		insertKey(t, db, "key-expired", time.Now().Add(-2*time.Hour))
		insertKey(t, db, "key-live", time.Now().Add(time.Hour))
		insertKey(t, db, "key-just-expired", time.Now().Add(-10*time.Minute))

		// A flow of today, finished: nothing of it is old enough.
		req = f.checkout("new-order", 8000, "")
		res2, err := f.p.Approve(ctx, req)
		require.NoError(t, err)
		f.settled(res2.PaymentID)

		keep := map[string]int64{}
		for _, table := range []string{"payments", "payment_events", "settlement_entries", "payment_cancels", "checkouts", "payment_order_mapping"} {
			keep[table] = count(t, db, "SELECT COUNT(*) FROM "+table)
		}
		// The flow's step records are in its instance's row (no saga_steps
		// rows); saga-compensated-old's, from before, are one such row.
		assert.Zero(t, count(t, db, "SELECT COUNT(*) FROM saga_steps s JOIN saga_instances i ON i.id = s.saga_id WHERE i.business_key = ?", res.PaymentID))
		assert.Equal(t, int64(1), count(t, db, "SELECT COUNT(*) FROM saga_instances WHERE business_key = ? AND steps IS NOT NULL", res.PaymentID))
		oldDeliveries := count(t, db, "SELECT COUNT(*) FROM saga_deliveries WHERE event_key = ? AND status = 'DONE'", res.PaymentID)
		oldEvents := count(t, db, "SELECT COUNT(*) FROM saga_events WHERE event_key = ?", res.PaymentID)
		require.Positive(t, oldDeliveries)
		require.Positive(t, oldEvents)

		want := paygate.PruneReport{
			Sagas: 2, SagaSteps: 1,
			Deliveries: oldDeliveries + 1, // and ev-dead-old's done one
			Events:     oldEvents,
			Webhooks:   1, IdempotencyKeys: 1,
		}
		dry, err := f.p.Prune(ctx, paygate.DryRun())
		require.NoError(t, err)
		assert.True(t, dry.DryRun)
		assert.Equal(t, want, onlyCounts(dry), "dry run")
		assert.Equal(t, int64(1), count(t, db, "SELECT COUNT(*) FROM webhook_deliveries WHERE id = 'wh-old'"), "a dry run deletes nothing")

		var progressed atomic.Int64
		rep, err := f.p.Prune(ctx, paygate.OnPruneProgress(func(p paygate.PruneProgress) { progressed.Add(p.Rows) }))
		require.NoError(t, err)
		assert.Equal(t, want, onlyCounts(rep))
		assert.Equal(t, rep.Total(), progressed.Load())

		for table, n := range keep {
			assert.Equal(t, n, count(t, db, "SELECT COUNT(*) FROM "+table), "%s is never pruned", table)
		}
		assert.Zero(t, count(t, db, "SELECT COUNT(*) FROM saga_instances WHERE business_key = ?", res.PaymentID))
		assert.Zero(t, count(t, db, "SELECT COUNT(*) FROM saga_events WHERE event_key = ?", res.PaymentID))
		assert.Zero(t, count(t, db, "SELECT COUNT(*) FROM saga_steps WHERE saga_id IN ('saga-compensated-old')"))
		for _, id := range []string{"saga-running-old", "saga-attention-old", "saga-compensating-old", "saga-completed-young"} {
			assert.Equal(t, int64(1), count(t, db, "SELECT COUNT(*) FROM saga_instances WHERE id = ?", id), id)
			assert.Equal(t, int64(1), count(t, db, "SELECT COUNT(*) FROM saga_steps WHERE saga_id = ?", id), id)
		}
		assert.Equal(t, int64(1), count(t, db, "SELECT COUNT(*) FROM saga_instances WHERE business_key = ?", res2.PaymentID))
		assert.Positive(t, count(t, db, "SELECT COUNT(*) FROM saga_deliveries WHERE event_key = ?", res2.PaymentID))
		for _, ev := range []string{"ev-dead-old", "ev-pending-old", "ev-done-young"} {
			assert.Equal(t, int64(1), count(t, db, "SELECT COUNT(*) FROM saga_events WHERE id = ?", ev), ev)
		}
		assert.Equal(t, int64(1), count(t, db, "SELECT COUNT(*) FROM saga_deliveries WHERE event_id = 'ev-dead-old'"), "the dead delivery stays")
		assert.Equal(t, int64(1), count(t, db, "SELECT COUNT(*) FROM saga_deliveries WHERE event_id = 'ev-pending-old'"))
		assert.Equal(t, int64(1), count(t, db, "SELECT COUNT(*) FROM webhook_deliveries WHERE id = 'wh-young'"))
		assert.Zero(t, count(t, db, "SELECT COUNT(*) FROM webhook_deliveries WHERE id = 'wh-old'"))
		assert.Equal(t, int64(2), count(t, db, "SELECT COUNT(*) FROM idempotency_keys WHERE idem_key IN ('key-live', 'key-just-expired')"))

		// The old payment is still whole for its timeline and the console.
		view := f.payment(res.PaymentID)
		assert.Equal(t, pg.StatusApproved, view.Status)
		assert.NotEmpty(t, view.Events)

		again, err := f.p.Prune(ctx)
		require.NoError(t, err)
		assert.Zero(t, again.Total(), "a second prune finds nothing")
	})
}

// onlyCounts is r without its times and mode, for comparing counts.
func onlyCounts(r paygate.PruneReport) paygate.PruneReport {
	r.Started, r.Finished, r.DryRun = time.Time{}, time.Time{}, false
	return r
}

func TestPrune_SecondPrunerIsTurnedAway(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newFlow(t, db, newInicis(t), noScheduledPrune, func(c *paygate.Config) {
			c.Retention.Batch, c.Retention.Pause = 10, 5*time.Millisecond
		})
		other := newFlow(t, db, newInicis(t), noScheduledPrune)
		old := time.Now().Add(-100 * 24 * time.Hour)
		for i := range 60 {
			insertSaga(t, db, fmt.Sprintf("saga-%03d", i), "COMPLETED", old)
		}
		ctx := context.Background()
		started := make(chan struct{})
		release := make(chan struct{})
		var once sync.Once
		done := make(chan error, 1)
		go func() {
			_, err := f.p.Prune(ctx, paygate.OnPruneProgress(func(paygate.PruneProgress) {
				once.Do(func() { close(started); <-release })
			}))
			done <- err
		}()
		<-started
		_, err := other.p.Prune(ctx)
		assert.ErrorIs(t, err, paygate.ErrPruneBusy)
		assert.ErrorIs(t, err, paygate.ErrInProgress)
		close(release)
		require.NoError(t, <-done)
		assert.Zero(t, count(t, db, "SELECT COUNT(*) FROM saga_instances WHERE id LIKE 'saga-%'"))
		// The lease is free again.
		_, err = other.p.Prune(ctx)
		require.NoError(t, err)
	})
}

func TestPrune_PaymentFlowRunsWhilePruning(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newFlow(t, db, newInicis(t), noScheduledPrune, func(c *paygate.Config) {
			c.Retention.Batch, c.Retention.Pause = 20, 20*time.Millisecond
		})
		old := time.Now().Add(-100 * 24 * time.Hour)
		const n = 2000
		for i := 0; i < n; i += 250 {
			insertSagas(t, db, i, min(n, i+250), old)
		}
		ctx := context.Background()
		started := make(chan struct{})
		var once sync.Once
		var finished atomic.Bool
		done := make(chan error, 1)
		go func() {
			_, err := f.p.Prune(ctx, paygate.OnPruneProgress(func(paygate.PruneProgress) {
				once.Do(func() { close(started) })
			}))
			finished.Store(true)
			done <- err
		}()
		<-started
		// Whole payments go through, one after the other, while the
		// prune deletes.
		var paid []string
		during := 0
		for i := 0; !finished.Load(); i++ {
			req := f.checkout(fmt.Sprintf("during-prune-%d", i), 5000, "")
			res, err := f.p.Approve(ctx, req)
			require.NoError(t, err)
			require.Equal(t, pg.StatusApproved, res.Status)
			f.settled(res.PaymentID)
			paid = append(paid, res.PaymentID)
			if !finished.Load() {
				during++
			}
		}
		require.NoError(t, <-done)
		assert.Positive(t, during, "payments completed while the prune was deleting")
		assert.Zero(t, count(t, db, "SELECT COUNT(*) FROM saga_instances WHERE id LIKE 'bulk-%'"))
		for _, id := range paid {
			f.checkInvariants(f.payment(id).OrderID)
			assert.Equal(t, int64(1), count(t, db, "SELECT COUNT(*) FROM saga_instances WHERE business_key = ?", id), "a saga of today stays")
		}
	})
}

// insertSagas writes finished sagas bulk-from…bulk-to with a step each, in
// one statement per table.
func insertSagas(t *testing.T, db *store.DB, from, to int, at time.Time) {
	t.Helper()
	at = at.UTC().Truncate(time.Microsecond)
	inst := "INSERT INTO saga_instances (id, definition, business_key, state, step_index, version, created_at, updated_at) VALUES "
	steps := "INSERT INTO saga_steps (saga_id, step, op, status, attempts, updated_at) VALUES "
	var ia, sa []any
	for i := from; i < to; i++ {
		if i > from {
			inst += ", "
			steps += ", "
		}
		id := fmt.Sprintf("bulk-%06d", i)
		inst += "(?, 'payment', ?, 'COMPLETED', 2, 3, ?, ?)"
		steps += "(?, 'approve', 'action', 'DONE', 1, ?)"
		ia = append(ia, id, id, at, at)
		sa = append(sa, id, at)
	}
	_, err := db.SQL().Exec(inst, ia...)
	require.NoError(t, err)
	_, err = db.SQL().Exec(steps, sa...)
	require.NoError(t, err)
}

func TestNew_RetentionTooShort_Refused(t *testing.T) {
	t.Parallel()
	db := storetest.Open(t, store.SQLite)
	reg, err := pg.NewRegistry(newInicis(t).gateway)
	require.NoError(t, err)
	for _, c := range []paygate.RetentionConfig{{Sagas: time.Hour}, {Webhooks: 90 * time.Second}, {Batch: -1}} {
		_, err := paygate.New(paygate.Config{DB: db, Gateways: reg, Orders: newShop(), Fees: testFees, Retention: c})
		assert.ErrorIs(t, err, paygate.ErrInvalid, "%+v", c)
	}
}

func TestRun_PrunesOnSchedule_OncePerPeriodAcrossProcesses(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		old := time.Now().Add(-100 * 24 * time.Hour)
		insertSaga(t, db, "saga-scheduled", "COMPLETED", old)
		scheduled := func(c *paygate.Config) { c.Retention.Every = 24 * time.Hour }
		f := newFlow(t, db, newInicis(t), scheduled)
		f.eventually("the scheduled prune", func() bool {
			return count(t, db, "SELECT COUNT(*) FROM saga_instances WHERE id = 'saga-scheduled'") == 0
		})
		f.eventually("the prune to be recorded", func() bool {
			return count(t, db, "SELECT COUNT(*) FROM paygate_leases WHERE name = 'paygate.retention' AND done_at IS NOT NULL") == 1
		})
		// A second process started now finds today's prune done and
		// leaves a new old row alone until the next period.
		insertSaga(t, db, "saga-after", "COMPLETED", old)
		g := newFlow(t, db, newInicis(t), scheduled)
		req := g.checkout("after-schedule", 1000, "")
		res, err := g.p.Approve(context.Background(), req)
		require.NoError(t, err)
		g.settled(res.PaymentID)
		assert.Equal(t, int64(1), count(t, db, "SELECT COUNT(*) FROM saga_instances WHERE id = 'saga-after'"))
	})
}
