package store_test

import (
	"context"
	"database/sql"
	"encoding/binary"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/go-sql-driver/mysql"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/paygate/paygate/pg"
	"github.com/paygate/paygate/store"
	"github.com/paygate/paygate/store/storetest"
)

// queryCounter is a TCP proxy in front of the test MySQL server that
// records the requests (COM_QUERY packets) its clients send: a request is a
// round trip, whatever number of statements it carries. Armed with
// loseCommit, it forwards the next request that ends with a COMMIT and
// then drops the connection instead of relaying the answer: the server
// commits, the client never hears of it.
type queryCounter struct {
	ln         net.Listener
	target     string
	loseCommit atomic.Bool
	mu         sync.Mutex
	last       []string
	wg         sync.WaitGroup
}

func newQueryCounter(t *testing.T, target string) *queryCounter {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	q := &queryCounter{ln: ln, target: target}
	q.wg.Go(q.accept)
	t.Cleanup(func() {
		_ = ln.Close()
		q.wg.Wait()
	})
	return q
}

func (q *queryCounter) accept() {
	for {
		c, err := q.ln.Accept()
		if err != nil {
			return
		}
		s, err := net.Dial("tcp", q.target)
		if err != nil {
			_ = c.Close()
			continue
		}
		var lost atomic.Bool // set before the request whose answer is lost is sent
		q.wg.Go(func() {
			buf := make([]byte, 32<<10)
			for {
				n, err := s.Read(buf)
				if n > 0 && lost.Load() {
					break
				}
				if n > 0 {
					if _, werr := c.Write(buf[:n]); werr != nil {
						break
					}
				}
				if err != nil {
					break
				}
			}
			_ = c.Close()
			_ = s.Close()
		})
		q.wg.Go(func() {
			q.read(c, s, &lost)
			_ = s.Close()
		})
	}
}

// read forwards what the client sends, recording the packets that begin a
// command (sequence number 0) and are COM_QUERY (0x03).
func (q *queryCounter) read(c net.Conn, s net.Conn, lost *atomic.Bool) {
	var head [4]byte
	for {
		if _, err := io.ReadFull(c, head[:]); err != nil {
			return
		}
		n := int(binary.LittleEndian.Uint32(append(head[:3:3], 0)))
		body := make([]byte, n)
		if _, err := io.ReadFull(c, body); err != nil {
			return
		}
		if head[3] == 0 && n > 0 && body[0] == 0x03 {
			text := string(body[1:])
			q.mu.Lock()
			q.last = append(q.last, text)
			q.mu.Unlock()
			if strings.HasSuffix(text, "\nCOMMIT") && q.loseCommit.CompareAndSwap(true, false) {
				lost.Store(true)
			}
		}
		if _, err := s.Write(append(head[:], body...)); err != nil {
			return
		}
	}
}

// requests returns the requests sent since the last call.
func (q *queryCounter) requests() []string {
	q.mu.Lock()
	defer q.mu.Unlock()
	r := q.last
	q.last = nil
	return r
}

// rolledBack returns the one request a transaction sent before its
// ROLLBACK, failing the test unless those two are all it sent.
func (q *queryCounter) rolledBack(t *testing.T) string {
	t.Helper()
	reqs := q.requests()
	require.Len(t, reqs, 2, "%q", reqs)
	assert.Equal(t, "ROLLBACK", reqs[1])
	return reqs[0]
}

// openCounted opens a migrated MySQL database twice: through a
// queryCounter, with one connection so the test sees every request its
// transactions send, and directly, to look from outside.
func openCounted(t *testing.T) (db *store.DB, q *queryCounter, plain *store.DB) {
	t.Helper()
	ctx := ctxT(t)
	dsn := storetest.NewDSN(t, store.MySQL)
	plain, err := store.Open(ctx, dsn)
	require.NoError(t, err)
	t.Cleanup(func() { _ = plain.Close() })
	require.NoError(t, plain.Migrate(ctx))
	cfg, err := mysql.ParseDSN(strings.TrimPrefix(dsn, "mysql:"))
	require.NoError(t, err)
	q = newQueryCounter(t, cfg.Addr)
	cfg.Addr = q.ln.Addr().String()
	db, err = store.Open(ctx, "mysql:"+cfg.FormatDSN())
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	db.SQL().SetMaxOpenConns(1)
	db.SQL().SetMaxIdleConns(1)
	q.requests()
	return db, q, plain
}

func TestLazyBegin_StartTravelsWithTheFirstStatement(t *testing.T) {
	t.Parallel()
	db, q, plain := openCounted(t)
	ctx := ctxT(t)
	p := newPayment(orderID(t))
	require.NoError(t, db.InTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		if err := db.InsertPayment(ctx, tx, p); err != nil {
			return err
		}
		// Not visible outside before the commit: the START did run.
		assert.Zero(t, count(t, plain, "SELECT COUNT(*) FROM payments WHERE id = ?", p.ID))
		return db.ClaimOrder(ctx, tx, p.OrderID, p.ID)
	}))
	reqs := q.requests()
	require.Len(t, reqs, 3, "START with the insert, the claim, COMMIT: %q", reqs)
	assert.True(t, strings.HasPrefix(reqs[0], "START TRANSACTION;\nINSERT INTO payments"), reqs[0])
	assert.Equal(t, "COMMIT", reqs[2])
	assert.Equal(t, 1, count(t, plain, "SELECT COUNT(*) FROM payments WHERE id = ?", p.ID))
}

func TestLazyBegin_AReadFirstLocksUntilTheEnd(t *testing.T) {
	t.Parallel()
	db, q, plain := openCounted(t)
	ctx := ctxT(t)
	p := newPayment(orderID(t))
	insertPayment(t, plain, p)
	err := db.InTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		var status string
		if err := tx.QueryRowContext(ctx, "SELECT status FROM payments WHERE id = ? FOR UPDATE", p.ID).Scan(&status); err != nil {
			return err
		}
		assert.Equal(t, "APPROVING", status)
		// The row is locked by this transaction until it ends.
		_, err := plain.SQL().ExecContext(ctx, "SELECT id FROM payments WHERE id = ? FOR UPDATE NOWAIT", p.ID)
		assert.Error(t, err, "the row must be locked by the lazily begun transaction")
		return errBoom
	})
	require.ErrorIs(t, err, errBoom)
	first := q.rolledBack(t)
	assert.True(t, strings.HasPrefix(first, "START TRANSACTION;\nSELECT status"), first)
	// Released by the rollback.
	_, err = plain.SQL().ExecContext(ctx, "SELECT id FROM payments WHERE id = ? FOR UPDATE NOWAIT", p.ID)
	assert.NoError(t, err)
}

func TestLazyBegin_ATransactionThatRanNothingSendsNothing(t *testing.T) {
	t.Parallel()
	db, q, _ := openCounted(t)
	require.NoError(t, db.InTx(ctxT(t), func(context.Context, *sql.Tx) error { return nil }))
	require.ErrorIs(t, db.InTx(ctxT(t), func(context.Context, *sql.Tx) error { return errBoom }), errBoom)
	assert.Empty(t, q.requests())
}

func TestLazyBegin_AFailedFirstStatementRollsBackAndTheConnectionIsClean(t *testing.T) {
	t.Parallel()
	db, q, plain := openCounted(t)
	ctx := ctxT(t)
	p := newPayment(orderID(t))
	insertPayment(t, plain, p)
	err := db.InTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		return db.InsertPayment(ctx, tx, p) // duplicate id
	})
	require.ErrorIs(t, err, store.ErrDuplicate)
	q.rolledBack(t)
	// The one connection is reused outside any transaction: a statement
	// on the pool commits on its own.
	other := newPayment(orderID(t))
	require.NoError(t, db.InTx(ctx, func(ctx context.Context, tx *sql.Tx) error { return db.InsertPayment(ctx, tx, other) }))
	_, err = db.SQL().ExecContext(ctx, "UPDATE payments SET method = 'CARD' WHERE id = ?", other.ID)
	require.NoError(t, err)
	assert.Equal(t, 1, count(t, plain, "SELECT COUNT(*) FROM payments WHERE id = ? AND method = 'CARD'", other.ID))
}

// claimCommitting defers p's insert and its order's claim and sends them
// with FlushCommit, as Approve's claim does.
func claimCommitting(ctx context.Context, db *store.DB, tx *sql.Tx, p *store.Payment) error {
	ctx, d := db.WithDeferred(ctx)
	if err := db.InsertPayment(ctx, tx, p); err != nil {
		return err
	}
	if err := db.ClaimOrder(ctx, tx, p.OrderID, p.ID); err != nil {
		return err
	}
	return d.FlushCommit(ctx, tx)
}

func TestFlushCommit_CommitsWithTheBatch(t *testing.T) {
	t.Parallel()
	db, q, plain := openCounted(t)
	ctx := ctxT(t)
	p := newPayment(orderID(t))
	var after error
	require.NoError(t, db.InTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		if err := claimCommitting(ctx, db, tx, p); err != nil {
			return err
		}
		// Committed: visible outside before InTx's Commit, which sends
		// nothing; a statement now would escape the transaction.
		assert.Equal(t, 1, count(t, plain, "SELECT COUNT(*) FROM payments WHERE id = ?", p.ID))
		_, after = tx.ExecContext(ctx, "UPDATE payments SET method = 'X' WHERE id = ?", p.ID)
		return nil
	}))
	require.ErrorIs(t, after, store.ErrCommitted)
	reqs := q.requests()
	require.Len(t, reqs, 1, "one request: START, the inserts, COMMIT: %q", reqs)
	assert.True(t, strings.HasPrefix(reqs[0], "START TRANSACTION;\nINSERT INTO payments"), reqs[0])
	assert.True(t, strings.HasSuffix(reqs[0], ";\nCOMMIT"), reqs[0])
	assert.Equal(t, 1, count(t, plain, "SELECT COUNT(*) FROM payment_order_mapping WHERE payment_id = ? ", p.ID))
	assert.Zero(t, count(t, plain, "SELECT COUNT(*) FROM payments WHERE method = 'X'"))
}

func TestFlushCommit_ADuplicateStopsTheBatchBeforeItsCommit(t *testing.T) {
	t.Parallel()
	db, q, plain := openCounted(t)
	ctx := ctxT(t)
	taken := newPayment(orderID(t))
	tx(t, plain, func(ctx context.Context, tx *sql.Tx) error {
		if err := plain.InsertPayment(ctx, tx, taken); err != nil {
			return err
		}
		return plain.ClaimOrder(ctx, tx, taken.OrderID, taken.ID)
	})
	p := newPayment(taken.OrderID)
	err := db.InTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		// The new payment's row is first in the batch; the order's claim,
		// held by taken, fails after it.
		return claimCommitting(ctx, db, tx, p)
	})
	require.ErrorIs(t, err, store.ErrDuplicate)
	q.rolledBack(t)
	assert.Zero(t, count(t, plain, "SELECT COUNT(*) FROM payments WHERE id = ?", p.ID), "the payment inserted before the failing claim was rolled back")
}

func TestFlushCommit_ACheckedUpdateKeepsItsOwnCommit(t *testing.T) {
	t.Parallel()
	db, q, plain := openCounted(t)
	ctx := ctxT(t)
	p := newPayment(orderID(t))
	insertPayment(t, plain, p)
	stale := *p
	stale.Status = pg.StatusApproved
	other := newPayment(orderID(t))
	err := db.InTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		ctx, d := db.WithDeferred(ctx)
		if err := db.InsertPayment(ctx, tx, other); err != nil {
			return err
		}
		if err := db.UpdatePaymentDeferred(ctx, tx, &stale, p.Version+5); err != nil { // a version the row does not have
			return err
		}
		return d.FlushCommit(ctx, tx)
	})
	require.ErrorIs(t, err, store.ErrConflict)
	first := q.rolledBack(t)
	assert.False(t, strings.HasSuffix(first, "COMMIT"), "a batch whose count is checked after it runs carries no COMMIT")
	assert.Zero(t, count(t, plain, "SELECT COUNT(*) FROM payments WHERE id = ?", other.ID))
}

// The COMMIT that travelled with the writes ran, but its answer was lost
// with the connection: the caller cannot tell, InTx runs the transaction
// again on another connection, and the run meets its own rows — as when a
// plain COMMIT's answer is lost. Nothing is written twice.
func TestFlushCommit_AnswerLost_TheRetryMeetsItsOwnRows(t *testing.T) {
	t.Parallel()
	db, q, plain := openCounted(t)
	ctx := ctxT(t)
	p := newPayment(orderID(t))
	q.loseCommit.Store(true)
	var runs atomic.Int32
	err := db.InTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		runs.Add(1)
		return claimCommitting(ctx, db, tx, p)
	})
	require.ErrorIs(t, err, store.ErrDuplicate, "the second run met the rows the first committed")
	assert.EqualValues(t, 2, runs.Load())
	assert.False(t, q.loseCommit.Load(), "the answer of the COMMIT was the one lost")
	assert.Equal(t, 1, count(t, plain, "SELECT COUNT(*) FROM payments WHERE id = ?", p.ID))
	assert.Equal(t, 1, count(t, plain, "SELECT COUNT(*) FROM payment_order_mapping WHERE order_id = ?", p.OrderID))
	// The pool carries on with a new connection.
	other := newPayment(orderID(t))
	require.NoError(t, db.InTx(ctx, func(ctx context.Context, tx *sql.Tx) error { return claimCommitting(ctx, db, tx, other) }))
	assert.Equal(t, 1, count(t, plain, "SELECT COUNT(*) FROM payments WHERE id = ?", other.ID))
}

func TestFlushCommit_SQLiteCommitsAsAlways(t *testing.T) {
	t.Parallel()
	db := storetest.Open(t, store.SQLite)
	p := newPayment(orderID(t))
	require.NoError(t, db.InTx(ctxT(t), func(ctx context.Context, tx *sql.Tx) error {
		ctx, d := db.WithDeferred(ctx)
		if err := db.InsertPayment(ctx, tx, p); err != nil {
			return err
		}
		if err := d.FlushCommit(ctx, tx); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, "UPDATE payments SET method = 'CARD' WHERE id = ?", p.ID)
		return err
	}))
	assert.Equal(t, 1, count(t, db, "SELECT COUNT(*) FROM payments WHERE id = ? AND method = 'CARD'", p.ID))
}
