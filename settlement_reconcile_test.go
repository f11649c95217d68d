package paygate_test

import (
	"context"
	"database/sql"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/paygate/paygate"
	"github.com/paygate/paygate/pg"
	"github.com/paygate/paygate/pg/pgtest"
	"github.com/paygate/paygate/settlement"
	"github.com/paygate/paygate/store"
	"github.com/paygate/paygate/store/settlementstore"
	"github.com/paygate/paygate/store/storetest"
	"github.com/paygate/paygate/tosspay"
	"github.com/paygate/paygate/tosspay/tosspaytest"
)

// newTossPayFee is newTossPay whose sandbox keeps fee (VAT included) of
// every amount in its settlement report: 3.52% is testFees' 3.2% plus 10%
// VAT on it.
func newTossPayFee(t *testing.T, fee string) sandboxPG {
	t.Helper()
	clock := &sandboxClock{}
	srv := tosspaytest.NewServer(tosspaytest.Options{HoldMax: 2 * time.Second, Now: clock.Now, FeeRate: decimal.RequireFromString(fee)})
	t.Cleanup(srv.Close)
	edge := newEdge(func(r *http.Request) bool { return strings.HasSuffix(r.URL.Path, "/cancel") })
	gw, err := tosspay.New(tosspay.Config{SecretKey: srv.SecretKey(), BaseURL: srv.URL, HTTPClient: edge.client(),
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	require.NoError(t, err)
	return sandboxPG{name: gw.Name(), gateway: gw, sandbox: srv, edge: edge, clock: clock}
}

// kst is a wall-clock time in Seoul.
func kst(y int, m time.Month, d, h int) time.Time {
	return time.Date(y, m, d, h, 0, 0, 0, settlement.Seoul)
}

// pay approves an order at the PG's time at and waits for its ledger.
func (f *flow) payAt(at time.Time, orderID string, amount int64) string {
	f.t.Helper()
	f.pg.clock.stopAt(at)
	res, err := f.p.Approve(context.Background(), f.checkout(orderID, amount, pgtest.FaultNone))
	require.NoError(f.t, err)
	require.Equal(f.t, pg.StatusApproved, res.Status)
	f.settled(res.PaymentID)
	return res.PaymentID
}

func byKind(run *settlement.Run) map[settlement.DifferenceKind][]settlement.Difference {
	out := map[settlement.DifferenceKind][]settlement.Difference{}
	for _, d := range run.Days {
		for _, x := range d.Differences {
			out[x.Kind] = append(out[x.Kind], x)
		}
	}
	return out
}

// Reconciliation with Toss's settlement report compares each payment of
// each day: a sale the ledger lost is recorded again through the
// subscriber's write, and a fee, a payout date and an entry the PG does
// not have are flagged for the operators; the run is stored and listed.
func TestReconcile_TossSettlementReport_FlagsEachKindAndRecordsTheLostSale(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		t.Parallel()
		f := newFlow(t, db, newTossPayFee(t, "0.0352"), func(c *paygate.Config) { c.Sync.Disabled = true })
		ctx := context.Background()
		// The week of Monday 2026-03-09, no holidays in it.
		kept := f.payAt(kst(2026, 3, 9, 10), "order-recon-kept", 10_000)
		partly := f.payAt(kst(2026, 3, 9, 11), "order-recon-partly", 20_000)
		_, err := f.p.Cancel(ctx, paygate.CancelRequest{PaymentID: partly, Amount: pg.Won(5_000), Reason: "one item", IdempotencyKey: "recon-1"})
		require.NoError(t, err)
		f.settled(partly)
		lost := f.payAt(kst(2026, 3, 10, 9), "order-recon-lost", 30_000)
		feeOff := f.payAt(kst(2026, 3, 11, 15), "order-recon-fee", 40_000)
		friday := f.payAt(kst(2026, 3, 13, 16), "order-recon-friday", 50_000)

		// The ledger loses a sale, and one fee is off by a won.
		_, err = db.SQL().ExecContext(ctx, `DELETE FROM settlement_entries WHERE source_key = ?`, "sale:"+lost)
		require.NoError(t, err)
		_, err = db.SQL().ExecContext(ctx, `UPDATE settlement_entries SET fee = fee + 1, net = net - 1 WHERE source_key = ?`, "sale:"+feeOff)
		require.NoError(t, err)
		// An entry of a payment the PG never had.
		ghost, err := settlement.Sale(testFees, "tosspay", pg.MethodCard, pg.Won(7_000), kst(2026, 3, 12, 12), 2)
		require.NoError(t, err)
		require.NoError(t, db.InTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
			_, err := f.p.Ledger().Record(ctx, tx, &settlement.Record{SourceKey: "sale:pay_ghost", PaymentID: "pay_ghost",
				OrderID: "order-ghost", PG: "tosspay", Method: "CARD", Entry: ghost, BusinessDate: kst(2026, 3, 12, 12)})
			return err
		}))

		// Toss reports a day from the next day on.
		f.pg.clock.stopAt(kst(2026, 3, 16, 9))
		run, err := f.p.Reconciler().Reconcile(ctx, "tosspay", kst(2026, 3, 9, 0), kst(2026, 3, 13, 0))
		require.NoError(t, err)
		assert.Equal(t, settlement.SourceSettlementReport, run.Source)
		kinds := byKind(run)
		t.Logf("run: %+v", run)

		require.Len(t, kinds[settlement.MissingInLedger], 1)
		m := kinds[settlement.MissingInLedger][0]
		assert.Equal(t, lost, m.PaymentID)
		assert.Equal(t, "30000", m.Theirs)
		assert.True(t, m.Recorded, "the lost sale is recorded by the run")
		recs, err := f.p.Ledger().ByPayment(ctx, lost)
		require.NoError(t, err)
		require.Len(t, recs, 1, "exactly one entry again")
		assert.Equal(t, "2026-03-10", recs[0].BusinessDate.Format("2006-01-02"), "dated by the approval")
		assert.Contains(t, f.eventTypes(lost), paygate.EventSettlementRecorded)

		require.Len(t, kinds[settlement.FeeDiffers], 1)
		assert.Equal(t, feeOff, kinds[settlement.FeeDiffers][0].PaymentID)
		assert.Equal(t, "1409", kinds[settlement.FeeDiffers][0].Ours)
		assert.Equal(t, "1408", kinds[settlement.FeeDiffers][0].Theirs)

		require.Len(t, kinds[settlement.PayoutDateDiffers], 1, "Toss's sandbox pays out D+2 calendar days: a Friday's sale on Sunday")
		assert.Equal(t, friday, kinds[settlement.PayoutDateDiffers][0].PaymentID)
		assert.Equal(t, "2026-03-17", kinds[settlement.PayoutDateDiffers][0].Ours, "D+2 business days")
		assert.Equal(t, "2026-03-15", kinds[settlement.PayoutDateDiffers][0].Theirs)

		require.Len(t, kinds[settlement.MissingAtPG], 1)
		assert.Equal(t, "pay_ghost", kinds[settlement.MissingAtPG][0].PaymentID)
		assert.Empty(t, kinds[settlement.AmountDiffers], "the partial refund matches")

		for _, d := range run.Days {
			require.NotNil(t, d.PGNet, d.Date)
			switch d.Date {
			case "2026-03-09":
				assert.Equal(t, int64(25_000), d.LedgerNet, "two sales and a refund")
				assert.Equal(t, int64(25_000), *d.PGNet)
				assert.Empty(t, d.Differences, kept)
			case "2026-03-10":
				assert.Equal(t, int64(0), d.LedgerNet, "the lost sale, as the run found it")
				assert.Equal(t, int64(30_000), *d.PGNet)
			}
		}
		assert.Equal(t, 4, run.Differences)
		assert.Equal(t, 1, run.Recorded)

		runs, err := f.p.Reconciler().Runs(ctx, "tosspay", 10)
		require.NoError(t, err)
		require.Len(t, runs, 1)
		assert.Equal(t, run.ID, runs[0].ID)
		assert.Equal(t, run.Days, runs[0].Days, "stored as run")
		assert.Equal(t, "2026-03-09", runs[0].From.Format("2006-01-02"))

		again, err := f.p.Reconciler().Reconcile(ctx, "tosspay", kst(2026, 3, 9, 0), kst(2026, 3, 13, 0))
		require.NoError(t, err)
		assert.Empty(t, byKind(again)[settlement.MissingInLedger], "recorded once, found the next time")
		assert.Equal(t, 3, again.Differences, "the rest waits for the operators")
	})
}

// For a PG without a settlement report, every payment approved in the
// range is checked against paygate's rows and a sample at the PG: a lost
// sale is recorded once the PG confirms the capture; a payment the PG
// does not know and a ledger that disagrees are flagged.
func TestReconcile_ByLookup_RecordsConfirmedSalesAndFlagsTheRest(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		t.Parallel()
		f := newFlow(t, db, newKakaoPay(t), func(c *paygate.Config) { c.Sync.Disabled = true })
		ctx := context.Background()
		ok := f.payAt(kst(2026, 3, 9, 10), "order-kakao-ok", 10_000)
		lost := f.payAt(kst(2026, 3, 9, 11), "order-kakao-lost", 20_000)
		skewed := f.payAt(kst(2026, 3, 10, 12), "order-kakao-skewed", 30_000)

		_, err := db.SQL().ExecContext(ctx, `DELETE FROM settlement_entries WHERE source_key = ?`, "sale:"+lost)
		require.NoError(t, err)
		refund, err := settlement.Refund(testFees, "kakaopay", pg.MethodMoney, pg.Won(1_000), kst(2026, 3, 10, 13), 2)
		require.NoError(t, err)
		require.NoError(t, db.InTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
			_, err := f.p.Ledger().Record(ctx, tx, &settlement.Record{SourceKey: "refund:cnl_phantom", PaymentID: skewed,
				OrderID: "order-kakao-skewed", PG: "kakaopay", Method: "MONEY", Entry: refund, BusinessDate: kst(2026, 3, 10, 13)})
			return err
		}))
		// A payment row the PG never had, approved by our records alone.
		unknown := store.NewPaymentID()
		require.NoError(t, db.InTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
			return db.InsertPayment(ctx, tx, &store.Payment{ID: unknown, PG: "kakaopay", PaymentKey: "T_not_at_the_pg",
				OrderID: "order-kakao-unknown", Amount: pg.Won(5_000), Status: pg.StatusApproved,
				ApprovedAmount: pg.Won(5_000), ApprovedAt: kst(2026, 3, 10, 14)})
		}))

		run, err := f.p.Reconciler().Reconcile(ctx, "kakaopay", kst(2026, 3, 9, 0), kst(2026, 3, 10, 0))
		require.NoError(t, err)
		assert.Equal(t, settlement.SourceLookup, run.Source)
		t.Logf("run: %+v", run)
		kinds := byKind(run)

		require.Len(t, kinds[settlement.MissingInLedger], 1)
		assert.Equal(t, lost, kinds[settlement.MissingInLedger][0].PaymentID)
		assert.True(t, kinds[settlement.MissingInLedger][0].Recorded)
		recs, err := f.p.Ledger().ByPayment(ctx, lost)
		require.NoError(t, err)
		require.Len(t, recs, 1)

		require.Len(t, kinds[settlement.MissingAtPG], 1)
		assert.Equal(t, unknown, kinds[settlement.MissingAtPG][0].PaymentID)
		recs, err = f.p.Ledger().ByPayment(ctx, unknown)
		require.NoError(t, err)
		assert.Empty(t, recs, "nothing recorded for a capture the PG does not confirm")

		require.Len(t, kinds[settlement.AmountDiffers], 2, "against our row and against the PG")
		for _, d := range kinds[settlement.AmountDiffers] {
			assert.Equal(t, skewed, d.PaymentID)
			assert.Equal(t, "29000", d.Ours)
			assert.Equal(t, "30000", d.Theirs)
		}
		assert.Equal(t, 4, run.Checked)
		assert.Equal(t, 4, run.Sampled, "the sample covers all four")
		for _, d := range run.Days {
			assert.Nil(t, d.PGNet, "a sampled check has no PG figure for the day")
		}
		for _, ds := range kinds {
			for _, d := range ds {
				assert.NotEqual(t, ok, d.PaymentID, "a payment that agrees everywhere is not flagged")
			}
		}
	})
}

// Refused before anything runs: an unknown PG, a range backwards or too
// long.
func TestReconcile_RefusesBadInput(t *testing.T) {
	db := storetest.Open(t, store.SQLite)
	f := newFlow(t, db, newTossPay(t))
	ctx := context.Background()
	day := kst(2026, 3, 9, 0)
	for _, tc := range []struct {
		pg       string
		from, to time.Time
	}{
		{"nopay", day, day},
		{"tosspay", day, day.AddDate(0, 0, -1)},
		{"tosspay", day, day.AddDate(0, 0, settlement.MaxReconcileDays)},
	} {
		_, err := f.p.Reconciler().Reconcile(ctx, tc.pg, tc.from, tc.to)
		assert.ErrorIs(t, err, settlement.ErrInvalidQuery, "%+v", tc)
	}
	runs, err := settlementstore.New(db).Runs(ctx, "", 10)
	require.NoError(t, err)
	assert.Empty(t, runs, "nothing stored")
}

// The settlement subscriber dates payouts by Config.Payouts: each PG's
// and method's D+N over the Korean calendar; without one, D+2.
func TestSettlement_PayoutPolicyDatesTheLedger(t *testing.T) {
	db := storetest.Open(t, store.SQLite)
	policy := &settlement.PayoutPolicy{Days: 2, PG: map[string]int{"tosspay": 1}}
	f := newFlow(t, db, newTossPay(t), func(c *paygate.Config) { c.Payouts = policy; c.Sync.Disabled = true })
	ctx := context.Background()
	// Friday 2026-02-13, before 설날 (2/16-18): D+1 is Thursday the 19th.
	id := f.payAt(kst(2026, 2, 13, 16), "order-payout-policy", 12_000)
	recs, err := f.p.Ledger().ByPayment(ctx, id)
	require.NoError(t, err)
	require.Len(t, recs, 1)
	assert.Equal(t, "2026-02-19", recs[0].Payout.Format("2006-01-02"), "tosspay's D+1 over the weekend and 설날")

	var rows []settlement.ReportRow
	tot, err := f.p.Ledger().Report(ctx, settlement.ReportQuery{From: kst(2026, 2, 13, 0), To: kst(2026, 2, 13, 0)},
		func(r settlement.ReportRow) error { rows = append(rows, r); return nil })
	require.NoError(t, err)
	require.Len(t, rows, 1)
	assert.Equal(t, "2026-02-19", rows[0].PayoutDate)
	require.Len(t, tot.Payouts, 1)
	assert.Equal(t, settlement.Payout{PG: "tosspay", Date: "2026-02-19", Currency: pg.KRW, Amount: recs[0].Net.Int64()}, tot.Payouts[0])
}
