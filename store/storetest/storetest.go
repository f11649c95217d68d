// Package storetest gives tests a fresh, migrated, isolated paygate database
// per call, on SQLite and on MySQL/MariaDB, so every package's tests can run
// in parallel against one database server without seeing each other's rows.
//
//	func TestSomething(t *testing.T) {
//		storetest.Each(t, func(t *testing.T, db *store.DB) {
//			// db is empty and migrated; it is dropped when the test ends.
//		})
//	}
//
// MySQL tests use the server named by PAYGATE_TEST_MYSQL_DSN (default
// root@tcp(127.0.0.1:3306)/test?parseTime=true); the database in that DSN is
// only used to connect. Each Open creates its own database, paygate_t_<time>_<random>,
// and drops it in t.Cleanup; databases left by killed runs are dropped once
// they are six hours old. Test pools hold at most 10 connections, since many
// packages share the server. When the server does not answer, MySQL tests
// are skipped with a message saying so, or fail when CI=true.
//
// Databases hold every table of paygate's packages (store's migrations). A
// host's tests that need the host's own tables too pass its migrations to
// Each (store.WithMigrations), or migrate an Open database again with them.
// Tests that need several handles on one database (several instances,
// concurrent migrations) get an empty database's DSN from NewDSN and open it
// themselves.
package storetest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/paygate/paygate/store"
)

// EnvMySQLDSN names the environment variable holding the MySQL server tests
// use.
const EnvMySQLDSN = "PAYGATE_TEST_MYSQL_DSN"

// DefaultMySQLDSN is used when EnvMySQLDSN is unset.
const DefaultMySQLDSN = "root@tcp(127.0.0.1:3306)/test?parseTime=true"

// dbPrefix starts the name of every database Open creates, so leftovers of
// killed test runs can be recognised and dropped.
const dbPrefix = "paygate_t_"

// staleAfter is how old a leftover test database must be before Open drops
// it: far longer than any test run, so a running test's database is safe.
const staleAfter = 6 * time.Hour

// Test pools are smaller than production ones: dozens of tests, in several
// packages at once, share one server and its connection limit.
const (
	testMaxOpen = 10
	testMaxIdle = 2
)

// Dialects lists the dialects Each runs, in order.
var Dialects = []store.Dialect{store.SQLite, store.MySQL}

// Open returns a fresh, migrated database of dialect d that only this test
// sees, closed (and on MySQL dropped) when the test ends. On MySQL it skips
// the test, or fails it under CI=true, when the server does not answer.
// opts are passed to store.Open (e.g. store.WithClock).
func Open(t testing.TB, d store.Dialect, opts ...store.Option) *store.DB {
	t.Helper()
	return open(t, d, opts, nil)
}

func open(t testing.TB, d store.Dialect, opts []store.Option, migrations []store.MigrateOption) *store.DB {
	t.Helper()
	dsn := NewDSN(t, d)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	db, err := store.Open(ctx, dsn, opts...)
	if err != nil {
		t.Fatalf("storetest: %v", err)
	}
	if d == store.MySQL {
		db.SQL().SetMaxOpenConns(testMaxOpen)
		db.SQL().SetMaxIdleConns(testMaxIdle)
	}
	// Cleanups run last-registered first: the pool closes before the
	// database is dropped.
	t.Cleanup(func() { _ = db.Close() })
	if err := db.Migrate(ctx, migrations...); err != nil {
		t.Fatalf("storetest: migrate %s: %v", d, err)
	}
	return db
}

// NewDSN creates a fresh, empty (not migrated) database of dialect d for this
// test and returns its store.Open DSN, for tests that open several handles on
// one database (several instances, concurrent migrations). The database is
// dropped (MySQL) or deleted with t.TempDir (SQLite) when the test ends; close
// the handles first, in t.Cleanup. Skips or fails like Open when MySQL does
// not answer.
func NewDSN(t testing.TB, d store.Dialect) string {
	t.Helper()
	switch d {
	case store.SQLite:
		return "sqlite:" + filepath.Join(t.TempDir(), "paygate.db")
	case store.MySQL:
		return newMySQLDatabase(t)
	default:
		t.Fatalf("storetest: unknown dialect %q", d)
		return ""
	}
}

// Each runs fn as a subtest per dialect, named "sqlite" and "mysql", each
// with its own fresh database from Open, migrated with store's migrations
// and those given (a host's own tables, store.WithMigrations). Call
// t.Parallel() inside fn to run the dialects concurrently.
func Each(t *testing.T, fn func(t *testing.T, db *store.DB), migrations ...store.MigrateOption) {
	t.Helper()
	for _, d := range Dialects {
		t.Run(string(d), func(t *testing.T) {
			fn(t, open(t, d, nil, migrations))
		})
	}
}

// server is a connection to a test MySQL server, made once per DSN and kept
// for the life of the test process.
type server struct {
	once sync.Once
	db   *sql.DB
	cfg  *mysql.Config
	err  error
}

var servers sync.Map // DSN → *server

func mysqlServer(ctx context.Context) (*sql.DB, *mysql.Config, error) {
	dsn := os.Getenv(EnvMySQLDSN)
	if dsn == "" {
		dsn = DefaultMySQLDSN
	}
	v, _ := servers.LoadOrStore(dsn, &server{})
	s := v.(*server)
	s.once.Do(func() { s.db, s.cfg, s.err = connectServer(ctx, dsn) })
	return s.db, s.cfg, s.err
}

func connectServer(ctx context.Context, dsn string) (*sql.DB, *mysql.Config, error) {
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", EnvMySQLDSN, err)
	}
	admin := cfg.Clone()
	admin.ParseTime = true
	if admin.Timeout == 0 || admin.Timeout > 3*time.Second {
		admin.Timeout = 3 * time.Second
	}
	conn, err := mysql.NewConnector(admin)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", EnvMySQLDSN, err)
	}
	db := sql.OpenDB(conn)
	db.SetMaxOpenConns(4)
	db.SetMaxIdleConns(1)
	db.SetConnMaxIdleTime(10 * time.Second)
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := db.PingContext(pctx); err != nil {
		db.Close()
		return nil, nil, fmt.Errorf("MySQL at %s does not answer (%v); start it or set %s to a server that does", cfg.Addr, err, EnvMySQLDSN)
	}
	dropStale(ctx, db)
	return db, cfg, nil
}

// dropStale drops test databases left behind by runs that were killed before
// their cleanup ran. Failures are ignored: another process may be dropping
// the same database.
func dropStale(ctx context.Context, db *sql.DB) {
	rows, err := db.QueryContext(ctx, "SELECT schema_name FROM information_schema.schemata WHERE schema_name LIKE 'paygate\\_t\\_%'")
	if err != nil {
		return
	}
	var names []string
	for rows.Next() {
		var n string
		if rows.Scan(&n) == nil {
			names = append(names, n)
		}
	}
	rows.Close()
	for _, n := range names {
		stamp, _, ok := strings.Cut(strings.TrimPrefix(n, dbPrefix), "_")
		if !ok {
			continue
		}
		sec, err := strconv.ParseInt(stamp, 10, 64)
		if err != nil || time.Since(time.Unix(sec, 0)) < staleAfter {
			continue
		}
		_, _ = db.ExecContext(ctx, "DROP DATABASE IF EXISTS `"+n+"`")
	}
}

func unavailable(t testing.TB, err error) {
	t.Helper()
	if ci, _ := strconv.ParseBool(os.Getenv("CI")); ci {
		t.Fatalf("storetest: %v (CI=true: MySQL tests must run)", err)
	}
	t.Skipf("storetest: skipping MySQL test: %v", err)
}

func newMySQLDatabase(t testing.TB) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	admin, cfg, err := mysqlServer(ctx)
	if err != nil {
		unavailable(t, err)
		return ""
	}
	var rnd [6]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		t.Fatalf("storetest: %v", err)
	}
	name := fmt.Sprintf("%s%d_%s", dbPrefix, time.Now().Unix(), hex.EncodeToString(rnd[:]))
	if _, err := admin.ExecContext(ctx, "CREATE DATABASE `"+name+"` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"); err != nil {
		t.Fatalf("storetest: create database %s: %v", name, err)
	}
	t.Cleanup(func() {
		cctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if _, err := admin.ExecContext(cctx, "DROP DATABASE IF EXISTS `"+name+"`"); err != nil {
			t.Errorf("storetest: drop database %s: %v", name, err)
		}
	})
	dbCfg := cfg.Clone()
	dbCfg.DBName = name
	return "mysql:" + dbCfg.FormatDSN()
}
