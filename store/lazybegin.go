package store

import (
	"context"
	"database/sql/driver"
	"errors"
)

// beginPrefix opens a transaction in the same request as the statement it
// precedes, commitSuffix commits it in the same request as the statements
// it follows (the connections store.Open makes accept several statements in
// one request; the server runs them in order and stops at the first that
// fails).
const (
	beginPrefix  = "START TRANSACTION;\n"
	commitSuffix = ";\nCOMMIT"
)

// commitsKey marks the context of a statement that ends with commitSuffix
// (Deferred.FlushCommit), so the connection knows its transaction ended.
type commitsKey struct{}

// ErrCommitted is returned for a statement run in a transaction whose
// COMMIT already travelled with its last writes (Deferred.FlushCommit):
// running it would escape the transaction.
var ErrCommitted = errors.New("store: the transaction was committed with its last writes")

// lazyBeginConnector makes MySQL transactions begin with their first
// statement: BeginTx sends nothing, and the transaction's first statement
// travels as "START TRANSACTION; <statement>" in one request. Every
// transaction saves a round trip, and one that ends before running a
// statement costs none at all. Everything else goes to the driver's
// connection unchanged.
type lazyBeginConnector struct {
	driver.Connector
}

func (c lazyBeginConnector) Connect(ctx context.Context) (driver.Conn, error) {
	conn, err := c.Connector.Connect(ctx)
	if err != nil {
		return nil, err
	}
	return newLazyConn(conn)
}

// errDriverShape is returned when the MySQL driver's connection lacks an
// interface the wrapper relies on (a driver upgrade that dropped one).
var errDriverShape = errors.New("store: the mysql driver's connection lacks ExecContext, QueryContext or BeginTx")

func newLazyConn(conn driver.Conn) (driver.Conn, error) {
	l := &lazyConn{Conn: conn}
	var ok1, ok2, ok3 bool
	l.exec, ok1 = conn.(driver.ExecerContext)
	l.query, ok2 = conn.(driver.QueryerContext)
	l.begin, ok3 = conn.(driver.ConnBeginTx)
	if !ok1 || !ok2 || !ok3 {
		_ = conn.Close()
		return nil, errDriverShape
	}
	return l, nil
}

// lazyConn is a MySQL connection whose transactions begin with their first
// statement. pending is set between BeginTx and that statement; committed
// between a statement that carried the COMMIT and the transaction's end.
type lazyConn struct {
	driver.Conn
	exec      driver.ExecerContext
	query     driver.QueryerContext
	begin     driver.ConnBeginTx
	pending   bool
	committed bool
}

var (
	_ driver.ExecerContext      = (*lazyConn)(nil)
	_ driver.QueryerContext     = (*lazyConn)(nil)
	_ driver.ConnBeginTx        = (*lazyConn)(nil)
	_ driver.ConnPrepareContext = (*lazyConn)(nil)
	_ driver.Pinger             = (*lazyConn)(nil)
	_ driver.SessionResetter    = (*lazyConn)(nil)
	_ driver.Validator          = (*lazyConn)(nil)
	_ driver.NamedValueChecker  = (*lazyConn)(nil)
)

// BeginTx defers the transaction's START to its first statement. A
// transaction with options (an isolation level, read-only) starts at once,
// as the driver starts it.
func (c *lazyConn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	if opts.Isolation != driver.IsolationLevel(0) || opts.ReadOnly {
		return c.begin.BeginTx(ctx, opts)
	}
	c.pending = true
	return lazyTx{c}, nil
}

func (c *lazyConn) Begin() (driver.Tx, error) {
	return c.BeginTx(context.Background(), driver.TxOptions{})
}

// startNow sends a pending START on its own, for a statement that cannot
// carry it (one the driver prepares on the server).
func (c *lazyConn) startNow(ctx context.Context) error {
	if !c.pending {
		return nil
	}
	c.pending = false
	_, err := c.exec.ExecContext(ctx, "START TRANSACTION", nil)
	return err
}

// ExecContext runs query, carrying a pending START. Once the request is
// sent the transaction may be open whatever the answer, so the START is no
// longer pending (its Rollback sends ROLLBACK, harmless if it is not). The
// driver's ErrSkip (it cannot send the arguments inline) means nothing was
// sent: the START stays pending for the prepared statement that follows.
// A statement that carried its transaction's COMMIT and succeeded ended
// the transaction: every statement ran, the COMMIT last.
func (c *lazyConn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	if c.committed {
		return nil, ErrCommitted
	}
	if c.pending {
		query = beginPrefix + query
	}
	res, err := c.exec.ExecContext(ctx, query, args)
	if !errors.Is(err, driver.ErrSkip) {
		c.pending = false
	}
	if err == nil && ctx.Value(commitsKey{}) != nil {
		c.committed = true
	}
	return res, err
}

// QueryContext is ExecContext for a statement with rows: the driver skips
// the START's answer and returns the statement's rows.
func (c *lazyConn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	if c.committed {
		return nil, ErrCommitted
	}
	if !c.pending {
		return c.query.QueryContext(ctx, query, args)
	}
	rows, err := c.query.QueryContext(ctx, beginPrefix+query, args)
	if !errors.Is(err, driver.ErrSkip) {
		c.pending = false
	}
	return rows, err
}

func (c *lazyConn) PrepareContext(ctx context.Context, query string) (driver.Stmt, error) {
	if c.committed {
		return nil, ErrCommitted
	}
	if err := c.startNow(ctx); err != nil {
		return nil, err
	}
	if p, ok := c.Conn.(driver.ConnPrepareContext); ok {
		return p.PrepareContext(ctx, query)
	}
	return c.Conn.Prepare(query)
}

func (c *lazyConn) Prepare(query string) (driver.Stmt, error) {
	return c.PrepareContext(context.Background(), query)
}

func (c *lazyConn) Ping(ctx context.Context) error {
	if p, ok := c.Conn.(driver.Pinger); ok {
		return p.Ping(ctx)
	}
	return nil
}

func (c *lazyConn) ResetSession(ctx context.Context) error {
	if c.pending || c.committed {
		// database/sql ends every transaction before it reuses the
		// connection; a START still pending here is a bug, and the
		// connection is not reused.
		return driver.ErrBadConn
	}
	if r, ok := c.Conn.(driver.SessionResetter); ok {
		return r.ResetSession(ctx)
	}
	return nil
}

func (c *lazyConn) IsValid() bool {
	if v, ok := c.Conn.(driver.Validator); ok {
		return v.IsValid()
	}
	return true
}

func (c *lazyConn) CheckNamedValue(nv *driver.NamedValue) error {
	if v, ok := c.Conn.(driver.NamedValueChecker); ok {
		return v.CheckNamedValue(nv)
	}
	return driver.ErrSkip
}

// lazyTx ends a transaction: one whose START is still pending ran
// nothing, and ends with nothing sent; one whose COMMIT travelled with its
// last writes is over: its Commit sends nothing, and its Rollback, which
// cannot undo it, says so.
type lazyTx struct{ c *lazyConn }

func (t lazyTx) Commit() error   { return t.end("COMMIT") }
func (t lazyTx) Rollback() error { return t.end("ROLLBACK") }

func (t lazyTx) end(stmt string) error {
	c := t.c
	switch {
	case c.pending:
		c.pending = false
		return nil
	case c.committed:
		c.committed = false
		if stmt == "ROLLBACK" {
			return ErrCommitted
		}
		return nil
	}
	_, err := c.exec.ExecContext(context.Background(), stmt, nil)
	return err
}
