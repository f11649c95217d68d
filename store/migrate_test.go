package store_test

import (
	"context"
	"path/filepath"
	"testing"
	"testing/fstest"

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

func TestMigrate_ConcurrentHandles_ApplyEachVersionOnce(t *testing.T) {
	for _, d := range storetest.Dialects {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			dsn := storetest.NewDSN(t, d)
			const handles = 6
			dbs := make([]*store.DB, handles)
			for i := range dbs {
				db, err := store.Open(ctxT(t), dsn)
				require.NoError(t, err)
				t.Cleanup(func() { _ = db.Close() })
				dbs[i] = db
			}
			start := make(chan struct{})
			errs := make(chan error, handles)
			for _, db := range dbs {
				go func() {
					<-start
					errs <- db.Migrate(ctxT(t))
				}()
			}
			close(start)
			for range handles {
				assert.NoError(t, <-errs)
			}
			vs := appliedVersions(t, dbs[0])
			require.NotEmpty(t, vs)
			seen := map[int]bool{}
			for _, v := range vs {
				assert.False(t, seen[v], "version %d recorded twice", v)
				seen[v] = true
			}
			// The schema is usable from every handle.
			for _, db := range dbs {
				insertPayment(t, db, newPayment(orderID(t)))
			}
		})
	}
}

func TestRegisterMigrations_AppliesOtherPackagesFilesInVersionOrder(t *testing.T) {
	// Not parallel: it changes the package-wide registry and restores it
	// before the parallel tests resume.
	files := fstest.MapFS{
		"mysql/0150_widgets.sql": {Data: []byte("CREATE TABLE IF NOT EXISTS widgets (id BIGINT NOT NULL PRIMARY KEY);\n" +
			"INSERT INTO widgets (id) VALUES (1);\n")},
		"sqlite/0150_widgets.sql": {Data: []byte("CREATE TABLE IF NOT EXISTS widgets (id INTEGER NOT NULL PRIMARY KEY);\n" +
			"INSERT INTO widgets (id) VALUES (1);\n")},
	}
	store.RegisterMigrations("widgets", files)
	t.Cleanup(func() { store.RegisterMigrations("widgets", fstest.MapFS{}) })
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		assert.Contains(t, appliedVersions(t, db), 150)
		assert.Equal(t, 1, count(t, db, "SELECT COUNT(*) FROM widgets"))
		// Running again applies nothing twice.
		require.NoError(t, db.Migrate(ctxT(t)))
		assert.Equal(t, 1, count(t, db, "SELECT COUNT(*) FROM widgets"))
	})
}

func TestRegisterMigrations_VersionTakenTwice_MigrateRefuses(t *testing.T) {
	// Not parallel: see above.
	store.RegisterMigrations("clash", fstest.MapFS{
		"sqlite/0001_clash.sql": {Data: []byte("CREATE TABLE clash (x INT);")},
	})
	t.Cleanup(func() { store.RegisterMigrations("clash", fstest.MapFS{}) })
	db, err := store.Open(ctxT(t), "sqlite:"+filepath.Join(t.TempDir(), "x.db"))
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	err = db.Migrate(ctxT(t))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "version 0001 is both store/0001_foundation and clash/0001_clash")
}
