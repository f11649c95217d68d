package store_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/paygate/paygate/store"
	"github.com/paygate/paygate/store/storetest"
)

func TestOpen_BadDSN_ClearError(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		dsn     string
		wantErr string
	}{
		{"empty", "", `dsn must be "mysql:<dsn>" or "sqlite:<path>"`},
		{"no path", "sqlite:", `dsn must be "mysql:<dsn>" or "sqlite:<path>"`},
		{"unknown dialect", "postgres://u@h/db", `unknown dialect "postgres"`},
		{"raw mysql dsn without prefix keeps the password out", "root:hunter2@tcp(h:3306)/db", `unknown dialect "root"`},
		{"malformed mysql dsn", "mysql:root@tcp(h:3306", "store: open mysql"},
		{"mysql dsn without database", "mysql:root@tcp(127.0.0.1:3306)/", "names no database"},
		{"sqlite uri", "sqlite:file:x.db?mode=ro", "plain file path"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			db, err := store.Open(context.Background(), tc.dsn)
			require.Error(t, err)
			assert.Nil(t, db)
			assert.Contains(t, err.Error(), tc.wantErr)
			assert.NotContains(t, err.Error(), "hunter2")
		})
	}
}

func TestOpen_SQLite_CreatesParentDirectoryAndSetsPragmas(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "a", "b", "paygate.db")
	db, err := store.Open(ctxT(t), "sqlite:"+path)
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	assert.Equal(t, store.SQLite, db.Dialect())
	_, err = os.Stat(path)
	require.NoError(t, err)

	var mode string
	require.NoError(t, db.SQL().QueryRow("PRAGMA journal_mode").Scan(&mode))
	assert.Equal(t, "wal", mode)
	var fk, busy int
	require.NoError(t, db.SQL().QueryRow("PRAGMA foreign_keys").Scan(&fk))
	assert.Equal(t, 1, fk)
	require.NoError(t, db.SQL().QueryRow("PRAGMA busy_timeout").Scan(&busy))
	assert.Positive(t, busy)

	// A time in another zone, written by any query, is stored as UTC text.
	kst := time.Date(2026, 1, 2, 9, 0, 0, 500000000, time.FixedZone("KST", 9*3600))
	_, err = db.SQL().Exec("CREATE TABLE t_times (at DATETIME)")
	require.NoError(t, err)
	_, err = db.SQL().Exec("INSERT INTO t_times (at) VALUES (?)", kst)
	require.NoError(t, err)
	var text string
	require.NoError(t, db.SQL().QueryRow("SELECT CAST(at AS TEXT) FROM t_times").Scan(&text))
	assert.Equal(t, "2026-01-02 00:00:00.5+00:00", text)
	var back time.Time
	require.NoError(t, db.SQL().QueryRow("SELECT at FROM t_times").Scan(&back))
	assert.True(t, back.Equal(kst))
}

func TestOpen_SQLiteMemory_MigratesAndWorks(t *testing.T) {
	t.Parallel()
	db, err := store.Open(ctxT(t), "sqlite::memory:")
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	require.NoError(t, db.Migrate(ctxT(t)))
	p := newPayment(orderID(t))
	insertPayment(t, db, p)
	got, err := db.PaymentByID(ctxT(t), p.ID)
	require.NoError(t, err)
	assert.Equal(t, p.ID, got.ID)
}

func TestOpen_MySQL_SessionIsUTCReadCommittedAndCountsMatchedRows(t *testing.T) {
	t.Parallel()
	db := storetest.Open(t, store.MySQL)
	assert.Equal(t, store.MySQL, db.Dialect())
	ctx := ctxT(t)
	conn, err := db.SQL().Conn(ctx)
	require.NoError(t, err)
	defer conn.Close()

	var tz, iso string
	require.NoError(t, conn.QueryRowContext(ctx, "SELECT @@session.time_zone").Scan(&tz))
	assert.Equal(t, "+00:00", tz)
	err = conn.QueryRowContext(ctx, "SELECT @@session.transaction_isolation").Scan(&iso)
	if err != nil {
		require.NoError(t, conn.QueryRowContext(ctx, "SELECT @@session.tx_isolation").Scan(&iso))
	}
	assert.Equal(t, "READ-COMMITTED", iso)

	// clientFoundRows: an UPDATE that changes nothing still reports the row
	// it matched, which compare-and-set and not-found checks rely on.
	_, err = conn.ExecContext(ctx, "CREATE TABLE t_found (id INT PRIMARY KEY, v INT)")
	require.NoError(t, err)
	_, err = conn.ExecContext(ctx, "INSERT INTO t_found VALUES (1, 7)")
	require.NoError(t, err)
	res, err := conn.ExecContext(ctx, "UPDATE t_found SET v = 7 WHERE id = 1")
	require.NoError(t, err)
	n, err := res.RowsAffected()
	require.NoError(t, err)
	assert.EqualValues(t, 1, n)
}

func TestOpen_MySQL_UnreachableServer_FailsFast(t *testing.T) {
	t.Parallel()
	// Port 1 on localhost refuses at once.
	db, err := store.Open(ctxT(t), "mysql:root@tcp(127.0.0.1:1)/x")
	require.Error(t, err)
	assert.Nil(t, db)
	assert.Contains(t, err.Error(), "store: open mysql 127.0.0.1:1/x")
}
