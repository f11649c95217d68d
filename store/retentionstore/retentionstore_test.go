package retentionstore

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/paygate/paygate/store"
	"github.com/paygate/paygate/store/storetest"
)

// seed writes n rows of every target, half of them old (at old) and half
// young, in multi-row statements.
func seed(t testing.TB, db *store.DB, n int, old, young time.Time) {
	t.Helper()
	ctx := context.Background()
	insert := func(head, row string, args func(i int, at time.Time) []any) {
		for from := 0; from < n; from += 200 {
			var q strings.Builder
			q.WriteString(head)
			var all []any
			for i := from; i < min(n, from+200); i++ {
				if i > from {
					q.WriteString(", ")
				}
				q.WriteString(row)
				at := old
				if i%2 == 1 {
					at = young
				}
				all = append(all, args(i, at.UTC().Truncate(time.Microsecond))...)
			}
			_, err := db.SQL().ExecContext(ctx, q.String(), all...)
			require.NoError(t, err)
		}
	}
	states := []string{"COMPLETED", "COMPENSATED", "RUNNING", "NEEDS_ATTENTION"}
	insert("INSERT INTO saga_instances (id, definition, business_key, state, step_index, version, created_at, updated_at) VALUES ",
		"(?, 'payment', ?, ?, 0, 1, ?, ?)", func(i int, at time.Time) []any {
			id := fmt.Sprintf("saga-%06d", i)
			return []any{id, id, states[(i/2)%len(states)], at, at}
		})
	insert("INSERT INTO saga_steps (saga_id, step, op, status, attempts, updated_at) VALUES ",
		"(?, 'approve', 'action', 'DONE', 1, ?)", func(i int, at time.Time) []any {
			return []any{fmt.Sprintf("saga-%06d", i), at}
		})
	insert("INSERT INTO saga_events (id, type, event_key, occurred_at, created_at) VALUES ",
		"(?, 'PAYMENT_APPROVED', ?, ?, ?)", func(i int, at time.Time) []any {
			id := fmt.Sprintf("evt-%06d", i)
			return []any{id, id, at, at}
		})
	dstates := []string{"DONE", "DONE", "PENDING", "DEAD"}
	insert("INSERT INTO saga_deliveries (event_id, subscriber, event_key, status, created_at, updated_at) VALUES ",
		"(?, 'settlement', ?, ?, ?, ?)", func(i int, at time.Time) []any {
			id := fmt.Sprintf("evt-%06d", i)
			return []any{id, id, dstates[(i/2)%len(dstates)], at, at}
		})
	insert("INSERT INTO webhook_deliveries (id, pg, dedup_key, event_type, event, headers, body, body_sha256, received_at) VALUES ",
		"(?, 'tosspay', ?, 'PAYMENT_STATUS_CHANGED', '{}', '{}', ?, '', ?)", func(i int, at time.Time) []any {
			id := fmt.Sprintf("whk-%06d", i)
			return []any{id, id, []byte("{}"), at}
		})
}

func count(t testing.TB, db *store.DB, query string, args ...any) int {
	t.Helper()
	var n int
	require.NoError(t, db.SQL().QueryRow(query, args...).Scan(&n), query)
	return n
}

// pruneAll runs every target to the end as paygate.Prune does, with a
// small batch so keyset paging over ties is exercised.
func pruneAll(t *testing.T, s *Store, before time.Time, batch int) map[Target]Deleted {
	t.Helper()
	out := map[Target]Deleted{}
	for _, target := range Targets {
		var cur Cursor
		for {
			ids, next, err := s.Batch(context.Background(), target, before, cur, batch)
			require.NoError(t, err)
			if len(ids) == 0 {
				break
			}
			assert.LessOrEqual(t, len(ids), batch)
			del, err := s.Delete(context.Background(), target, before, ids)
			require.NoError(t, err)
			sum := out[target]
			sum.Rows += del.Rows
			sum.Steps += del.Steps
			out[target] = sum
			cur = next
		}
	}
	return out
}

func TestPrune_OldRowsOfEachTargetGo_OpenAndYoungStay(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		t.Parallel()
		now := time.Now()
		// Every old row has the same time: the keyset must page over ties.
		old, young := now.Add(-100*24*time.Hour), now.Add(-time.Hour)
		const n = 400
		seed(t, db, n, old, young)
		s := New(db)
		before := now.Add(-90 * 24 * time.Hour)

		counts := map[Target]int64{}
		for _, target := range Targets {
			c, err := s.Count(context.Background(), target, before)
			require.NoError(t, err)
			counts[target] = c
		}
		freed, err := s.CountFreedEvents(context.Background(), before, before)
		require.NoError(t, err)
		steps, err := s.CountSteps(context.Background(), before)
		require.NoError(t, err)

		got := pruneAll(t, s, before, 7)
		// Of the n/2 old sagas, half are COMPLETED or COMPENSATED.
		assert.Equal(t, Deleted{Rows: n / 4, Steps: n / 4}, got[FinishedSagas])
		assert.Equal(t, Deleted{Rows: n / 4}, got[DoneDeliveries])
		assert.Equal(t, Deleted{Rows: n / 4}, got[DeliveredEvents], "the events of the deleted deliveries")
		assert.Equal(t, Deleted{Rows: n / 2}, got[WebhookLog])
		assert.Equal(t, counts[FinishedSagas], got[FinishedSagas].Rows)
		assert.Equal(t, steps, got[FinishedSagas].Steps)
		assert.Equal(t, counts[DoneDeliveries], got[DoneDeliveries].Rows)
		assert.Zero(t, counts[DeliveredEvents], "before the deliveries went, no old event was free")
		assert.Equal(t, freed, got[DeliveredEvents].Rows)
		assert.Equal(t, counts[WebhookLog], got[WebhookLog].Rows)

		assert.Zero(t, count(t, db, "SELECT COUNT(*) FROM saga_instances WHERE state IN ('COMPLETED', 'COMPENSATED') AND updated_at < ?", before))
		assert.Equal(t, n/4, count(t, db, "SELECT COUNT(*) FROM saga_instances WHERE state IN ('RUNNING', 'NEEDS_ATTENTION') AND updated_at < ?", before), "open sagas stay")
		assert.Equal(t, n/2, count(t, db, "SELECT COUNT(*) FROM saga_instances WHERE updated_at >= ?", before), "young sagas stay")
		assert.Equal(t, n-n/4, count(t, db, "SELECT COUNT(*) FROM saga_steps"))
		assert.Equal(t, n/4, count(t, db, "SELECT COUNT(*) FROM saga_deliveries WHERE status IN ('PENDING', 'DEAD') AND updated_at < ?", before), "pending and dead deliveries stay")
		assert.Zero(t, count(t, db, "SELECT COUNT(*) FROM saga_events e WHERE NOT EXISTS (SELECT 1 FROM saga_deliveries d WHERE d.event_id = e.id) AND created_at < ?", before))
		assert.Equal(t, n-n/4, count(t, db, "SELECT COUNT(*) FROM saga_events"))
		assert.Equal(t, n/2, count(t, db, "SELECT COUNT(*) FROM webhook_deliveries"))

		again := pruneAll(t, s, before, 50)
		for _, target := range Targets {
			assert.Zero(t, again[target], target)
		}
	})
}

func TestDelete_RowThatNoLongerQualifies_IsKept(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		t.Parallel()
		now := time.Now()
		seed(t, db, 8, now.Add(-100*24*time.Hour), now)
		s := New(db)
		before := now.Add(-90 * 24 * time.Hour)
		ids, _, err := s.Batch(context.Background(), DoneDeliveries, before, Cursor{}, 10)
		require.NoError(t, err)
		require.NotEmpty(t, ids)
		// Redelivered meanwhile (it was dead, an operator retried it):
		// pending again, it must not go.
		_, err = db.SQL().Exec("UPDATE saga_deliveries SET status = 'PENDING' WHERE id = ?", ids[0])
		require.NoError(t, err)
		del, err := s.Delete(context.Background(), DoneDeliveries, before, ids)
		require.NoError(t, err)
		assert.Equal(t, int64(len(ids)-1), del.Rows)
		assert.Equal(t, 1, count(t, db, "SELECT COUNT(*) FROM saga_deliveries WHERE id = ?", ids[0]))
	})
}

func TestLease_OneHolderAtATime_TakenOverOnceExpired(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		t.Parallel()
		ctx := context.Background()
		s := New(db)
		now := time.Now()
		l, err := s.LeaseOf(ctx, "job")
		require.NoError(t, err)
		assert.Equal(t, Lease{Name: "job"}, l)

		held, err := s.Take(ctx, "job", "a", now, now.Add(time.Minute))
		require.NoError(t, err)
		assert.True(t, held)
		held, err = s.Take(ctx, "job", "b", now.Add(time.Second), now.Add(time.Minute))
		require.NoError(t, err)
		assert.False(t, held, "a holds it")
		held, err = s.Take(ctx, "job", "a", now.Add(time.Second), now.Add(2*time.Minute))
		require.NoError(t, err)
		assert.True(t, held, "the holder renews")
		held, err = s.Take(ctx, "job", "b", now.Add(3*time.Minute), now.Add(4*time.Minute))
		require.NoError(t, err)
		assert.True(t, held, "a's lease ran out")
		require.NoError(t, s.Release(ctx, "job", "a", now.Add(3*time.Minute), true))
		l, err = s.LeaseOf(ctx, "job")
		require.NoError(t, err)
		assert.Equal(t, "b", l.Owner, "a release by a former holder changes nothing")
		assert.True(t, l.DoneAt.IsZero())
		done := now.Add(5 * time.Minute)
		require.NoError(t, s.Release(ctx, "job", "b", done, true))
		l, err = s.LeaseOf(ctx, "job")
		require.NoError(t, err)
		assert.Empty(t, l.Owner)
		assert.WithinDuration(t, done, l.DoneAt, time.Millisecond)
		held, err = s.Take(ctx, "job", "c", done, done.Add(time.Minute))
		require.NoError(t, err)
		assert.True(t, held, "released, it is free at once")
	})
}

func TestLease_ConcurrentTakers_ExactlyOneWins(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		t.Parallel()
		s := New(db)
		now := time.Now()
		const n = 8
		won := make(chan bool, n)
		for i := range n {
			go func() {
				held, err := s.Take(context.Background(), "race", fmt.Sprintf("owner-%d", i), now, now.Add(time.Minute))
				assert.NoError(t, err)
				won <- held
			}()
		}
		wins := 0
		for range n {
			if <-won {
				wins++
			}
		}
		assert.Equal(t, 1, wins)
	})
}

// explain returns EXPLAIN's rows as column → value maps.
func explain(t *testing.T, db *store.DB, query string, args ...any) []map[string]string {
	t.Helper()
	rows, err := db.SQL().Query("EXPLAIN "+query, args...)
	require.NoError(t, err, query)
	defer rows.Close()
	cols, err := rows.Columns()
	require.NoError(t, err)
	var out []map[string]string
	for rows.Next() {
		vals := make([]sql.NullString, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		require.NoError(t, rows.Scan(ptrs...))
		m := map[string]string{}
		for i, c := range cols {
			m[c] = vals[i].String
		}
		out = append(out, m)
	}
	require.NoError(t, rows.Err())
	return out
}

// TestExplain_EveryPruneStatementUsesItsIndex checks on MariaDB that each
// batch query reads a range of its index in order (no table scan, no
// filesort) and that each delete finds its rows by the ids it names.
func TestExplain_EveryPruneStatementUsesItsIndex(t *testing.T) {
	t.Parallel()
	db := storetest.Open(t, store.MySQL)
	now := time.Now()
	seed(t, db, 4000, now.Add(-100*24*time.Hour), now)
	for _, table := range []string{"saga_instances", "saga_steps", "saga_events", "saga_deliveries", "webhook_deliveries"} {
		_, err := db.SQL().Exec("ANALYZE TABLE " + table)
		require.NoError(t, err)
	}
	before := now.Add(-90 * 24 * time.Hour)
	index := map[Target]string{
		FinishedSagas:   "ix_saga_instances_state_updated",
		DoneDeliveries:  "ix_saga_deliveries_status_updated",
		DeliveredEvents: "ix_saga_events_created",
		WebhookLog:      "ix_webhook_deliveries_received",
	}
	table := map[Target]string{FinishedSagas: "saga_instances", DoneDeliveries: "saga_deliveries", DeliveredEvents: "saga_events", WebhookLog: "webhook_deliveries"}
	for _, target := range Targets {
		for _, keyset := range []bool{false, true} {
			query, err := selectSQL(target, keyset)
			require.NoError(t, err)
			cur := Cursor{}
			if keyset {
				cur = Cursor{at: before.Add(-24 * time.Hour), id: "x", primed: true}
				if target == DoneDeliveries {
					cur.id = int64(10)
				}
			}
			plan := explain(t, db, query, cur.args(target, before, 500)...)
			var main map[string]string
			for _, row := range plan {
				if row["table"] == table[target] {
					main = row
				}
			}
			require.NotNil(t, main, "%s: %v", target, plan)
			assert.Equal(t, index[target], main["key"], "%s keyset=%v: %v", target, keyset, plan)
			assert.Equal(t, "range", main["type"], "%s keyset=%v: %v", target, keyset, plan)
			assert.NotContains(t, main["Extra"], "filesort", "%s keyset=%v: %v", target, keyset, plan)
			if target == DeliveredEvents {
				for _, row := range plan {
					if row["table"] == "d" {
						assert.Equal(t, "uq_saga_deliveries_event_subscriber", row["key"], "the NOT EXISTS probe: %v", plan)
					}
				}
			}
		}
	}
	ids := []any{"a", "b", "c"}
	for _, d := range []struct {
		query string
		args  []any
		table string
	}{
		{lockSagasSQL(3, store.MySQL), append(ids, before), "saga_instances"},
		{deleteStepsSQL(3), ids, "saga_steps"},
		{deleteSQL(FinishedSagas, 3), ids, "saga_instances"},
		{deleteSQL(DoneDeliveries, 3), []any{1, 2, 3, before}, "saga_deliveries"},
		{deleteSQL(DeliveredEvents, 3), append(ids, before), "saga_events"},
		{deleteSQL(WebhookLog, 3), append(ids, before), "webhook_deliveries"},
	} {
		plan := explain(t, db, d.query, d.args...)
		found := false
		for _, row := range plan {
			if row["table"] == d.table {
				found = true
				// By primary key, or by (status, id) for deliveries:
				// either way a point per id named, never a scan.
				assert.Contains(t, []string{"PRIMARY", "ix_saga_deliveries_status"}, row["key"], "%s: %v", d.query, plan)
				assert.Equal(t, "range", row["type"], "%s: %v", d.query, plan)
				rows, err := strconv.Atoi(row["rows"])
				require.NoError(t, err)
				assert.LessOrEqual(t, rows, 3, "%s: %v", d.query, plan)
			}
		}
		assert.True(t, found, "%s: %v", d.query, plan)
	}
}
