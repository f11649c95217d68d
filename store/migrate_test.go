package store_test

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
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

// widgets is a host's own migrations, version 0950, as WithMigrations takes
// them.
var widgets = fstest.MapFS{
	"mysql/0950_widgets.sql": {Data: []byte("CREATE TABLE IF NOT EXISTS widgets (id BIGINT NOT NULL PRIMARY KEY);\n" +
		"INSERT INTO widgets (id) VALUES (1);\n")},
	"sqlite/0950_widgets.sql": {Data: []byte("CREATE TABLE IF NOT EXISTS widgets (id INTEGER NOT NULL PRIMARY KEY);\n" +
		"INSERT INTO widgets (id) VALUES (1);\n")},
}

func TestMigrate_WithMigrations_AppliesTheHostsFilesOnlyWhenGiven(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		t.Parallel()
		assert.NotContains(t, appliedVersions(t, db), 950, "nothing but store's own without the option")
		require.NoError(t, db.Migrate(ctxT(t), store.WithMigrations("widgets", widgets)))
		assert.Contains(t, appliedVersions(t, db), 950)
		assert.Equal(t, 1, count(t, db, "SELECT COUNT(*) FROM widgets"))
		var name string
		require.NoError(t, db.SQL().QueryRowContext(ctxT(t),
			"SELECT name FROM paygate_schema_migrations WHERE version = 950").Scan(&name))
		assert.Equal(t, "widgets/0950_widgets", name)

		// Running again, with or without the option, applies nothing twice.
		require.NoError(t, db.Migrate(ctxT(t), store.WithMigrations("widgets", widgets)))
		require.NoError(t, db.Migrate(ctxT(t)))
		assert.Equal(t, 1, count(t, db, "SELECT COUNT(*) FROM widgets"))
	})
}

func TestMigrate_StoreOwnsEveryPackagesTables(t *testing.T) {
	// store's tests import no other paygate package: what Migrate creates
	// cannot depend on what the program imports.
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		t.Parallel()
		for _, table := range []string{"payments", "idempotency_keys", "webhook_deliveries", "saga_instances", "settlement_entries", "payment_syncs"} {
			assert.Zero(t, count(t, db, "SELECT COUNT(*) FROM "+table), table)
		}
	})
}

func TestMigrate_BadSources_RefusedBeforeAnythingIsApplied(t *testing.T) {
	t.Parallel()
	clash := fstest.MapFS{"sqlite/0001_clash.sql": {Data: []byte("CREATE TABLE clash (x INT);")}}
	tests := []struct {
		name    string
		opts    []store.MigrateOption
		wantErr string
	}{
		{"version taken by store", []store.MigrateOption{store.WithMigrations("clash", clash)},
			"version 0001 is both store/0001_foundation and clash/0001_clash"},
		{"version taken by another source", []store.MigrateOption{
			store.WithMigrations("widgets", widgets), store.WithMigrations("gadgets", fstest.MapFS{
				"sqlite/0950_gadgets.sql": {Data: []byte("CREATE TABLE gadgets (x INT);")}})},
			"version 0950 is both widgets/0950_widgets and gadgets/0950_gadgets"},
		{"empty owner", []store.MigrateOption{store.WithMigrations("", widgets)}, `owner "" is reserved or empty`},
		{"store's own name", []store.MigrateOption{store.WithMigrations("store", widgets)}, `owner "store" is reserved or empty`},
		{"owner twice", []store.MigrateOption{store.WithMigrations("widgets", widgets), store.WithMigrations("widgets", widgets)},
			"migrations of widgets: given twice"},
		{"no files", []store.MigrateOption{store.WithMigrations("widgets", nil)}, "migrations of widgets: no files given"},
		{"misnamed file", []store.MigrateOption{store.WithMigrations("widgets", fstest.MapFS{
			"sqlite/950_widgets.sql": {Data: []byte("CREATE TABLE widgets (x INT);")}})},
			"not named NNNN_name.sql"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			db, err := store.Open(ctxT(t), "sqlite:"+filepath.Join(t.TempDir(), "x.db"))
			require.NoError(t, err)
			t.Cleanup(func() { _ = db.Close() })
			err = db.Migrate(ctxT(t), tc.opts...)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.wantErr)
			assert.Zero(t, count(t, db, "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table'"), "nothing applied")
		})
	}
}

// appliedMigration is one row of paygate_schema_migrations.
type appliedMigration struct {
	Version        int
	Name, Checksum string
}

func appliedRows(t *testing.T, db *store.DB) map[int]appliedMigration {
	t.Helper()
	rows, err := db.SQL().QueryContext(ctxT(t), "SELECT version, name, checksum FROM paygate_schema_migrations")
	require.NoError(t, err)
	defer rows.Close()
	out := map[int]appliedMigration{}
	for rows.Next() {
		var m appliedMigration
		require.NoError(t, rows.Scan(&m.Version, &m.Name, &m.Checksum))
		out[m.Version] = m
	}
	require.NoError(t, rows.Err())
	return out
}

// oldLayout reads testdata/migrations_0401.txt: what a release before store
// owned every migration recorded, per dialect.
func oldLayout(t *testing.T) map[store.Dialect][]appliedMigration {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", "migrations_0401.txt"))
	require.NoError(t, err)
	out := map[store.Dialect][]appliedMigration{}
	for line := range strings.Lines(string(raw)) {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Fields(line)
		require.Len(t, f, 4, line)
		v, err := strconv.Atoi(f[1])
		require.NoError(t, err, line)
		out[store.Dialect(f[0])] = append(out[store.Dialect(f[0])], appliedMigration{Version: v, Name: f[2], Checksum: f[3]})
	}
	require.Len(t, out, 2)
	return out
}

func TestMigrate_ExistingFilesKeepTheirVersionsAndChecksums(t *testing.T) {
	old := oldLayout(t)
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		t.Parallel()
		applied := appliedRows(t, db)
		for _, want := range old[db.Dialect()] {
			got, ok := applied[want.Version]
			if assert.True(t, ok, "version %04d (%s) is no longer applied", want.Version, want.Name) {
				assert.Equal(t, want.Checksum, got.Checksum, "version %04d (%s) changed", want.Version, want.Name)
			}
		}
	})
}

func TestMigrate_DatabaseOfTheOldLayout_MigratesWithoutApplyingAnything(t *testing.T) {
	old := oldLayout(t)
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		t.Parallel()
		// The database an older release left: the same tables (the files
		// are unchanged, TestMigrate_ExistingFilesKeepTheirVersionsAndChecksums)
		// recorded under the owners of that time, settlement's 0300 among
		// them.
		for _, m := range old[db.Dialect()] {
			res, err := db.SQL().ExecContext(ctxT(t),
				"UPDATE paygate_schema_migrations SET name = ?, checksum = ? WHERE version = ?", m.Name, m.Checksum, m.Version)
			require.NoError(t, err)
			n, err := res.RowsAffected()
			require.NoError(t, err)
			require.EqualValues(t, 1, n, "version %04d", m.Version)
		}
		before := appliedRows(t, db)
		assert.Equal(t, "settlement/0300_settlement_entries", before[300].Name)

		require.NoError(t, db.Migrate(ctxT(t)))
		require.NoError(t, db.Migrate(ctxT(t)))
		assert.Equal(t, before, appliedRows(t, db), "nothing applied again, nothing renamed")
		assert.Zero(t, count(t, db, "SELECT COUNT(*) FROM settlement_entries"), "the ledger table is there")
	})
}
