package sagastore_test

import (
	"context"
	"database/sql"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/paygate/paygate/outbox"
	"github.com/paygate/paygate/saga"
	"github.com/paygate/paygate/store"
	"github.com/paygate/paygate/store/sagastore"
	"github.com/paygate/paygate/store/storetest"
)

var t0 = time.Date(2026, 3, 1, 9, 0, 0, 123456000, time.UTC)

func instance(id string, runAt time.Time) saga.InstanceRecord {
	return saga.InstanceRecord{
		ID: id, Definition: "payment", BusinessKey: "key-" + id, State: saga.Running,
		Payload: []byte(`{"a":1}`), RunAt: runAt, Version: 1, CreatedAt: t0, UpdatedAt: t0,
	}
}

func insert(t *testing.T, db *store.DB, s *sagastore.Store, recs ...saga.InstanceRecord) {
	t.Helper()
	require.NoError(t, s.InTx(context.Background(), func(ctx context.Context, tx *sql.Tx) error {
		for _, r := range recs {
			if err := s.InsertInstance(ctx, tx, r, nil); err != nil {
				return err
			}
		}
		return nil
	}))
}

func TestInstances_RoundTripAndCompareAndSet(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		t.Parallel()
		s := sagastore.New(db)
		ctx := context.Background()
		in := instance("s1", t0)
		insert(t, db, s, in)
		got, err := s.Instance(ctx, nil, "s1")
		require.NoError(t, err)
		assert.Equal(t, in, got, "every field, times to the microsecond in UTC")

		err = s.InTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
			return s.InsertInstance(ctx, tx, instance("s2", t0), nil)
		})
		require.NoError(t, err)
		dup := instance("s3", t0)
		dup.BusinessKey = "key-s1"
		err = s.InTx(ctx, func(ctx context.Context, tx *sql.Tx) error { return s.InsertInstance(ctx, tx, dup, nil) })
		require.ErrorIs(t, err, saga.ErrDuplicate)

		next := got
		next.State, next.StepIndex, next.Version, next.Reason = saga.Compensating, 2, 2, "step failed"
		next.RunAt = time.Time{}
		var ok bool
		require.NoError(t, s.InTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
			var err error
			ok, err = s.UpdateInstance(ctx, tx, saga.InstanceUpdate{Record: next, PrevVersion: 1})
			return err
		}))
		require.True(t, ok)
		stale := got
		stale.State, stale.Version = saga.Completed, 2
		require.NoError(t, s.InTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
			var err error
			ok, err = s.UpdateInstance(ctx, tx, saga.InstanceUpdate{Record: stale, PrevVersion: 1})
			return err
		}))
		assert.False(t, ok, "a write based on version 1 is refused after version 2")
		got, err = s.Instance(ctx, nil, "s1")
		require.NoError(t, err)
		assert.Equal(t, saga.Compensating, got.State)
		assert.Zero(t, got.RunAt)

		_, err = s.Instance(ctx, nil, "nope")
		assert.ErrorIs(t, err, saga.ErrNotFound)
		_, err = s.InstanceByKey(ctx, nil, "payment", "nope")
		assert.ErrorIs(t, err, saga.ErrNotFound)
		byKey, err := s.InstanceByKey(ctx, nil, "payment", "key-s2")
		require.NoError(t, err)
		assert.Equal(t, "s2", byKey.ID)
	})
}

func TestClaimInstances_DueOnlyLeasesAndExtendLeaseCAS(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		t.Parallel()
		s := sagastore.New(db)
		ctx := context.Background()
		insert(t, db, s,
			instance("due-1", t0),
			instance("due-2", t0.Add(time.Microsecond)),
			instance("later", t0.Add(2*time.Microsecond)),
			instance("never", time.Time{}),
		)
		other := instance("other", t0)
		other.Definition = "other"
		insert(t, db, s, other)
		var got []saga.InstanceRecord
		claim := saga.Claim{Definitions: []string{"payment"}, Owner: "r1", Token: "tok", Now: t0.Add(time.Microsecond), LeaseUntil: t0.Add(time.Minute), Limit: 10}
		require.NoError(t, s.InTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
			var err error
			got, err = s.ClaimInstances(ctx, tx, claim)
			return err
		}))
		require.Len(t, got, 2)
		assert.Equal(t, []string{"due-1", "due-2"}, []string{got[0].ID, got[1].ID})
		for _, g := range got {
			assert.EqualValues(t, 2, g.Version)
			assert.Equal(t, "tok", g.LeaseToken)
			stored, err := s.Instance(ctx, nil, g.ID)
			require.NoError(t, err)
			assert.Equal(t, g, stored)
		}
		// Leased rows are not due again until the lease expires.
		require.NoError(t, s.InTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
			again, err := s.ClaimInstances(ctx, tx, claim)
			assert.Empty(t, again)
			return err
		}))
		extend := func(token string, version int64) bool {
			var ok bool
			require.NoError(t, s.InTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
				var err error
				ok, err = s.ExtendLease(ctx, tx, "due-1", token, version, t0.Add(time.Hour))
				return err
			}))
			return ok
		}
		assert.False(t, extend("tok", 1), "stale version")
		assert.False(t, extend("other-token", 2), "someone else's lease")
		assert.True(t, extend("tok", 2))
	})
}

// WakeInstance makes a waiting, unleased instance due now; on a leased one
// it only counts the wake-up, leaving the version for the lease holder,
// whose release with a retry is then due at once and clears the count. A
// claim clears it too; other states are left alone.
func TestWakeInstance_DueNowOrCountedForTheLeaseHolder(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		t.Parallel()
		s := sagastore.New(db)
		ctx := context.Background()
		later := t0.Add(time.Hour)
		done := instance("done", time.Time{})
		done.State = saga.Completed
		insert(t, db, s, instance("waiting", later), instance("due", t0), done)
		leased := instance("leased", later)
		leased.LeaseOwner, leased.LeaseToken = "r1", "tok"
		insert(t, db, s, leased)
		wake := func(id string, now time.Time) bool {
			var ok bool
			require.NoError(t, s.InTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
				var err error
				ok, err = s.WakeInstance(ctx, tx, "payment", "key-"+id, now)
				return err
			}))
			return ok
		}
		get := func(id string) saga.InstanceRecord {
			r, err := s.Instance(ctx, nil, id)
			require.NoError(t, err)
			return r
		}
		now := t0.Add(time.Minute)

		assert.True(t, wake("waiting", now))
		w := get("waiting")
		assert.Equal(t, now, w.RunAt)
		assert.EqualValues(t, 2, w.Version)
		assert.Zero(t, w.Wakes)
		assert.False(t, wake("due", now), "already due")
		assert.False(t, wake("done", now), "terminal")
		assert.False(t, wake("missing", now))
		assert.Equal(t, instance("due", t0), get("due"))

		assert.True(t, wake("leased", now))
		assert.True(t, wake("leased", now))
		l := get("leased")
		assert.Equal(t, 2, l.Wakes)
		assert.EqualValues(t, 1, l.Version, "the lease holder's compare-and-set still lands")
		assert.Equal(t, later, l.RunAt)

		// The lease holder releases it with a retry an hour on: due at
		// its write's time instead, and the count is cleared.
		update := func(next saga.InstanceRecord, prev int64) {
			var ok bool
			require.NoError(t, s.InTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
				var err error
				ok, err = s.UpdateInstance(ctx, tx, saga.InstanceUpdate{Record: next, PrevVersion: prev})
				return err
			}))
			require.True(t, ok)
		}
		next := l
		next.LeaseOwner, next.LeaseToken, next.Version = "", "", 2
		next.UpdatedAt, next.RunAt = now, now.Add(time.Hour)
		update(next, 1)
		l = get("leased")
		assert.Equal(t, now, l.RunAt, "woken while leased: due at once")
		assert.Zero(t, l.Wakes)
		// Without a wake-up the retry keeps its time.
		next.Version = 3
		update(next, 2)
		assert.Equal(t, now.Add(time.Hour), get("leased").RunAt)

		// A claim clears the count: the attempt it dispatches comes after
		// the news.
		again := instance("again", t0)
		again.Definition, again.LeaseToken, again.Wakes = "refund", "old", 3
		insert(t, db, s, again)
		require.NoError(t, s.InTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
			got, err := s.ClaimInstances(ctx, tx, saga.Claim{Definitions: []string{"refund"}, Owner: "r2", Token: "tok2",
				Now: t0, LeaseUntil: t0.Add(time.Minute), Limit: 10})
			require.Len(t, got, 1)
			assert.Zero(t, got[0].Wakes)
			return err
		}))
		assert.Zero(t, get("again").Wakes)
	})
}

// TestClaimInstances_MySQL_SkipLocked_DisjointWithoutWaiting: a claim that
// runs while another claim transaction holds its rows takes the next rows
// instead of waiting.
func TestClaimInstances_MySQL_SkipLocked_DisjointWithoutWaiting(t *testing.T) {
	db := storetest.Open(t, store.MySQL)
	s := sagastore.New(db)
	ctx := context.Background()
	for i := range 6 {
		insert(t, db, s, instance(fmt.Sprintf("s%d", i), t0.Add(time.Duration(i)*time.Second)))
	}
	claim := func(tx *sql.Tx, token string) []string {
		recs, err := s.ClaimInstances(ctx, tx, saga.Claim{Definitions: []string{"payment"}, Owner: token, Token: token,
			Now: t0.Add(time.Hour), LeaseUntil: t0.Add(2 * time.Hour), Limit: 3})
		require.NoError(t, err)
		var ids []string
		for _, r := range recs {
			ids = append(ids, r.ID)
		}
		return ids
	}
	tx1, err := db.SQL().BeginTx(ctx, nil)
	require.NoError(t, err)
	defer tx1.Rollback()
	first := claim(tx1, "a")
	// The server would wait 50s for a locked row; SKIP LOCKED does not.
	tx2, err := db.SQL().BeginTx(ctx, nil)
	require.NoError(t, err)
	defer tx2.Rollback()
	_, err = tx2.ExecContext(ctx, "SET SESSION innodb_lock_wait_timeout = 1")
	require.NoError(t, err)
	second := claim(tx2, "b")
	assert.Equal(t, []string{"s0", "s1", "s2"}, first)
	assert.Equal(t, []string{"s3", "s4", "s5"}, second)
	require.NoError(t, tx1.Commit())
	require.NoError(t, tx2.Commit())
}

// TestSteps_KeptInTheInstanceRow: an instance's step records are written
// with it (insert, update, SetSteps), each write replacing the whole set
// and a write without records leaving them; an instance whose row has no
// records (written before they moved there) reads its saga_steps rows until
// it is written with records.
func TestSteps_KeptInTheInstanceRow(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		t.Parallel()
		s := sagastore.New(db)
		ctx := context.Background()
		inTx := func(fn func(ctx context.Context, tx *sql.Tx) error) { require.NoError(t, s.InTx(ctx, fn)) }
		steps := func(ids ...string) []saga.StepRecord {
			got, err := s.Steps(ctx, nil, ids...)
			require.NoError(t, err)
			return got
		}
		a := saga.StepRecord{SagaID: "s1", Step: "approve", Op: saga.OpAction, Status: saga.StepDispatched, Attempts: 1, UpdatedAt: t0}
		c := saga.StepRecord{SagaID: "s1", Step: "approve", Op: saga.OpCompensate, Status: saga.StepDispatched, Attempts: 1, UpdatedAt: t0}
		in := instance("s1", t0)
		inTx(func(ctx context.Context, tx *sql.Tx) error {
			return s.InsertInstance(ctx, tx, in, []saga.StepRecord{a})
		})
		insert(t, db, s, instance("s2", t0))
		assert.Equal(t, []saga.StepRecord{a}, steps("s1", "s2"), "s2 has none")

		// An update with records replaces them all, in the order given.
		a2 := a
		a2.Status, a2.Attempts, a2.Output, a2.LastError = saga.StepDone, 2, []byte("pk\x00\xff"), ""
		a2.UpdatedAt = t0.Add(1500 * time.Nanosecond)
		next := in
		next.Version = 2
		var ok bool
		inTx(func(ctx context.Context, tx *sql.Tx) error {
			var err error
			ok, err = s.UpdateInstance(ctx, tx, saga.InstanceUpdate{Record: next, PrevVersion: 1, Steps: []saga.StepRecord{c, a2}})
			return err
		})
		require.True(t, ok)
		a2.UpdatedAt = t0.Add(time.Microsecond) // kept to the microsecond
		assert.Equal(t, []saga.StepRecord{c, a2}, steps("s1"))

		// One without records leaves them; a refused one writes none.
		next.Version = 3
		inTx(func(ctx context.Context, tx *sql.Tx) error {
			_, err := s.UpdateInstances(ctx, tx, []saga.InstanceUpdate{
				{Record: next, PrevVersion: 2},
				{Record: instance("s2", t0), PrevVersion: 7, Steps: []saga.StepRecord{{SagaID: "s2", Step: "x"}}},
			})
			return err
		})
		assert.Equal(t, []saga.StepRecord{c, a2}, steps("s1", "s2"))

		// SetSteps replaces the set and nothing else.
		inTx(func(ctx context.Context, tx *sql.Tx) error {
			return s.SetSteps(ctx, tx, saga.StepSet{SagaID: "s1", Steps: []saga.StepRecord{a}})
		})
		assert.Equal(t, []saga.StepRecord{a}, steps("s1"))
		got, err := s.Instance(ctx, nil, "s1")
		require.NoError(t, err)
		assert.EqualValues(t, 3, got.Version)

		// An instance from before: its records are saga_steps rows.
		insert(t, db, s, instance("s3", t0))
		_, err = db.SQL().Exec("UPDATE saga_instances SET steps = NULL WHERE id = 's3'")
		require.NoError(t, err)
		_, err = db.SQL().Exec(`INSERT INTO saga_steps (saga_id, step, op, status, attempts, output, last_error, updated_at)
VALUES ('s3', 'approve', 'action', 'DONE', 1, ?, '', ?), ('s3', 'ship', 'action', 'DISPATCHED', 2, NULL, 'timeout', ?)`,
			[]byte("out"), t0, t0.Add(time.Second))
		require.NoError(t, err)
		old := []saga.StepRecord{
			{SagaID: "s3", Step: "approve", Op: saga.OpAction, Status: saga.StepDone, Attempts: 1, Output: []byte("out"), UpdatedAt: t0},
			{SagaID: "s3", Step: "ship", Op: saga.OpAction, Status: saga.StepDispatched, Attempts: 2, LastError: "timeout", UpdatedAt: t0.Add(time.Second)},
		}
		assert.ElementsMatch(t, append([]saga.StepRecord{a}, old...), steps("s1", "s3"))
		done := old[1]
		done.Status, done.LastError = saga.StepDone, ""
		inTx(func(ctx context.Context, tx *sql.Tx) error {
			return s.SetSteps(ctx, tx, saga.StepSet{SagaID: "s3", Steps: []saga.StepRecord{old[0], done}})
		})
		assert.Equal(t, []saga.StepRecord{old[0], done}, steps("s3"), "written once, the row's records are the ones")
	})
}

func TestInstances_FilterAndPaging(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		t.Parallel()
		s := sagastore.New(db)
		ctx := context.Background()
		for i := range 5 {
			in := instance(fmt.Sprintf("s%d", i), t0)
			in.UpdatedAt = t0.Add(time.Duration(i) * time.Second)
			in.CreatedAt = in.UpdatedAt
			if i%2 == 1 {
				in.State = saga.NeedsAttention
			}
			insert(t, db, s, in)
		}
		page, err := s.Instances(ctx, saga.Filter{Limit: 2})
		require.NoError(t, err)
		require.Len(t, page, 2)
		next, err := s.Instances(ctx, saga.Filter{Limit: 2, AfterUpdatedAt: page[1].UpdatedAt, AfterID: page[1].ID})
		require.NoError(t, err)
		assert.Equal(t, []string{"s2", "s3"}, []string{next[0].ID, next[1].ID})
		att, err := s.Instances(ctx, saga.Filter{States: []saga.State{saga.NeedsAttention}})
		require.NoError(t, err)
		assert.Len(t, att, 2)
		old, err := s.Instances(ctx, saga.Filter{CreatedBefore: t0.Add(2 * time.Second)})
		require.NoError(t, err)
		assert.Len(t, old, 2)
	})
}

func TestClaimDeliveries_OrderedHeadOnly(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		t.Parallel()
		s := sagastore.New(db)
		ctx := context.Background()
		for i, key := range []string{"k1", "k1", "k2", "k1"} {
			ev := outbox.Event{ID: fmt.Sprintf("e%d", i), Type: "T", Key: key, OccurredAt: t0}
			ds := []outbox.DeliveryRecord{
				{EventID: ev.ID, Subscriber: "ordered", Key: key, Ordered: true, Status: outbox.DeliveryPending, RunAt: t0, CreatedAt: t0, UpdatedAt: t0},
				{EventID: ev.ID, Subscriber: "any", Key: key, Status: outbox.DeliveryPending, RunAt: t0, CreatedAt: t0, UpdatedAt: t0},
			}
			require.NoError(t, s.InTx(ctx, func(ctx context.Context, tx *sql.Tx) error { return s.InsertEvent(ctx, tx, ev, ds) }))
		}
		claim := func(sub string) []string {
			var ids []string
			require.NoError(t, s.InTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
				ds, err := s.ClaimDeliveries(ctx, tx, outbox.DeliveryClaim{Subscribers: []string{sub}, Token: "t-" + sub,
					Now: t0, LeaseUntil: t0.Add(time.Minute), Limit: 10})
				for _, d := range ds {
					ids = append(ids, d.EventID)
					assert.Equal(t, 1, d.Attempts)
					assert.Equal(t, d.EventID, d.Event.ID)
				}
				return err
			}))
			return ids
		}
		assert.Equal(t, []string{"e0", "e2"}, claim("ordered"), "only the first pending event of each key")
		assert.Equal(t, []string{"e0", "e1", "e2", "e3"}, claim("any"))
		assert.Empty(t, claim("ordered"), "the heads are leased, the rest wait")
	})
}

// UpdateInstances writes several instances in one statement exactly as
// UpdateInstance writes each — every field, the run-at of a woken one
// released with a retry moved to its write's time, the wake count
// cleared — and counts only those still at their expected version.
func TestUpdateInstances_EachAsUpdateInstanceAndCounted(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		t.Parallel()
		s := sagastore.New(db)
		ctx := context.Background()
		later := t0.Add(time.Hour)
		a, b, c := instance("a", later), instance("b", later), instance("c", later)
		for _, in := range []*saga.InstanceRecord{&a, &b, &c} {
			in.LeaseOwner, in.LeaseToken = "r1", "tok-"+in.ID
		}
		insert(t, db, s, a, b, c)
		woken := false
		require.NoError(t, s.InTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
			var err error
			woken, err = s.WakeInstance(ctx, tx, "payment", "key-b", t0)
			return err
		}))
		require.True(t, woken)

		now := t0.Add(time.Minute)
		na := a
		na.State, na.StepIndex, na.Version, na.Reason, na.UpdatedAt = saga.Completed, 2, 2, "", now
		na.LeaseOwner, na.LeaseToken, na.RunAt = "", "", time.Time{}
		nb := b // released with a retry an hour on, but woken while leased
		nb.StepIndex, nb.Version, nb.Reason, nb.UpdatedAt = 1, 2, "step \"x\" attempt 1 failed", now
		nb.LeaseOwner, nb.LeaseToken, nb.RunAt = "", "", now.Add(time.Hour)
		nc := c // still leased, next step dispatched
		nc.StepIndex, nc.Version, nc.UpdatedAt, nc.RunAt = 1, 2, now, now.Add(30*time.Second)
		var n int
		require.NoError(t, s.InTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
			var err error
			n, err = s.UpdateInstances(ctx, tx, []saga.InstanceUpdate{{Record: na, PrevVersion: 1}, {Record: nb, PrevVersion: 1}, {Record: nc, PrevVersion: 1}})
			return err
		}))
		assert.Equal(t, 3, n)
		get := func(id string) saga.InstanceRecord {
			r, err := s.Instance(ctx, nil, id)
			require.NoError(t, err)
			return r
		}
		assert.Equal(t, na, get("a"))
		wantB := nb
		wantB.RunAt = now
		assert.Equal(t, wantB, get("b"), "woken while leased: due at once, count cleared")
		assert.Equal(t, nc, get("c"))

		// One of them moved on meanwhile: it is not written and not
		// counted (the caller rolls back).
		na2, nc2 := na, nc
		na2.Version, na2.Reason = 3, "again"
		nc2.Version, nc2.Reason = 3, "again"
		require.NoError(t, s.InTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
			var err error
			n, err = s.UpdateInstances(ctx, tx, []saga.InstanceUpdate{{Record: na2, PrevVersion: 2}, {Record: nc2, PrevVersion: 1}})
			return err
		}))
		assert.Equal(t, 1, n)
		assert.Equal(t, nc, get("c"), "a stale version is not written")
	})
}

// A claim that holds (for work in its own transaction) writes nothing: the
// deliveries it returns count the attempt, and the transaction then marks
// each done or leases it, or leaves it as it was, due.
func TestClaimDeliveries_HoldThenDoneOrLeased(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		t.Parallel()
		s := sagastore.New(db)
		ctx := context.Background()
		for i := range 4 {
			ev := outbox.Event{ID: fmt.Sprintf("h%d", i), Type: "T", Key: "k", OccurredAt: t0}
			ds := []outbox.DeliveryRecord{{EventID: ev.ID, Subscriber: "sub", Key: "k", Status: outbox.DeliveryPending, RunAt: t0, CreatedAt: t0, UpdatedAt: t0}}
			require.NoError(t, s.InTx(ctx, func(ctx context.Context, tx *sql.Tx) error { return s.InsertEvent(ctx, tx, ev, ds) }))
		}
		c := outbox.DeliveryClaim{Subscribers: []string{"sub"}, Token: "held", Now: t0, LeaseUntil: t0.Add(time.Minute), Limit: 3, Hold: true}
		tx, err := db.SQL().BeginTx(ctx, nil)
		require.NoError(t, err)
		defer tx.Rollback()
		held, err := s.ClaimDeliveries(ctx, tx, c)
		require.NoError(t, err)
		require.Len(t, held, 3)
		for _, d := range held {
			assert.Equal(t, 1, d.Attempts, "the claim's attempt is counted")
			assert.Empty(t, d.LeaseToken, "nothing is leased")
		}
		n, err := s.MarkHeldDone(ctx, tx, []int64{held[0].ID}, t0.Add(time.Second))
		require.NoError(t, err)
		assert.Equal(t, 1, n)
		require.NoError(t, s.LeaseDeliveries(ctx, tx, []int64{held[1].ID}, c))
		require.NoError(t, tx.Commit())

		get := func(id int64) outbox.DeliveryRecord {
			d, err := s.Delivery(ctx, nil, id)
			require.NoError(t, err)
			return d
		}
		done := get(held[0].ID)
		assert.Equal(t, outbox.DeliveryDone, done.Status)
		assert.Equal(t, 1, done.Attempts)
		assert.Zero(t, done.RunAt)
		leased := get(held[1].ID)
		assert.Equal(t, outbox.DeliveryPending, leased.Status)
		assert.Equal(t, 1, leased.Attempts)
		assert.Equal(t, "held", leased.LeaseToken)
		assert.True(t, leased.RunAt.Equal(t0.Add(time.Minute)))
		untouched := get(held[2].ID)
		assert.Equal(t, outbox.DeliveryPending, untouched.Status)
		assert.Zero(t, untouched.Attempts)
		assert.Empty(t, untouched.LeaseToken)
		assert.True(t, untouched.RunAt.Equal(t0), "still due")
	})
}
