package settlementstore_test

import (
	"context"
	"database/sql"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/paygate/paygate/pg"
	"github.com/paygate/paygate/settlement"
	"github.com/paygate/paygate/store"
	"github.com/paygate/paygate/store/settlementstore"
	"github.com/paygate/paygate/store/storetest"
)

var fees = settlement.RateFee{Rate: decimal.RequireFromString("0.032")}

// at is 23:30 on 2026-03-02 in Seoul (14:30 UTC); an hour later it is the
// 3rd in Seoul and still the 2nd in UTC, so dates that follow UTC show.
var at = time.Date(2026, 3, 2, 14, 30, 0, 0, time.UTC)

func record(t *testing.T, typ settlement.EntryType, source, paymentID, pgName string, amount pg.Money, when time.Time) *settlement.Record {
	t.Helper()
	mk := settlement.Sale
	if typ == settlement.EntryRefund {
		mk = settlement.Refund
	}
	e, err := mk(fees, pgName, pg.MethodCard, amount, when, 2)
	require.NoError(t, err)
	return &settlement.Record{SourceKey: source, PaymentID: paymentID, OrderID: "o-" + paymentID, PG: pgName,
		Method: string(pg.MethodCard), Entry: e, BusinessDate: when}
}

func write(t *testing.T, db *store.DB, l *settlement.Ledger, r *settlement.Record) bool {
	t.Helper()
	var inserted bool
	require.NoError(t, db.InTx(context.Background(), func(ctx context.Context, tx *sql.Tx) error {
		var err error
		inserted, err = l.Record(ctx, tx, r)
		return err
	}))
	return inserted
}

func TestLedger_RecordByPayment_RoundTripAndOncePerSource(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		t.Parallel()
		ctx := context.Background()
		l := settlement.NewLedger(settlementstore.New(db))
		sale := record(t, settlement.EntrySale, "sale:pay_1", "pay_1", "tosspay", pg.Won(15000), at)
		sale.CreatedAt = at
		require.True(t, write(t, db, l, sale))
		assert.NotEmpty(t, sale.ID, "the ledger names the entry")

		again := record(t, settlement.EntrySale, "sale:pay_1", "pay_1", "tosspay", pg.Won(15000), at)
		assert.False(t, write(t, db, l, again), "the same sale twice records once")

		refund := record(t, settlement.EntryRefund, "refund:cnl_1", "pay_1", "tosspay", pg.Won(5000), at.Add(time.Hour))
		refund.CreatedAt = at.Add(time.Hour)
		require.True(t, write(t, db, l, refund))

		got, err := l.ByPayment(ctx, "pay_1")
		require.NoError(t, err)
		require.Len(t, got, 2)
		assert.Equal(t, sale.ID, got[0].ID, "in the order recorded")
		assert.Equal(t, settlement.EntrySale, got[0].Type)
		assert.Equal(t, "o-pay_1", got[0].OrderID)
		assert.Equal(t, string(pg.MethodCard), got[0].Method)
		for _, m := range []struct{ got, want pg.Money }{
			{got[0].Gross, sale.Gross}, {got[0].Fee, sale.Fee}, {got[0].VAT, sale.VAT}, {got[0].Net, sale.Net},
			{got[1].Gross, refund.Gross}, {got[1].Net, refund.Net},
		} {
			assert.True(t, m.got.Equal(m.want), "%s != %s", m.got, m.want)
		}
		assert.Equal(t, "2026-03-02", got[0].BusinessDate.Format("2006-01-02"), "the Seoul day")
		assert.Equal(t, settlement.Seoul, got[0].BusinessDate.Location())
		assert.Equal(t, "2026-03-03", got[1].BusinessDate.Format("2006-01-02"), "00:30 in Seoul is the next day")
		assert.True(t, got[0].Payout.Equal(sale.Payout), "payout %s, want %s", got[0].Payout, sale.Payout)
		assert.True(t, got[0].CreatedAt.Equal(at))

		none, err := l.ByPayment(ctx, "pay_none")
		require.NoError(t, err)
		assert.Empty(t, none)
	})
}

func TestLedger_Record_FollowsTheCallersTransaction(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		t.Parallel()
		ctx := context.Background()
		l := settlement.NewLedger(settlementstore.New(db))
		err := db.InTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
			ok, err := l.Record(ctx, tx, record(t, settlement.EntrySale, "sale:pay_rb", "pay_rb", "kakaopay", pg.Won(1000), at))
			require.NoError(t, err)
			require.True(t, ok)
			return assert.AnError
		})
		require.ErrorIs(t, err, assert.AnError)
		got, err := l.ByPayment(ctx, "pay_rb")
		require.NoError(t, err)
		assert.Empty(t, got, "rolled back with the transaction")
		assert.True(t, write(t, db, l, record(t, settlement.EntrySale, "sale:pay_rb", "pay_rb", "kakaopay", pg.Won(1000), at)),
			"the source key is free again")
	})
}

func TestLedger_Record_RefusesIncompleteOrMixedEntriesAndWritesNothing(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		t.Parallel()
		ctx := context.Background()
		l := settlement.NewLedger(settlementstore.New(db))
		noSource := record(t, settlement.EntrySale, "", "pay_bad", "tosspay", pg.Won(1000), at)
		mixed := record(t, settlement.EntrySale, "sale:pay_bad", "pay_bad", "tosspay", pg.Won(1000), at)
		mixed.Fee = pg.MustMoney("1", "USD")
		for _, r := range []*settlement.Record{noSource, mixed} {
			err := db.InTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
				_, err := l.Record(ctx, tx, r)
				return err
			})
			assert.Error(t, err)
		}
		got, err := l.ByPayment(ctx, "pay_bad")
		require.NoError(t, err)
		assert.Empty(t, got)
	})
}

func TestLedger_Daily_SumsPerPGDayAndCurrencyOverInclusiveSeoulDays(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		t.Parallel()
		ctx := context.Background()
		l := settlement.NewLedger(settlementstore.New(db))
		day2, day3 := at, at.Add(time.Hour) // Seoul's 2nd and 3rd
		entries := []*settlement.Record{
			record(t, settlement.EntrySale, "sale:a", "pay_a", "tosspay", pg.Won(10000), day2),
			record(t, settlement.EntrySale, "sale:b", "pay_b", "tosspay", pg.Won(20000), day2),
			record(t, settlement.EntryRefund, "refund:a", "pay_a", "tosspay", pg.Won(4000), day2),
			record(t, settlement.EntrySale, "sale:c", "pay_c", "tosspay", pg.Won(7000), day3),
			record(t, settlement.EntrySale, "sale:d", "pay_d", "inicis", pg.Won(3000), day2),
			record(t, settlement.EntrySale, "sale:e", "pay_e", "tosspay", pg.Won(9000), day2.AddDate(0, 0, -1)),
		}
		for _, r := range entries {
			require.True(t, write(t, db, l, r))
		}
		// Seoul's 2nd only: the day before and the 3rd stay out.
		got, err := l.Daily(ctx, day2, day2)
		require.NoError(t, err)
		require.Len(t, got, 2)
		assert.Equal(t, "inicis", got[0].PG, "ordered by PG")
		toss := got[1]
		assert.Equal(t, settlement.DayTotal{PG: "tosspay", Day: "2026-03-02", Currency: pg.KRW, Sales: 30000, Refunds: 4000,
			Fees: sum(entries[0].Fee, entries[0].VAT, entries[1].Fee, entries[1].VAT) - sum(entries[2].Fee, entries[2].VAT),
			Net:  sum(entries[0].Net, entries[1].Net) - sum(entries[2].Net)}, toss)

		got, err = l.Daily(ctx, day2, day3)
		require.NoError(t, err)
		require.Len(t, got, 3)
		assert.Equal(t, "2026-03-03", got[2].Day)
		assert.EqualValues(t, 7000, got[2].Sales)
	})
}

func sum(ms ...pg.Money) int64 {
	var n int64
	for _, m := range ms {
		n += m.Int64()
	}
	return n
}

func TestLedger_WithoutStore_FailsInsteadOfPanicking(t *testing.T) {
	t.Parallel()
	l := settlement.NewLedger(nil)
	_, err := l.ByPayment(context.Background(), "pay_1")
	assert.Error(t, err)
	_, err = l.Daily(context.Background(), at, at)
	assert.Error(t, err)
	_, err = l.Record(context.Background(), nil, &settlement.Record{})
	assert.Error(t, err)
}

// RecordBatch writes a batch in one statement and says which entries are
// new: a source key already in the ledger, or repeated in the batch, keeps
// the entry it has. An invalid record fails the batch with nothing written.
func TestLedger_RecordBatch_OnePerSourceAndSaysWhichAreNew(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		t.Parallel()
		ctx := context.Background()
		l := settlement.NewLedger(settlementstore.New(db))
		require.True(t, write(t, db, l, record(t, settlement.EntrySale, "sale:pay_old", "pay_old", "tosspay", pg.Won(1000), at)))

		batch := []*settlement.Record{
			record(t, settlement.EntrySale, "sale:pay_a", "pay_a", "tosspay", pg.Won(15000), at),
			record(t, settlement.EntrySale, "sale:pay_old", "pay_old", "tosspay", pg.Won(1000), at),
			record(t, settlement.EntryRefund, "refund:cnl_a", "pay_a", "tosspay", pg.Won(5000), at),
			record(t, settlement.EntrySale, "sale:pay_a", "pay_a", "tosspay", pg.Won(15000), at),
		}
		var inserted []bool
		require.NoError(t, db.InTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
			var err error
			inserted, err = l.RecordBatch(ctx, tx, batch)
			return err
		}))
		assert.Equal(t, []bool{true, false, true, false}, inserted)
		got, err := l.ByPayment(ctx, "pay_a")
		require.NoError(t, err)
		require.Len(t, got, 2)
		ids := []string{got[0].ID, got[1].ID}
		assert.ElementsMatch(t, []string{batch[0].ID, batch[2].ID}, ids, "the new entries, as the batch named them")
		old, err := l.ByPayment(ctx, "pay_old")
		require.NoError(t, err)
		assert.Len(t, old, 1)

		bad := []*settlement.Record{
			record(t, settlement.EntrySale, "sale:pay_b", "pay_b", "tosspay", pg.Won(2000), at),
			{SourceKey: "sale:pay_c", PG: "tosspay"}, // no payment
		}
		err = db.InTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
			_, err := l.RecordBatch(ctx, tx, bad)
			return err
		})
		require.Error(t, err)
		none, err := l.ByPayment(ctx, "pay_b")
		require.NoError(t, err)
		assert.Empty(t, none, "nothing of an invalid batch is written")
	})
}

// RecordNew in a transaction whose writes are deferred puts the entries
// into the flush (one INSERT) and reports them new; an entry whose source
// key exists then fails the flush as a duplicate and nothing of the
// transaction is written. Without deferral it is RecordBatch, exact.
func TestLedger_RecordNew_DeferredToTheFlush_ADuplicateFailsIt(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		t.Parallel()
		ctx := context.Background()
		l := settlement.NewLedger(settlementstore.New(db))
		require.True(t, write(t, db, l, record(t, settlement.EntrySale, "sale:pay_there", "pay_there", "tosspay", pg.Won(1000), at)))

		fresh := []*settlement.Record{
			record(t, settlement.EntrySale, "sale:pay_n1", "pay_n1", "tosspay", pg.Won(15000), at),
			record(t, settlement.EntrySale, "sale:pay_n2", "pay_n2", "tosspay", pg.Won(9000), at),
		}
		require.NoError(t, db.InTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
			ctx, deferred := db.WithDeferred(ctx)
			inserted, err := l.RecordNew(ctx, tx, fresh)
			if err != nil {
				return err
			}
			assert.Equal(t, []bool{true, true}, inserted)
			got, err := l.ByPayment(context.Background(), "pay_n1")
			require.NoError(t, err)
			assert.Empty(t, got, "nothing written before the flush")
			return deferred.Flush(ctx, tx)
		}))
		for _, r := range fresh {
			got, err := l.ByPayment(ctx, r.PaymentID)
			require.NoError(t, err)
			require.Len(t, got, 1)
			assert.Equal(t, r.ID, got[0].ID)
		}

		clash := []*settlement.Record{
			record(t, settlement.EntrySale, "sale:pay_n3", "pay_n3", "tosspay", pg.Won(3000), at),
			record(t, settlement.EntrySale, "sale:pay_there", "pay_there", "tosspay", pg.Won(1000), at),
		}
		err := db.InTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
			ctx, deferred := db.WithDeferred(ctx)
			if _, err := l.RecordNew(ctx, tx, clash); err != nil {
				return err
			}
			return deferred.Flush(ctx, tx)
		})
		require.ErrorIs(t, err, store.ErrDuplicate)
		none, err := l.ByPayment(ctx, "pay_n3")
		require.NoError(t, err)
		assert.Empty(t, none, "the flush wrote nothing")

		// The same records without deferral: exact, the existing one not new.
		clash[0].ID, clash[1].ID = "", ""
		require.NoError(t, db.InTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
			inserted, err := l.RecordNew(ctx, tx, clash)
			if err == nil {
				assert.Equal(t, []bool{true, false}, inserted)
			}
			return err
		}))
		there, err := l.ByPayment(ctx, "pay_there")
		require.NoError(t, err)
		assert.Len(t, there, 1)
	})
}
