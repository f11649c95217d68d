package settlementstore_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/paygate/paygate/settlement"
	"github.com/paygate/paygate/store"
)

// seedPGs and seedMethods are what seeded entries are spread over.
var (
	seedPGs     = []string{"inicis", "kakaopay", "tosspay"}
	seedMethods = []string{"CARD", "EASY_PAY", "TRANSFER", "VIRTUAL_ACCOUNT"}
)

// seedTotals is what seed wrote, summed per business day and PG (signed:
// sales minus refunds), to check the report against.
type seedTotals map[[2]string]struct{ sales, refunds, net int64 }

// seed writes n ledger entries spread over the days from first on (one
// day in Seoul per perDay entries), every fifth a refund, with multi-row
// INSERTs of 1,000 rows in one transaction per 20,000: the fast way into
// either database, bypassing the ledger's one-entry writes.
func seed(tb testing.TB, db *store.DB, n, perDay int, first time.Time) seedTotals {
	tb.Helper()
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(1, uint64(n)))
	totals := seedTotals{}
	const rowsPerInsert, rowsPerTx = 1000, 20000
	created := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for start := 0; start < n; start += rowsPerTx {
		tx, err := db.SQL().BeginTx(ctx, nil)
		if err != nil {
			tb.Fatal(err)
		}
		for chunk := start; chunk < min(n, start+rowsPerTx); chunk += rowsPerInsert {
			var sb strings.Builder
			sb.WriteString(`INSERT INTO settlement_entries (id, source_key, payment_id, order_id, pg, method, entry_type,
				currency, gross, fee, vat, net, business_date, payout_date, created_at) VALUES `)
			args := make([]any, 0, rowsPerInsert*15)
			for i := chunk; i < min(n, chunk+rowsPerInsert); i++ {
				if i > chunk {
					sb.WriteString(",")
				}
				sb.WriteString("(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)")
				day := first.AddDate(0, 0, i/perDay)
				pgName := seedPGs[rng.IntN(len(seedPGs))]
				method := seedMethods[rng.IntN(len(seedMethods))]
				typ, source := settlement.EntrySale, fmt.Sprintf("sale:pay_%d", i)
				if i%5 == 4 {
					typ, source = settlement.EntryRefund, fmt.Sprintf("refund:cnl_%d", i)
				}
				gross := int64(1000 + rng.IntN(500_000))
				fee := gross * 32 / 1000
				vat := fee / 10
				net := gross - fee - vat
				date := day.Format("2006-01-02")
				payout := settlement.PayoutDate(day, 2).Format("2006-01-02")
				args = append(args, fmt.Sprintf("stl_%d", i), source, fmt.Sprintf("pay_%d", i), fmt.Sprintf("order-%d", i),
					pgName, method, string(typ), "KRW", gross, fee, vat, net, date, payout, created)
				t := totals[[2]string{date, pgName}]
				if typ == settlement.EntrySale {
					t.sales += gross
					t.net += net
				} else {
					t.refunds += gross
					t.net -= net
				}
				totals[[2]string{date, pgName}] = t
			}
			if _, err := tx.ExecContext(ctx, sb.String(), args...); err != nil {
				_ = tx.Rollback()
				tb.Fatal(err)
			}
		}
		if err := tx.Commit(); err != nil {
			tb.Fatal(err)
		}
	}
	if db.Dialect() == store.MySQL {
		if _, err := db.SQL().ExecContext(ctx, "ANALYZE TABLE settlement_entries"); err != nil {
			tb.Fatal(err)
		}
	} else if _, err := db.SQL().ExecContext(ctx, "ANALYZE"); err != nil {
		tb.Fatal(err)
	}
	return totals
}
