package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"
	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

// Dialect names the SQL dialect behind a DB. Repositories branch on it where
// MySQL and SQLite differ (locking reads, error codes); everything else is
// the same SQL.
type Dialect string

// The dialects paygate runs on.
const (
	// MySQL is MySQL 8 or MariaDB 10.6+ (SKIP LOCKED is required), the
	// production database.
	MySQL Dialect = "mysql"
	// SQLite is the embedded default: one file, one writer at a time.
	SQLite Dialect = "sqlite"
)

// String returns the dialect name as used in DSN prefixes.
func (d Dialect) String() string { return string(d) }

// DefaultMySQLPool is the connection pool Open gives a MySQL database, open
// and idle alike: a payment flow holds a connection only for a short
// transaction (external calls happen outside transactions), so a modest pool
// serves many concurrent flows, and keeping every connection idle instead
// of closing and redialling it is what lets it. More connections than the
// server has cores to run them on make it slower, not faster: each active
// connection is a server thread, and past a few per core the server spends
// its time switching between them (the flow benchmark on a 2-core server:
// 16 connections 8% more flows per second than 32, and the order's p99
// 0.3 ms instead of 0.3–0.6 s). Size it to the server, about 4–8 per core
// shared by every process of the application, through SQL().
const DefaultMySQLPool = 16

// Pool settings for MySQL.
const (
	mysqlMaxOpen     = DefaultMySQLPool
	mysqlMaxIdle     = DefaultMySQLPool
	mysqlMaxLifetime = 30 * time.Minute
	mysqlMaxIdleTime = 5 * time.Minute
	mysqlDialTimeout = 5 * time.Second
)

// SQLite settings. Readers run concurrently under WAL; writers are serialized
// by InTx (see DB.InTx) and, across processes, by BEGIN IMMEDIATE plus the
// busy timeout.
const (
	sqliteMaxOpen     = 8
	sqliteBusyTimeout = 10 * time.Second
)

// DB is a paygate database: a *sql.DB plus what the repositories need to know
// about it. It is safe for concurrent use. Create it with Open and close it
// with Close.
type DB struct {
	sql     *sql.DB
	dialect Dialect
	// writer serializes InTx on SQLite so write transactions queue in Go
	// instead of spinning on SQLITE_BUSY. nil on MySQL.
	writer chan struct{}
	now    func() time.Time
	// log receives a line for every transaction InTx runs again.
	log *slog.Logger
}

// Option configures a DB at Open.
type Option func(*DB)

// WithLogger makes InTx log, at Warn, every transaction it runs again and
// why (deadlock, lock wait timeout, lost connection, ...), so retries that
// absorb database faults can be seen and counted. Without it they are not
// logged.
func WithLogger(log *slog.Logger) Option {
	return func(db *DB) {
		if log != nil {
			db.log = log
		}
	}
}

// WithClock makes the repositories take "now" (created_at, updated_at when
// a record leaves them zero, and every update's updated_at) from now instead
// of time.Now, so tests can move time.
func WithClock(now func() time.Time) Option {
	return func(db *DB) {
		if now != nil {
			db.now = now
		}
	}
}

// Open connects to the database named by dsn and checks that it answers.
// It does not migrate; call Migrate.
//
// dsn is one of
//
//	mysql:<go-sql-driver DSN>   e.g. mysql:app:secret@tcp(db:3306)/paygate
//	sqlite:<file path>          e.g. sqlite:./data/paygate.db
//	sqlite::memory:             a private in-memory database (tests of the API only)
//
// For MySQL, Open forces parseTime=true, loc=UTC, interpolateParams=true (one
// round trip per statement instead of prepare/execute/close),
// clientFoundRows=true (an UPDATE reports matched rows, which the
// compare-and-set repositories rely on), multiStatements=true (a
// transaction's deferred writes reach the server in one request, see
// Deferred; every value still travels as an escaped argument, never as
// statement text), and sets the session isolation level
// to READ COMMITTED unless the DSN sets one: claims use locking reads and
// unique inserts, and READ COMMITTED avoids the gap locks that make
// REPEATABLE READ deadlock on them. Statement-based binary logging is not
// compatible with READ COMMITTED; use ROW or MIXED. A transaction begun on
// these connections (InTx, or SQL().BeginTx without options) sends its
// START TRANSACTION with its first statement, in the same request, and one
// that runs no statement sends nothing; Deferred.FlushCommit sends the
// COMMIT with the transaction's last writes where nothing is checked after
// them.
//
// For SQLite, Open creates the file's directory if needed and enables WAL,
// a busy timeout, foreign keys, synchronous=NORMAL and BEGIN IMMEDIATE for
// every transaction; times are written as UTC text whatever their location.
func Open(ctx context.Context, dsn string, opts ...Option) (*DB, error) {
	scheme, rest, ok := strings.Cut(dsn, ":")
	if !ok || rest == "" {
		return nil, fmt.Errorf("store: open: dsn must be \"mysql:<dsn>\" or \"sqlite:<path>\", got %q", redactDSN(dsn))
	}
	var db *DB
	var err error
	switch Dialect(scheme) {
	case MySQL:
		db, err = openMySQL(ctx, rest)
	case SQLite:
		db, err = openSQLite(ctx, rest)
	default:
		return nil, fmt.Errorf("store: open: unknown dialect %q (want mysql or sqlite)", scheme)
	}
	if err != nil {
		return nil, err
	}
	db.now = time.Now
	for _, o := range opts {
		o(db)
	}
	return db, nil
}

// clock returns the current time as stored.
func (db *DB) clock() time.Time { return dbTime(db.now()) }

// redactDSN drops everything that may hold a password.
func redactDSN(dsn string) string {
	if i := strings.LastIndex(dsn, "@"); i >= 0 {
		return "…" + dsn[i:]
	}
	return dsn
}

// isolationVars are the session variables that set the isolation level:
// MySQL 5.7.20+ and MariaDB 11.1+ know transaction_isolation, older MariaDB
// only tx_isolation.
var isolationVars = []string{"transaction_isolation", "tx_isolation"}

func openMySQL(ctx context.Context, raw string) (*DB, error) {
	cfg, err := mysql.ParseDSN(raw)
	if err != nil {
		return nil, fmt.Errorf("store: open mysql: %w", err)
	}
	if cfg.DBName == "" {
		return nil, errors.New("store: open mysql: the DSN names no database")
	}
	cfg.ParseTime = true
	cfg.InterpolateParams = true
	cfg.ClientFoundRows = true
	cfg.MultiStatements = true
	cfg.Loc = time.UTC
	if cfg.Timeout == 0 {
		cfg.Timeout = mysqlDialTimeout
	}
	if cfg.Params == nil {
		cfg.Params = map[string]string{}
	}
	// Session times are UTC too, so NOW() and implicit conversions agree
	// with the values the driver sends.
	if _, set := cfg.Params["time_zone"]; !set {
		cfg.Params["time_zone"] = "'+00:00'"
	}
	userSetIsolation := false
	for _, v := range isolationVars {
		if _, set := cfg.Params[v]; set {
			userSetIsolation = true
		}
	}
	if !userSetIsolation {
		v, err := isolationVar(ctx, cfg)
		if err != nil {
			return nil, err
		}
		cfg.Params[v] = "'READ-COMMITTED'"
	}
	conn, err := mysql.NewConnector(cfg)
	if err != nil {
		return nil, fmt.Errorf("store: open mysql: %w", err)
	}
	sdb := sql.OpenDB(lazyBeginConnector{conn})
	sdb.SetMaxOpenConns(mysqlMaxOpen)
	sdb.SetMaxIdleConns(mysqlMaxIdle)
	sdb.SetConnMaxLifetime(mysqlMaxLifetime)
	sdb.SetConnMaxIdleTime(mysqlMaxIdleTime)
	if err := sdb.PingContext(ctx); err != nil {
		sdb.Close()
		return nil, fmt.Errorf("store: open mysql %s/%s: %w", cfg.Addr, cfg.DBName, err)
	}
	return &DB{sql: sdb, dialect: MySQL}, nil
}

// isolationVar asks the server which isolation variable it knows.
func isolationVar(ctx context.Context, cfg *mysql.Config) (string, error) {
	probe := cfg.Clone()
	conn, err := mysql.NewConnector(probe)
	if err != nil {
		return "", fmt.Errorf("store: open mysql: %w", err)
	}
	sdb := sql.OpenDB(conn)
	defer sdb.Close()
	var name, value string
	err = sdb.QueryRowContext(ctx, "SHOW VARIABLES LIKE 'transaction_isolation'").Scan(&name, &value)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return isolationVars[1], nil
	case err != nil:
		return "", fmt.Errorf("store: open mysql %s/%s: %w", cfg.Addr, cfg.DBName, err)
	}
	return isolationVars[0], nil
}

func openSQLite(ctx context.Context, path string) (*DB, error) {
	if strings.ContainsAny(path, "?#") || strings.HasPrefix(path, "file:") {
		return nil, fmt.Errorf("store: open sqlite: give a plain file path, not a URI: %q", path)
	}
	memory := path == ":memory:"
	if !memory {
		if dir := filepath.Dir(path); dir != "" {
			if err := os.MkdirAll(dir, 0o750); err != nil {
				return nil, fmt.Errorf("store: open sqlite %q: %w", path, err)
			}
		}
	}
	q := url.Values{}
	q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", sqliteBusyTimeout.Milliseconds()))
	q.Add("_pragma", "foreign_keys(1)")
	q.Add("_pragma", "synchronous(NORMAL)")
	if !memory {
		q.Add("_pragma", "journal_mode(WAL)")
	}
	q.Set("_txlock", "immediate")
	q.Set("_time_format", "sqlite")
	// Every time written through this DB, by any package, is UTC text, so
	// stored times compare as instants.
	q.Set("_timezone", "UTC")
	sdb, err := sql.Open("sqlite", path+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("store: open sqlite %q: %w", path, err)
	}
	if memory {
		// Every connection to ":memory:" is its own empty database.
		sdb.SetMaxOpenConns(1)
	} else {
		sdb.SetMaxOpenConns(sqliteMaxOpen)
		sdb.SetMaxIdleConns(sqliteMaxOpen)
	}
	sdb.SetConnMaxIdleTime(0)
	sdb.SetConnMaxLifetime(0)
	if err := sdb.PingContext(ctx); err != nil {
		sdb.Close()
		return nil, fmt.Errorf("store: open sqlite %q: %w", path, err)
	}
	return &DB{sql: sdb, dialect: SQLite, writer: make(chan struct{}, 1)}, nil
}

// SQL returns the underlying pool, for queries the repositories do not cover
// and for pool tuning. Write through InTx so retries and SQLite's single
// writer apply.
func (db *DB) SQL() *sql.DB { return db.sql }

// Dialect reports which SQL dialect the database speaks.
func (db *DB) Dialect() Dialect { return db.dialect }

// Close closes the pool. Transactions in flight fail.
func (db *DB) Close() error {
	if err := db.sql.Close(); err != nil {
		return fmt.Errorf("store: close: %w", err)
	}
	return nil
}
