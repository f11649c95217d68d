package store_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/paygate/paygate/store"
	"github.com/paygate/paygate/store/storetest"
)

func appliedVersions(t *testing.T, db *store.DB) []int {
	t.Helper()
	rows, err := db.SQL().QueryContext(context.Background(), "SELECT version FROM paygate_schema_migrations ORDER BY version")
	require.NoError(t, err)
	defer rows.Close()
	var vs []int
	for rows.Next() {
		var v int
		require.NoError(t, rows.Scan(&v))
		vs = append(vs, v)
	}
	require.NoError(t, rows.Err())
	return vs
}

func TestMigrate_RunTwice_AppliesEachVersionOnce(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		t.Parallel()
		before := appliedVersions(t, db)
		require.NotEmpty(t, before)
		require.NoError(t, db.Migrate(context.Background()))
		assert.Equal(t, before, appliedVersions(t, db))
	})
}
