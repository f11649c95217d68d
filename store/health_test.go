package store_test

import (
	"context"
	"database/sql"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/paygate/paygate/pg"
	"github.com/paygate/paygate/store"
	"github.com/paygate/paygate/store/storetest"
)

// TestUnknownOutcomes_CountsUnknownPaymentsAndCancelsPerPG: only payments
// and cancels whose outcome is UNKNOWN count, per PG and operation.
func TestUnknownOutcomes_CountsUnknownPaymentsAndCancelsPerPG(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		t.Parallel()
		ctx := ctxT(t)
		none, err := db.UnknownOutcomes(ctx)
		require.NoError(t, err)
		assert.Empty(t, none)

		for i, c := range []struct {
			pg     string
			status pg.Status
			cancel store.CancelStatus
		}{
			{"tosspay", pg.StatusUnknown, ""},
			{"tosspay", pg.StatusUnknown, ""},
			{"kakaopay", pg.StatusUnknown, ""},
			{"tosspay", pg.StatusApproving, ""},
			{"tosspay", pg.StatusFailed, ""},
			{"inicis", pg.StatusApproved, store.CancelUnknown},
			{"inicis", pg.StatusApproved, store.CancelRequested},
			{"tosspay", pg.StatusApproved, store.CancelUnknown},
		} {
			p := newPayment(fmt.Sprintf("%s-%d", orderID(t), i))
			p.PG, p.Status = c.pg, c.status
			insertPayment(t, db, p)
			if c.cancel != "" {
				cn := newCancel(p, fmt.Sprintf("unknown-%d", i), pg.Won(1000))
				cn.Status = c.cancel
				tx(t, db, func(ctx context.Context, tx *sql.Tx) error { return db.InsertCancel(ctx, tx, cn) })
			}
		}
		got, err := db.UnknownOutcomes(ctx)
		require.NoError(t, err)
		assert.Equal(t, []store.UnknownOutcome{
			{PG: "kakaopay", Op: "approve", Count: 1},
			{PG: "tosspay", Op: "approve", Count: 2},
			{PG: "inicis", Op: "cancel", Count: 1},
			{PG: "tosspay", Op: "cancel", Count: 1},
		}, got)
	})
}

// TestPendingMigrations_ListsWhatTheDatabaseLacks: none after Migrate; a
// version missing from the table is listed; a changed checksum is an error;
// a database never migrated is an error.
func TestPendingMigrations_ListsWhatTheDatabaseLacks(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		t.Parallel()
		ctx := ctxT(t)
		pending, err := db.PendingMigrations(ctx)
		require.NoError(t, err)
		assert.Empty(t, pending)

		_, err = db.SQL().ExecContext(ctx, `DELETE FROM paygate_schema_migrations WHERE version IN (480, 500)`)
		require.NoError(t, err)
		pending, err = db.PendingMigrations(ctx)
		require.NoError(t, err)
		assert.Equal(t, []string{"store/0480_settlement_reports", "store/0500_trace_context"}, pending)

		_, err = db.SQL().ExecContext(ctx, `UPDATE paygate_schema_migrations SET checksum = 'x' WHERE version = 1`)
		require.NoError(t, err)
		_, err = db.PendingMigrations(ctx)
		assert.ErrorContains(t, err, "changed after it was applied")

		_, err = db.SQL().ExecContext(ctx, `DROP TABLE paygate_schema_migrations`)
		require.NoError(t, err)
		_, err = db.PendingMigrations(ctx)
		assert.Error(t, err)
	})
}
