package store

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"
	"testing/fstest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestSplitStatements(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		body string
		want []string
	}{
		{
			name: "semicolons at line end split",
			body: "CREATE TABLE a (x INT);\nCREATE TABLE b (y INT);\n",
			want: []string{"CREATE TABLE a (x INT)", "CREATE TABLE b (y INT)"},
		},
		{
			name: "multi-line statement with trailing blanks after the semicolon",
			body: "CREATE TABLE a (\n  x INT,\n  y INT\n);  \t\n\nINSERT INTO a VALUES (1, 2);",
			want: []string{"CREATE TABLE a (\n  x INT,\n  y INT\n)", "INSERT INTO a VALUES (1, 2)"},
		},
		{
			name: "semicolon inside a line does not split",
			body: "INSERT INTO a VALUES ('x;y');\n",
			want: []string{"INSERT INTO a VALUES ('x;y')"},
		},
		{
			name: "comment-only chunks are dropped, comments inside kept",
			body: "-- header\n\n-- about a\nCREATE TABLE a (x INT);\n-- trailing comment\n",
			want: []string{"-- header\n\n-- about a\nCREATE TABLE a (x INT)"},
		},
		{
			name: "markers split and leave inner semicolons alone",
			body: "-- +statement\nCREATE TABLE a (x INT);\n-- +statement\nCREATE TRIGGER t AFTER INSERT ON a BEGIN\n  UPDATE a SET x = 1;\nEND;\n",
			want: []string{"CREATE TABLE a (x INT)", "CREATE TRIGGER t AFTER INSERT ON a BEGIN\n  UPDATE a SET x = 1;\nEND"},
		},
		{
			name: "empty file has no statements",
			body: "\n-- nothing here\n",
			want: nil,
		},
		{
			name: "last statement without semicolon is kept",
			body: "CREATE TABLE a (x INT)",
			want: []string{"CREATE TABLE a (x INT)"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			assert.Equal(t, tc.want, splitStatements(tc.body))
		})
	}
}

func TestEmbeddedMigrations_SameVersionsOnBothDialects(t *testing.T) {
	t.Parallel()
	versions := func(d Dialect) map[int]string {
		ms, err := loadMigrations(d)
		require.NoError(t, err)
		require.NotEmpty(t, ms)
		out := map[int]string{}
		for _, m := range ms {
			out[m.version] = m.owner + "/" + m.name
		}
		return out
	}
	assert.Equal(t, versions(MySQL), versions(SQLite), "every migration must exist for both dialects under the same name")
}

func TestReadMigrations_RefusesBadFiles(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		files   fstest.MapFS
		wantErr string
	}{
		{"misnamed file", fstest.MapFS{"sqlite/12_x.sql": {Data: []byte("SELECT 1;")}}, "not named NNNN_name.sql"},
		{"upper-case name", fstest.MapFS{"sqlite/0101_Bad.sql": {Data: []byte("SELECT 1;")}}, "not named NNNN_name.sql"},
		{"version zero", fstest.MapFS{"sqlite/0000_x.sql": {Data: []byte("SELECT 1;")}}, "0000"},
		{"empty file", fstest.MapFS{"sqlite/0101_x.sql": {Data: []byte("-- nothing\n")}}, "no statements"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := readMigrations(migrationSource{owner: "t", fsys: tc.files}, SQLite)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.wantErr)
		})
	}
}

func TestReadMigrations_IgnoresOtherFilesAndMissingDialect(t *testing.T) {
	t.Parallel()
	files := fstest.MapFS{
		"sqlite/README.md":       {Data: []byte("notes")},
		"sqlite/0101_things.sql": {Data: []byte("CREATE TABLE things (x INT);")},
	}
	ms, err := readMigrations(migrationSource{owner: "t", fsys: files}, SQLite)
	require.NoError(t, err)
	require.Len(t, ms, 1)
	assert.Equal(t, 101, ms[0].version)
	ms, err = readMigrations(migrationSource{owner: "t", fsys: files}, MySQL)
	require.NoError(t, err)
	assert.Empty(t, ms)
}

func openSQLiteForTest(t *testing.T) *DB {
	t.Helper()
	db, err := Open(context.Background(), "sqlite:"+filepath.Join(t.TempDir(), "x.db"))
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	return db
}

func testMigration(t *testing.T, version int, name, body string) migration {
	t.Helper()
	ms, err := readMigrations(migrationSource{owner: "t", fsys: fstest.MapFS{
		"sqlite/" + name + ".sql": {Data: []byte(body)},
	}}, SQLite)
	require.NoError(t, err)
	require.Len(t, ms, 1)
	require.Equal(t, version, ms[0].version)
	return ms[0]
}

func applyInTx(db *DB, ms []migration) error {
	return db.InTx(context.Background(), func(ctx context.Context, tx *sql.Tx) error {
		return applyMigrations(ctx, tx, db.dialect, ms)
	})
}

func TestApplyMigrations_ChangedAppliedFile_Refused(t *testing.T) {
	t.Parallel()
	db := openSQLiteForTest(t)
	m1 := testMigration(t, 101, "0101_a", "CREATE TABLE a (x INT);")
	require.NoError(t, applyInTx(db, []migration{m1}))
	edited := testMigration(t, 101, "0101_a", "CREATE TABLE a (x INT, y INT);")
	err := applyInTx(db, []migration{edited})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "changed after it was applied")
}

func TestApplyMigrations_LowerVersionAddedLater_IsApplied(t *testing.T) {
	t.Parallel()
	db := openSQLiteForTest(t)
	high := testMigration(t, 301, "0301_high", "CREATE TABLE high (x INT);")
	low := testMigration(t, 101, "0101_low", "CREATE TABLE low (x INT);")
	require.NoError(t, applyInTx(db, []migration{high}))
	require.NoError(t, applyInTx(db, []migration{low, high}))
	_, err := db.SQL().Exec("INSERT INTO low (x) VALUES (1)")
	assert.NoError(t, err)
}

func TestApplyMigrations_SQLiteFailureLeavesNothing(t *testing.T) {
	t.Parallel()
	db := openSQLiteForTest(t)
	good := testMigration(t, 101, "0101_good", "CREATE TABLE good (x INT);")
	bad := testMigration(t, 102, "0102_bad", "CREATE TABLE bad (x INT);\nTHIS IS NOT SQL;")
	err := applyInTx(db, []migration{good, bad})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "0102_bad statement 2")
	var n int
	require.NoError(t, db.SQL().QueryRow("SELECT COUNT(*) FROM sqlite_master WHERE name IN ('good', 'bad', '"+migrationsTable+"')").Scan(&n))
	assert.Zero(t, n, "a failed SQLite migration run must leave no table behind")
}
