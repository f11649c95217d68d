package store_test

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/paygate/paygate/store"
	"github.com/paygate/paygate/store/storetest"
)

// An operator's (or a watchdog's) KILL QUERY or KILL CONNECTION of a
// transaction's statement while it waits for a row lock: InTx runs the
// transaction again and it commits once, whatever the server answered the
// killed statement (1317 query interrupted, 1927 connection killed, or a
// dropped connection).
func TestInTx_KilledQueryOrConnection_RetriedAndCommittedOnce(t *testing.T) {
	for _, kill := range []string{"KILL QUERY", "KILL CONNECTION"} {
		t.Run(kill, func(t *testing.T) {
			t.Parallel()
			db := storetest.Open(t, store.MySQL)
			ctx := ctxT(t)
			locked := newPayment(orderID(t))
			insertPayment(t, db, locked)

			// A holder keeps the payment's row locked while the first
			// attempt waits for it.
			holder, err := db.SQL().BeginTx(ctx, nil)
			require.NoError(t, err)
			defer func() { _ = holder.Rollback() }()
			var id string
			require.NoError(t, holder.QueryRowContext(ctx, "SELECT id FROM payments WHERE id = ? FOR UPDATE", locked.ID).Scan(&id))

			var attempts atomic.Int32
			killed := make(chan error, 1)
			p := newPayment(orderID(t))
			err = db.InTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
				if attempts.Add(1) == 1 {
					var conn int64
					if err := tx.QueryRowContext(ctx, "SELECT CONNECTION_ID()").Scan(&conn); err != nil {
						return err
					}
					go func() {
						// Kill once the statement below is waiting for the lock.
						deadline := time.Now().Add(10 * time.Second)
						for time.Now().Before(deadline) {
							var n int
							if err := db.SQL().QueryRowContext(ctx, "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE ID = ? AND INFO LIKE 'SELECT id FROM payments%'", conn).Scan(&n); err != nil {
								killed <- err
								return
							}
							if n > 0 {
								_, err := db.SQL().ExecContext(ctx, fmt.Sprintf("%s %d", kill, conn))
								killed <- err
								time.Sleep(100 * time.Millisecond)
								_ = holder.Rollback()
								return
							}
							time.Sleep(10 * time.Millisecond)
						}
						killed <- fmt.Errorf("the statement never waited")
					}()
				}
				var got string
				if err := tx.QueryRowContext(ctx, "SELECT id FROM payments WHERE id = ? FOR UPDATE", locked.ID).Scan(&got); err != nil {
					return err
				}
				return db.InsertPayment(ctx, tx, p)
			})
			require.NoError(t, <-killed)
			require.NoError(t, err, "the transaction is run again after its statement was killed")
			assert.GreaterOrEqual(t, attempts.Load(), int32(2))
			assert.Equal(t, 1, count(t, db, "SELECT COUNT(*) FROM payments WHERE id = ?", p.ID))
		})
	}
}

func TestRetryCause_NamesEachRetryableError(t *testing.T) {
	t.Parallel()
	for err, want := range map[error]string{
		&mysql.MySQLError{Number: 1213}:                      "deadlock",
		fmt.Errorf("x: %w", &mysql.MySQLError{Number: 1205}): "lock wait timeout",
		&mysql.MySQLError{Number: 1317}:                      "query interrupted",
		&mysql.MySQLError{Number: 1927}:                      "connection lost",
		&mysql.MySQLError{Number: 1040}:                      "server busy",
		driver.ErrBadConn:                                    "connection lost",
		&mysql.MySQLError{Number: 1062}:                      "",
		errBoom:                                              "",
	} {
		assert.Equal(t, want, store.RetryCause(err), "%v", err)
	}
}

// With WithLogger, every retry is logged with its cause.
func TestInTx_WithLogger_LogsEachRetry(t *testing.T) {
	t.Parallel()
	var buf syncBuffer
	db := storetest.Open(t, store.SQLite, store.WithLogger(slog.New(slog.NewTextHandler(&buf, nil))))
	n := 0
	err := db.InTx(ctxT(t), func(context.Context, *sql.Tx) error {
		n++
		if n < 3 {
			return &mysql.MySQLError{Number: 1213, Message: "Deadlock"}
		}
		return nil
	})
	require.NoError(t, err)
	assert.Equal(t, 2, strings.Count(buf.String(), `msg="store: transaction retried" cause=deadlock`), buf.String())
}

type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
