package adminstore_test

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/paygate/paygate/admin"
	"github.com/paygate/paygate/pg"
	"github.com/paygate/paygate/store"
	"github.com/paygate/paygate/store/adminstore"
	"github.com/paygate/paygate/store/storetest"
)

var seoul = func() *time.Location {
	loc, err := time.LoadLocation("Asia/Seoul")
	if err != nil {
		panic(err)
	}
	return loc
}()

// seed is one payment to write, with its checkout's order name.
type seed struct {
	id, order, name, pg, status, method string
	amount, approved, canceled          int64
	at                                  time.Time
}

func insert(t testing.TB, db *store.DB, seeds ...seed) {
	t.Helper()
	require.NoError(t, db.InTx(context.Background(), func(ctx context.Context, tx *sql.Tx) error {
		for _, s := range seeds {
			if err := db.InsertCheckout(ctx, tx, &store.Checkout{OrderID: s.order, PG: s.pg, Amount: pg.Won(s.amount), OrderName: s.name, CreatedAt: s.at}); err != nil && !strings.Contains(err.Error(), "duplicate") {
				return err
			}
			p := &store.Payment{ID: s.id, PG: s.pg, OrderID: s.order, Amount: pg.Won(s.amount), Status: pg.Status(s.status),
				Method: s.method, CreatedAt: s.at}
			if s.approved > 0 {
				p.ApprovedAmount, p.ApprovedAt = pg.Won(s.approved), s.at
				p.CanceledAmount = pg.Won(s.canceled)
			}
			if err := db.InsertPayment(ctx, tx, p); err != nil {
				return err
			}
		}
		return nil
	}))
}

var base = time.Date(2026, 3, 1, 1, 0, 0, 0, time.UTC)

// corpus is 40 payments, one a minute, every fourth sharing its minute
// with the one before (so ties break on the id).
func corpus() []seed {
	pgs := []string{"tosspay", "kakaopay", "inicis"}
	statuses := []string{"APPROVED", "FAILED", "CANCELED", "PARTIAL_CANCELED"}
	var out []seed
	for i := range 40 {
		at := base.Add(time.Duration(i) * time.Minute)
		if i%4 == 3 {
			at = base.Add(time.Duration(i-1) * time.Minute)
		}
		s := seed{
			id: fmt.Sprintf("pay_%03d", i), order: fmt.Sprintf("ord-%03d", i), name: fmt.Sprintf("Linen Shirt %d", i),
			pg: pgs[i%3], status: statuses[i%4], method: []string{"card", "transfer"}[i%2],
			amount: int64(1000 * (i + 1)), at: at,
		}
		switch s.status {
		case "APPROVED":
			s.approved = s.amount
		case "CANCELED":
			s.approved, s.canceled = s.amount, s.amount
		case "PARTIAL_CANCELED":
			s.approved, s.canceled = s.amount, 500
		}
		out = append(out, s)
	}
	out[5].name = "한글 주문 <script>alert(1)</script>"
	out[6].name = "100% cotton"
	out[7].name = "100 cotton"
	return out
}

// newest orders seeds as the search does: created_at, then id, descending.
func newest(seeds []seed) []string {
	var ids []string
	for i := len(seeds) - 1; i >= 0; i-- {
		ids = append(ids, seeds[i].id)
	}
	// Seeds i and i-1 share a minute for i%4 == 3; the higher id comes
	// first, as in the slice's reverse.
	return ids
}

func ids(ps []admin.Payment) []string {
	var out []string
	for _, p := range ps {
		out = append(out, p.ID)
	}
	return out
}

// pageAll walks a search page by page, inserting a newer payment between
// pages: the keyset never repeats or skips a row.
func pageAll(t *testing.T, db *store.DB, s *adminstore.Store, f admin.PaymentFilter) []string {
	t.Helper()
	ctx := context.Background()
	var all []string
	for page := 0; ; page++ {
		got, err := s.SearchPayments(ctx, f)
		require.NoError(t, err)
		all = append(all, ids(got)...)
		if len(got) < f.Limit {
			return all
		}
		last := got[len(got)-1]
		f.After = &admin.Cursor{CreatedAt: last.CreatedAt, ID: last.ID}
		insert(t, db, seed{id: fmt.Sprintf("pay_new_%s_%d", f.Status, page), order: fmt.Sprintf("ord-new-%s-%d", f.Status, page),
			name: "late", pg: "tosspay", status: "APPROVED", method: "card", amount: 1000, approved: 1000, at: base.Add(48 * time.Hour)})
	}
}

func TestSearchPayments_KeysetPagesFiltersAndText(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		t.Parallel()
		ctx := context.Background()
		seeds := corpus()
		insert(t, db, seeds...)
		s := adminstore.New(db)
		window := admin.PaymentFilter{From: base, To: base.Add(24 * time.Hour)}

		f := window
		f.Limit = 7
		assert.Equal(t, newest(seeds), pageAll(t, db, s, f), "pages of 7 in (created_at, id) order, stable under inserts")

		var approved []seed
		for _, sd := range seeds {
			if sd.status == "APPROVED" {
				approved = append(approved, sd)
			}
		}
		f = window
		f.Limit, f.Status = 3, "APPROVED"
		assert.Equal(t, newest(approved), pageAll(t, db, s, f))

		search := func(f admin.PaymentFilter) []string {
			t.Helper()
			if f.Limit == 0 {
				f.Limit = admin.MaxLimit
			}
			if f.From.IsZero() {
				f.From, f.To = window.From, window.To
			}
			got, err := s.SearchPayments(ctx, f)
			require.NoError(t, err)
			return ids(got)
		}
		assert.Equal(t, []string{"pay_012"}, search(admin.PaymentFilter{OrderID: "ord-012"}))
		assert.Equal(t, []string{"pay_013"}, search(admin.PaymentFilter{PaymentID: "pay_013"}))
		assert.Equal(t, []string{"pay_005"}, search(admin.PaymentFilter{Text: "<SCRIPT>"}), "text ignores ASCII case")
		assert.Equal(t, []string{"pay_005"}, search(admin.PaymentFilter{Text: "한글"}))
		assert.Equal(t, []string{"pay_006"}, search(admin.PaymentFilter{Text: "100%"}), "% is a character, not a wildcard")
		assert.Equal(t, []string{"pay_010", "pay_009", "pay_008"}, search(admin.PaymentFilter{MinAmount: pg.Won(9000), MaxAmount: pg.Won(11000)}))
		assert.Equal(t, []string{"pay_027", "pay_015", "pay_003"}, search(admin.PaymentFilter{PG: "tosspay", Method: "transfer", Status: "PARTIAL_CANCELED", MaxAmount: pg.Won(30000)}))
		assert.Empty(t, search(admin.PaymentFilter{PG: "tosspay", Method: "card", Status: "PARTIAL_CANCELED"}))
		assert.Equal(t, []string{"pay_003", "pay_002", "pay_001"}, search(admin.PaymentFilter{From: base.Add(time.Minute), To: base.Add(4 * time.Minute)}), "From inclusive, To exclusive")
		assert.Empty(t, search(admin.PaymentFilter{Status: "UNKNOWN"}))

		_, err := s.SearchPayments(ctx, admin.PaymentFilter{Limit: admin.MaxLimit + 2})
		assert.Error(t, err, "a page is at most MaxLimit, plus the one row that says whether more follow")

		p, err := s.Payment(ctx, "pay_005")
		require.NoError(t, err)
		assert.Equal(t, "한글 주문 <script>alert(1)</script>", p.OrderName)
		assert.True(t, p.Amount.Equal(pg.Won(6000)))
		assert.Equal(t, base.Add(5*time.Minute), p.CreatedAt)
		_, err = s.Payment(ctx, "pay_none")
		assert.ErrorIs(t, err, admin.ErrNotFound)
	})
}

// The first page, a later one and a page filtered by status read one index
// in order: no sort, no temporary table. (On a handful of rows MariaDB
// rightly prefers a scan; 20,000 make the plan the one of a big table.)
func TestSearchPayments_PlanReadsAnIndexInOrder(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		t.Parallel()
		ctx := context.Background()
		bulkSeed(t, db, 20000)
		analyze(t, db)
		s := adminstore.New(db)
		for _, c := range []struct {
			f     admin.PaymentFilter
			index string
		}{
			{admin.PaymentFilter{Limit: 50}, "ix_payments_created"},
			{admin.PaymentFilter{Limit: 50, After: &admin.Cursor{CreatedAt: base.Add(time.Hour), ID: "pay_zzz"}}, "ix_payments_created"},
			{admin.PaymentFilter{Limit: 50, Status: "APPROVED"}, "ix_payments_status_created"},
		} {
			plan, err := s.Explain(ctx, c.f)
			require.NoError(t, err)
			text := strings.Join(plan, "\n")
			t.Logf("%s plan of %+v:\n%s", db.Dialect(), c.f, text)
			assert.Contains(t, text, c.index)
			assert.NotContains(t, strings.ToLower(text), "temp b-tree", "no sort")
			assert.NotContains(t, strings.ToLower(text), "filesort", "no sort")
		}
	})
}

// The dashboard's sums: by PG and by Asia/Seoul day (a payment at 15:30 UTC
// is the next day in Seoul), the totals the PGs' sums, the open unknowns of
// any day.
func TestStats_SumsByPGAndSeoulDay(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		t.Parallel()
		ctx := context.Background()
		day := time.Date(2026, 3, 1, 0, 0, 0, 0, seoul)
		insert(t, db,
			seed{id: "pay_a", order: "o-a", pg: "tosspay", status: "APPROVED", amount: 10000, approved: 10000, at: day.Add(time.Hour)},
			seed{id: "pay_b", order: "o-b", pg: "tosspay", status: "PARTIAL_CANCELED", amount: 20000, approved: 20000, canceled: 5000, at: day.Add(23*time.Hour + 30*time.Minute)},
			seed{id: "pay_c", order: "o-c", pg: "inicis", status: "FAILED", amount: 7000, at: day.Add(24*time.Hour + time.Minute)},
			seed{id: "pay_d", order: "o-d", pg: "inicis", status: "UNKNOWN", amount: 3000, at: day.Add(25 * time.Hour)},
			seed{id: "pay_e", order: "o-e", pg: "inicis", status: "UNKNOWN", amount: 3000, at: day.Add(-time.Hour)},
		)
		st, err := adminstore.New(db).Stats(ctx, admin.StatsFilter{From: day, To: day.Add(48 * time.Hour), Currency: pg.KRW})
		require.NoError(t, err)
		assert.EqualValues(t, 4, st.Count)
		assert.EqualValues(t, 2, st.Captured)
		assert.True(t, st.ApprovedAmount.Equal(pg.Won(30000)), "%s", st.ApprovedAmount)
		assert.True(t, st.RefundedAmount.Equal(pg.Won(5000)), "%s", st.RefundedAmount)
		assert.EqualValues(t, 2, st.OpenUnknown, "unknown outcomes of any day")
		require.Len(t, st.ByPG, 2)
		assert.Equal(t, "inicis", st.ByPG[0].Key)
		assert.EqualValues(t, 2, st.ByPG[0].Count)
		assert.EqualValues(t, 0, st.ByPG[0].Captured)
		assert.Equal(t, "tosspay", st.ByPG[1].Key)
		assert.True(t, st.ByPG[1].ApprovedAmount.Equal(pg.Won(30000)))
		require.Len(t, st.ByDay, 2)
		assert.Equal(t, "2026-03-01", st.ByDay[0].Key)
		assert.EqualValues(t, 2, st.ByDay[0].Count, "23:30 KST is still the 1st")
		assert.Equal(t, "2026-03-02", st.ByDay[1].Key)
		assert.EqualValues(t, 2, st.ByDay[1].Count)

		_, err = adminstore.New(db).Stats(ctx, admin.StatsFilter{From: day, To: day, Currency: "XXX"})
		assert.Error(t, err)
	})
}
