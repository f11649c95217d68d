package store_test

import (
	"context"
	"database/sql"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/paygate/paygate/pg"
	"github.com/paygate/paygate/store"
	"github.com/paygate/paygate/store/storetest"
)

// A cancel keeps the time the PG applied it.
func TestCancel_CanceledAt_KeptAsThePGReportedIt(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		t.Parallel()
		ctx := ctxT(t)
		p := newPayment(orderID(t))
		insertPayment(t, db, p)
		c := newCancel(p, "k-time", pg.Won(1000))
		tx(t, db, func(ctx context.Context, tx *sql.Tx) error { return db.InsertCancel(ctx, tx, c) })
		got, err := db.CancelByID(ctx, c.ID)
		require.NoError(t, err)
		assert.True(t, got.CanceledAt.IsZero(), "unknown until done")

		kst := time.FixedZone("KST", 9*3600)
		at := time.Date(2025, 3, 31, 23, 59, 59, 0, kst)
		got.Status, got.CanceledAt = store.CancelDone, at
		tx(t, db, func(ctx context.Context, tx *sql.Tx) error { return db.UpdateCancel(ctx, tx, got, got.Version) })
		got, err = db.CancelByID(ctx, c.ID)
		require.NoError(t, err)
		assert.True(t, got.CanceledAt.Equal(at), "got %s", got.CanceledAt)

		console := newCancel(p, "k-console", pg.Won(500))
		console.Status, console.CanceledAt = store.CancelDone, at.Add(-time.Hour)
		tx(t, db, func(ctx context.Context, tx *sql.Tx) error { return db.InsertCancel(ctx, tx, console) })
		got, err = db.CancelByIdempotencyKey(ctx, "k-console")
		require.NoError(t, err)
		assert.True(t, got.CanceledAt.Equal(at.Add(-time.Hour)))
	})
}

// The lookup schedule: one row per payment, claimed due-first, moved past
// the claim so another claimer passes over it, then rescheduled or taken
// off.
func TestSync_ScheduleClaimRescheduleUnschedule(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		t.Parallel()
		ctx := ctxT(t)
		now := time.Now().UTC().Truncate(time.Microsecond)
		ids := make([]string, 4)
		for i := range ids {
			p := newPayment(orderID(t))
			insertPayment(t, db, p)
			ids[i] = p.ID
		}
		tx(t, db, func(ctx context.Context, tx *sql.Tx) error {
			for i, id := range ids[:3] {
				if err := db.ScheduleSync(ctx, tx, id, now.Add(time.Duration(i-3)*time.Minute)); err != nil {
					return err
				}
			}
			// Not due yet.
			if err := db.ScheduleSync(ctx, tx, ids[3], now.Add(time.Hour)); err != nil {
				return err
			}
			// Scheduling again keeps the first schedule.
			return db.ScheduleSync(ctx, tx, ids[0], now.Add(48*time.Hour))
		})
		first, err := db.SyncOf(ctx, ids[0])
		require.NoError(t, err)
		assert.True(t, first.NextAt.Equal(now.Add(-3*time.Minute)), "got %s", first.NextAt)

		var claimed []store.PaymentSync
		until := now.Add(5 * time.Minute)
		tx(t, db, func(ctx context.Context, tx *sql.Tx) error {
			claimed, err = db.ClaimSyncs(ctx, tx, now, until, 2)
			return err
		})
		require.Len(t, claimed, 2)
		assert.Equal(t, ids[0], claimed[0].PaymentID, "most overdue first")
		assert.Equal(t, ids[1], claimed[1].PaymentID)
		var rest []store.PaymentSync
		tx(t, db, func(ctx context.Context, tx *sql.Tx) error {
			rest, err = db.ClaimSyncs(ctx, tx, now, until, 10)
			return err
		})
		require.Len(t, rest, 1, "claimed ones are not due again before the claim expires")
		assert.Equal(t, ids[2], rest[0].PaymentID)

		require.NoError(t, db.SyncDone(ctx, ids[0], now.Add(24*time.Hour)))
		require.NoError(t, db.SyncFailed(ctx, ids[1], now.Add(time.Minute), "lookup: 503"))
		require.NoError(t, db.SyncFailed(ctx, ids[1], now.Add(2*time.Minute), "lookup: 503 again"))
		done, err := db.SyncOf(ctx, ids[0])
		require.NoError(t, err)
		assert.False(t, done.SyncedAt.IsZero())
		assert.True(t, done.NextAt.Equal(now.Add(24*time.Hour)))
		failed, err := db.SyncOf(ctx, ids[1])
		require.NoError(t, err)
		assert.Equal(t, 2, failed.Failures)
		assert.Equal(t, "lookup: 503 again", failed.LastError)
		assert.True(t, failed.SyncedAt.IsZero())

		require.NoError(t, db.Unschedule(ctx, ids[2]))
		require.NoError(t, db.Unschedule(ctx, ids[2]), "taking off twice is harmless")
		_, err = db.SyncOf(ctx, ids[2])
		require.ErrorIs(t, err, store.ErrNotFound)

		// After the claim expires, what was not rescheduled is due again.
		var later []store.PaymentSync
		tx(t, db, func(ctx context.Context, tx *sql.Tx) error {
			later, err = db.ClaimSyncs(ctx, tx, until, until.Add(time.Minute), 10)
			return err
		})
		require.Len(t, later, 1)
		assert.Equal(t, ids[1], later[0].PaymentID)
	})
}

// A batch is scheduled in one statement with the single call's rules: a
// payment already on the schedule, or named twice, keeps its first
// schedule; a batch with a payment without an id writes nothing.
func TestSync_ScheduleSyncs_Batch(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		t.Parallel()
		ctx := ctxT(t)
		now, ids := threePaymentsFirstScheduled(t, db)
		err := db.InTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
			return db.ScheduleSyncs(ctx, tx, []store.SyncDue{{PaymentID: ids[1], NextAt: now}, {PaymentID: "", NextAt: now}})
		})
		require.ErrorIs(t, err, store.ErrInvalid)
		_, err = db.SyncOf(ctx, ids[1])
		require.ErrorIs(t, err, store.ErrNotFound, "an invalid batch writes nothing")

		tx(t, db, func(ctx context.Context, tx *sql.Tx) error {
			return db.ScheduleSyncs(ctx, tx, []store.SyncDue{
				{PaymentID: ids[0], NextAt: now.Add(5 * time.Hour)},
				{PaymentID: ids[1], NextAt: now.Add(2 * time.Hour)},
				{PaymentID: ids[2], NextAt: now.Add(3 * time.Hour)},
				{PaymentID: ids[1], NextAt: now.Add(9 * time.Hour)},
			})
		})
		for i, want := range []time.Duration{time.Hour, 2 * time.Hour, 3 * time.Hour} {
			got, err := db.SyncOf(ctx, ids[i])
			require.NoError(t, err)
			assert.True(t, got.NextAt.Equal(now.Add(want)), "payment %d: got %s", i, got.NextAt)
		}
		tx(t, db, func(ctx context.Context, tx *sql.Tx) error { return db.ScheduleSyncs(ctx, tx, nil) })
	})
}

// Deferred, the payments several calls schedule are written at the flush in
// one statement, each payment already on the schedule (or named twice)
// keeping its first place, and nothing is there before the flush.
func TestSync_ScheduleSyncs_Deferred(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		t.Parallel()
		ctx := ctxT(t)
		now, ids := threePaymentsFirstScheduled(t, db)
		tx(t, db, func(ctx context.Context, tx *sql.Tx) error {
			ctx, d := db.WithDeferred(ctx)
			for _, due := range [][]store.SyncDue{
				{{PaymentID: ids[0], NextAt: now.Add(5 * time.Hour)}, {PaymentID: ids[1], NextAt: now.Add(2 * time.Hour)}},
				{{PaymentID: ids[2], NextAt: now.Add(3 * time.Hour)}},
				{{PaymentID: ids[1], NextAt: now.Add(9 * time.Hour)}},
			} {
				if err := db.ScheduleSyncs(ctx, tx, due); err != nil {
					return err
				}
			}
			_, err := db.SyncOfTx(ctx, tx, ids[2])
			require.ErrorIs(t, err, store.ErrNotFound, "nothing written before the flush")
			return d.Flush(ctx, tx)
		})
		for i, want := range []time.Duration{time.Hour, 2 * time.Hour, 3 * time.Hour} {
			got, err := db.SyncOf(ctx, ids[i])
			require.NoError(t, err)
			assert.True(t, got.NextAt.Equal(now.Add(want)), "payment %d: got %s", i, got.NextAt)
		}
	})
}

// threePaymentsFirstScheduled stores three payments and puts the first on
// the lookup schedule an hour after now.
func threePaymentsFirstScheduled(t *testing.T, db *store.DB) (now time.Time, ids []string) {
	now = time.Now().UTC().Truncate(time.Microsecond)
	ids = make([]string, 3)
	for i := range ids {
		p := newPayment(orderID(t))
		insertPayment(t, db, p)
		ids[i] = p.ID
	}
	tx(t, db, func(ctx context.Context, tx *sql.Tx) error {
		return db.ScheduleSync(ctx, tx, ids[0], now.Add(time.Hour))
	})
	return now, ids
}

// Two claimers at once on MySQL take disjoint payments: the second passes
// over the rows the first holds.
func TestSync_ConcurrentClaims_Disjoint(t *testing.T) {
	db := storetest.Open(t, store.MySQL)
	ctx := ctxT(t)
	now := time.Now().UTC()
	for range 4 {
		p := newPayment(orderID(t))
		insertPayment(t, db, p)
		tx(t, db, func(ctx context.Context, tx *sql.Tx) error {
			return db.ScheduleSync(ctx, tx, p.ID, now.Add(-time.Minute))
		})
	}
	first, err := db.SQL().BeginTx(ctx, nil)
	require.NoError(t, err)
	defer first.Rollback()
	a, err := db.ClaimSyncs(ctx, first, now, now.Add(time.Minute), 2)
	require.NoError(t, err)
	require.Len(t, a, 2)
	var b []store.PaymentSync
	tx(t, db, func(ctx context.Context, tx *sql.Tx) error {
		b, err = db.ClaimSyncs(ctx, tx, now, now.Add(time.Minute), 4)
		return err
	})
	require.Len(t, b, 2)
	seen := map[string]bool{}
	for _, s := range append(a, b...) {
		assert.False(t, seen[s.PaymentID], "%s claimed twice", s.PaymentID)
		seen[s.PaymentID] = true
	}
	require.NoError(t, first.Commit())
}
