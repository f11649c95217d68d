package settlementstore_test

import (
	"context"
	"database/sql"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/paygate/paygate/pg"
	"github.com/paygate/paygate/settlement"
	"github.com/paygate/paygate/store"
	"github.com/paygate/paygate/store/settlementstore"
	"github.com/paygate/paygate/store/storetest"
)

var seedFirst = time.Date(2026, 1, 1, 0, 0, 0, 0, settlement.Seoul)

// The daily report sums every entry once, exactly, per day and PG; the
// monthly one is the sum of its days; filters keep one PG and one method.
func TestReport_DailyAndMonthlySumsMatchTheEntries(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		t.Parallel()
		ctx := context.Background()
		want := seed(t, db, 5900, 100, seedFirst) // 59 days: January and February
		l := settlement.NewLedger(settlementstore.New(db))

		got := seedTotals{}
		var rows []settlement.ReportRow
		tot, err := l.Report(ctx, settlement.ReportQuery{From: seedFirst, To: seedFirst.AddDate(0, 0, 58)}, func(r settlement.ReportRow) error {
			rows = append(rows, r)
			k := [2]string{r.Date, r.PG}
			v := got[k]
			v.sales += r.Gross
			v.refunds += r.Refunds
			v.net += r.Net
			got[k] = v
			return nil
		})
		require.NoError(t, err)
		assert.Equal(t, want, got)
		assert.Equal(t, int64(5900), tot.SalesCount+tot.RefundCount)
		assert.Equal(t, int64(1180), tot.RefundCount)
		for i := 1; i < len(rows); i++ {
			a, b := rows[i-1], rows[i]
			assert.LessOrEqual(t, a.Date+a.PG+a.Method, b.Date+b.PG+b.Method, "rows in order")
		}
		var payouts int64
		for _, p := range tot.Payouts {
			payouts += p.Amount
			assert.Equal(t, "2026-01-05", min(p.Date, "2026-01-05"), "D+2 business days: the 1st is a holiday, so nothing before the 5th")
		}
		assert.Equal(t, tot.Net, payouts, "the payouts split the net")

		var months []settlement.ReportRow
		mtot, err := l.Report(ctx, settlement.ReportQuery{Period: settlement.Monthly, From: seedFirst, To: seedFirst.AddDate(0, 1, 0)}, func(r settlement.ReportRow) error {
			months = append(months, r)
			return nil
		})
		require.NoError(t, err)
		mtot.Payouts, tot.Payouts = nil, nil
		assert.Equal(t, tot, mtot, "the months sum the days")
		require.Len(t, months, 2*len(seedPGs)*len(seedMethods))
		assert.Equal(t, "2026-01", months[0].Date)
		assert.Equal(t, "2026-02", months[len(months)-1].Date)

		var only []settlement.ReportRow
		_, err = l.Report(ctx, settlement.ReportQuery{From: seedFirst, To: seedFirst.AddDate(0, 0, 9), PG: "kakaopay", Method: "CARD"}, func(r settlement.ReportRow) error {
			only = append(only, r)
			return nil
		})
		require.NoError(t, err)
		require.NotEmpty(t, only)
		for _, r := range only {
			assert.Equal(t, "kakaopay", r.PG)
			assert.Equal(t, "CARD", r.Method)
		}

		_, err = l.Report(ctx, settlement.ReportQuery{From: seedFirst, To: seedFirst.AddDate(0, 0, settlement.MaxDailyDays)}, func(settlement.ReportRow) error { return nil })
		assert.ErrorIs(t, err, settlement.ErrInvalidQuery, "367 days")
		_, err = l.Report(ctx, settlement.ReportQuery{From: seedFirst, To: seedFirst.AddDate(0, 0, -1)}, func(settlement.ReportRow) error { return nil })
		assert.ErrorIs(t, err, settlement.ErrInvalidQuery, "to before from")
	})
}

// The daily report's plan reads only ix_settlement_entries_report, in the
// order it groups by: no temporary table, no sort, no table rows. With a
// PG and a method filter too.
func TestReport_QueryPlanReadsTheCoveringIndexInOrder(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		t.Parallel()
		seed(t, db, 20000, 200, seedFirst)
		s := settlementstore.New(db)
		for _, q := range []settlement.DayQuery{
			{From: seedFirst, To: seedFirst.AddDate(0, 0, 30), Currency: pg.KRW},
			{From: seedFirst, To: seedFirst.AddDate(0, 0, 30), Currency: pg.KRW, PG: "tosspay", Method: "CARD"},
		} {
			plan := explain(t, db, s, q)
			t.Logf("plan for %+v:\n%s", q, plan)
			assert.Contains(t, plan, "ix_settlement_entries_report")
			if db.Dialect() == store.MySQL {
				assert.Contains(t, plan, "Using index")
				assert.NotContains(t, plan, "Using temporary")
				assert.NotContains(t, plan, "Using filesort")
			} else {
				assert.Contains(t, plan, "COVERING INDEX ix_settlement_entries_report")
				assert.NotContains(t, plan, "TEMP B-TREE")
			}
		}
	})
}

// explain returns the plan of the report's query for q, one line per row.
func explain(tb testing.TB, db *store.DB, s *settlementstore.Store, q settlement.DayQuery) string {
	tb.Helper()
	query, args := s.DaysQuery(q)
	prefix := "EXPLAIN "
	if db.Dialect() == store.SQLite {
		prefix = "EXPLAIN QUERY PLAN "
	}
	rows, err := db.SQL().QueryContext(context.Background(), prefix+query, args...)
	require.NoError(tb, err)
	defer rows.Close()
	cols, err := rows.Columns()
	require.NoError(tb, err)
	var out strings.Builder
	for rows.Next() {
		vals := make([]sql.NullString, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		require.NoError(tb, rows.Scan(ptrs...))
		for i, v := range vals {
			out.WriteString(cols[i] + "=" + v.String + " ")
		}
		out.WriteString("\n")
	}
	require.NoError(tb, rows.Err())
	return out.String()
}

// BenchmarkReport_DailyByPG seeds PAYGATE_BENCH_ENTRIES ledger entries
// (default 100,000; the README's figure is 1,000,000) over a year and sums
// them per day, PG and method through the ledger, logging the query plan.
//
//	PAYGATE_BENCH_ENTRIES=1000000 go test -run '^$' -bench BenchmarkReport_DailyByPG/mysql -benchtime 5x ./store/settlementstore/
func BenchmarkReport_DailyByPG(b *testing.B) {
	n := 100_000
	if v := os.Getenv("PAYGATE_BENCH_ENTRIES"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n <= 0 {
			b.Fatalf("PAYGATE_BENCH_ENTRIES=%q: want a positive count", v)
		}
	}
	for _, d := range storetest.Dialects {
		b.Run(string(d), func(b *testing.B) {
			db := storetest.Open(b, d)
			perDay := (n + 364) / 365 // every entry within the 365 days reported
			start := time.Now()
			seed(b, db, n, perDay, seedFirst)
			b.Logf("seeded %d entries in %s", n, time.Since(start).Round(time.Millisecond))
			if d == store.MySQL {
				var pool int64
				if err := db.SQL().QueryRow("SELECT @@innodb_buffer_pool_size").Scan(&pool); err != nil {
					b.Fatal(err)
				}
				var pages int64
				if err := db.SQL().QueryRow(`SELECT stat_value FROM mysql.innodb_index_stats WHERE database_name = DATABASE()
					AND table_name = 'settlement_entries' AND index_name = 'ix_settlement_entries_report' AND stat_name = 'size'`).Scan(&pages); err != nil {
					b.Fatal(err)
				}
				b.Logf("innodb_buffer_pool_size = %d MiB; ix_settlement_entries_report is %d MiB", pool>>20, pages*16>>10)
			}
			s := settlementstore.New(db)
			q := settlement.ReportQuery{From: seedFirst, To: seedFirst.AddDate(0, 0, 364)}
			b.Logf("plan:\n%s", explain(b, db, s, settlement.DayQuery{From: q.From, To: q.To, Currency: pg.KRW}))
			l := settlement.NewLedger(s)
			ctx := context.Background()
			if d == store.MySQL {
				settle(b, db)
			}
			// One report first, so every iteration reads a warm index.
			if _, err := l.Report(ctx, q, func(settlement.ReportRow) error { return nil }); err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			var rows int
			for b.Loop() {
				rows = 0
				tot, err := l.Report(ctx, q, func(settlement.ReportRow) error { rows++; return nil })
				if err != nil {
					b.Fatal(err)
				}
				if tot.SalesCount+tot.RefundCount != int64(n) {
					b.Fatalf("report counted %d entries, seeded %d", tot.SalesCount+tot.RefundCount, n)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/report")
			b.ReportMetric(float64(rows), "rows")
		})
	}
}

// settle waits, up to two minutes, for MariaDB to write out the pages the
// seed dirtied, so the report is timed against a server at rest rather
// than one flushing a million fresh rows in the background.
func settle(b *testing.B, db *store.DB) {
	b.Helper()
	start := time.Now()
	var name string
	var dirty int64
	for time.Since(start) < 2*time.Minute {
		if err := db.SQL().QueryRow("SHOW GLOBAL STATUS LIKE 'Innodb_buffer_pool_pages_dirty'").Scan(&name, &dirty); err != nil {
			b.Fatal(err)
		}
		if dirty < 1000 {
			break
		}
		time.Sleep(time.Second)
	}
	b.Logf("%d dirty pages left after waiting %s for the seed's writes to settle", dirty, time.Since(start).Round(time.Second))
}
