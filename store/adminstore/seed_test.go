package adminstore_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/paygate/paygate/store"
)

// seedStart is when bulkSeed's payments start: one year of them up to it.
var seedStart = time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)

// seedSpan is the time bulkSeed spreads its payments over.
const seedSpan = 365 * 24 * time.Hour

var seedNames = []string{"린넨 셔츠", "Linen shirt", "커피 원두 1kg", "Wool socks", "무선 이어폰", "Desk lamp", "텀블러", "Notebook A5"}

// bulkSeed writes n payments (and their checkouts) with multi-row INSERTs,
// spread over a year: 80% approved, 10% failed, 5% canceled, 5% partly
// canceled, over three PGs and three methods. Deterministic.
func bulkSeed(tb testing.TB, db *store.DB, n int) {
	tb.Helper()
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(1, 2))
	const batch = 1000
	pgs := []string{"tosspay", "kakaopay", "inicis"}
	methods := []string{"card", "transfer", "virtual_account"}
	for start := 0; start < n; start += batch {
		end := min(start+batch, n)
		var pays, chks []string
		var pargs, cargs []any
		for i := start; i < end; i++ {
			at := seedStart.Add(time.Duration(int64(seedSpan) / int64(n) * int64(i))).UTC()
			id := fmt.Sprintf("pay_%s_%08d", at.Format("20060102150405"), i)
			order := fmt.Sprintf("ord-%08d", i)
			amount := int64(1000 * (1 + rng.IntN(500)))
			status, approved, canceled := "APPROVED", amount, int64(0)
			switch r := rng.IntN(100); {
			case r < 10:
				status, approved = "FAILED", 0
			case r < 15:
				status, canceled = "CANCELED", amount
			case r < 20:
				status, canceled = "PARTIAL_CANCELED", amount/2
			}
			var approvedAt any
			if approved > 0 {
				approvedAt = at
			}
			pgName := pgs[rng.IntN(len(pgs))]
			pays = append(pays, "(?, ?, ?, ?, ?, 'KRW', ?, ?, ?, ?, '', '', ?, ?, ?, 1)")
			pargs = append(pargs, id, pgName, "key-"+order, order, amount, status, approved, canceled,
				methods[rng.IntN(len(methods))], approvedAt, at, at)
			chks = append(chks, "(?, ?, ?, 'KRW', ?, ?, ?)")
			cargs = append(cargs, order, pgName, amount, seedNames[rng.IntN(len(seedNames))]+" #"+fmt.Sprint(i), at, at)
		}
		_, err := db.SQL().ExecContext(ctx, `INSERT INTO payments (id, pg, payment_key, order_id, amount, currency, status,
approved_amount, canceled_amount, method, failure_code, failure_message, approved_at, created_at, updated_at, version) VALUES `+
			strings.Join(pays, ", "), pargs...)
		require.NoError(tb, err)
		_, err = db.SQL().ExecContext(ctx, `INSERT INTO checkouts (order_id, pg, amount, currency, order_name, created_at, updated_at) VALUES `+
			strings.Join(chks, ", "), cargs...)
		require.NoError(tb, err)
	}
}

// analyze refreshes the optimizer's statistics after a bulk load.
func analyze(tb testing.TB, db *store.DB) {
	tb.Helper()
	stmt := "ANALYZE TABLE payments, checkouts"
	if db.Dialect() == store.SQLite {
		stmt = "ANALYZE"
	}
	rows, err := db.SQL().QueryContext(context.Background(), stmt)
	require.NoError(tb, err)
	require.NoError(tb, rows.Close())
}
