package paygate_test

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/paygate/paygate/store"
	"github.com/paygate/paygate/store/storetest"
)

// byHandSchema is the hand-written floor's schema (bench/compare runs the
// floor itself): six tables of its own, without paygate's.
var byHandSchema = []string{
	`CREATE TABLE hand_checkout (order_id VARCHAR(64) PRIMARY KEY, amount DECIMAL(19,4) NOT NULL, pg VARCHAR(16) NOT NULL, created_at DATETIME(6) NOT NULL)`,
	`CREATE TABLE hand_payment (id BIGINT AUTO_INCREMENT PRIMARY KEY, order_id VARCHAR(64) NOT NULL, payment_key VARCHAR(200) NOT NULL, amount DECIMAL(19,4) NOT NULL, status VARCHAR(16) NOT NULL, version INT NOT NULL, updated_at DATETIME(6) NOT NULL, UNIQUE KEY (payment_key))`,
	`CREATE TABLE hand_mapping (order_id VARCHAR(64) PRIMARY KEY, payment_id BIGINT NOT NULL)`,
	`CREATE TABLE hand_event (id BIGINT AUTO_INCREMENT PRIMARY KEY, payment_id BIGINT NOT NULL, type VARCHAR(32) NOT NULL, payload JSON, created_at DATETIME(6) NOT NULL, KEY (payment_id))`,
	`CREATE TABLE hand_order (order_id VARCHAR(64) PRIMARY KEY, payment_id BIGINT NOT NULL, status VARCHAR(24) NOT NULL)`,
	`CREATE TABLE hand_ledger (payment_id BIGINT PRIMARY KEY, gross DECIMAL(19,4), fee DECIMAL(19,4), net DECIMAL(19,4), created_at DATETIME(6) NOT NULL)`,
}

// BenchmarkFlowByHand runs the hand-written floor's flow on MariaDB,
// statement for statement: five transactions on plain database/sql (the
// checkout; the approval's claim — payment, order mapping, event — before
// where the PG call would be; its outcome — a compare-and-set and an event
// — after it; the order and its event; the ledger entry and its event),
// with no PG call and none of paygate's guarantees. It reports what the
// floor's own output does not: the time of its approval, the claim and the
// outcome together, which is the least an approval that records itself
// durably before and after the PG call takes on this machine. Compare it
// with BenchmarkFlow's overhead-p50-ms at the same buyers
// (bench/compare/run.sh runs both in each round):
//
//	approve-p50-ms/-p99   the claim's and the outcome's transactions
//	flow-p50-ms           the five transactions
//	flows/s               flows a second
//
// Its connections are the floor's, not store.Open's: plain
// go-sql-driver/mysql connections, one per buyer, with the statements'
// arguments interpolated by the driver, the server's isolation level and
// a BEGIN of its own for each transaction.
func BenchmarkFlowByHand(b *testing.B) {
	cfg, err := mysql.ParseDSN(strings.TrimPrefix(storetest.NewDSN(b, store.MySQL), "mysql:"))
	if err != nil {
		b.Fatal(err)
	}
	cfg.InterpolateParams, cfg.ParseTime = true, true
	connector, err := mysql.NewConnector(cfg)
	if err != nil {
		b.Fatal(err)
	}
	db := sql.OpenDB(connector)
	b.Cleanup(func() { _ = db.Close() })
	buyers := benchBuyers(b)
	db.SetMaxOpenConns(buyers)
	db.SetMaxIdleConns(buyers)
	ctx := context.Background()
	for _, s := range byHandSchema {
		if _, err := db.ExecContext(ctx, s); err != nil {
			b.Fatal(err)
		}
	}
	var (
		mu            sync.Mutex
		approve, flow []time.Duration
	)
	b.ResetTimer()
	start := time.Now()
	runBuyers(b, buyers, func(n int64) bool {
		t0 := time.Now()
		took, err := byHandFlow(ctx, db, fmt.Sprintf("o-%d-%d", start.UnixNano(), n))
		if err != nil {
			b.Error(err)
			return false
		}
		mu.Lock()
		approve = append(approve, took)
		flow = append(flow, time.Since(t0))
		mu.Unlock()
		return true
	})
	elapsed := time.Since(start)
	b.StopTimer()
	if b.Failed() {
		return
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "flows/s")
	b.ReportMetric(ms(percentile(approve, 50)), "approve-p50-ms")
	b.ReportMetric(ms(percentile(approve, 99)), "approve-p99-ms")
	b.ReportMetric(ms(percentile(flow, 50)), "flow-p50-ms")
	b.ReportMetric(0, "ns/op")
}

// byHandFlow is one flow of the floor and the time its approval took.
func byHandFlow(ctx context.Context, db *sql.DB, oid string) (approve time.Duration, err error) {
	now := time.Now().UTC()
	if _, err := db.ExecContext(ctx, `INSERT INTO hand_checkout VALUES (?, 50000, 'tosspay', ?)`, oid, now); err != nil {
		return 0, err
	}
	t0 := time.Now()
	var pid int64
	err = byHandTx(ctx, db, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `INSERT INTO hand_payment (order_id, payment_key, amount, status, version, updated_at) VALUES (?, ?, 50000, 'APPROVING', 1, ?)`, oid, "pk-"+oid, now)
		if err != nil {
			return err
		}
		if pid, err = res.LastInsertId(); err != nil {
			return err
		}
		return byHandExec(ctx, tx,
			byHandStmt{`INSERT INTO hand_mapping VALUES (?, ?)`, []any{oid, pid}},
			byHandStmt{`INSERT INTO hand_event (payment_id, type, created_at) VALUES (?, 'PAYMENT_APPROVING', ?)`, []any{pid, now}})
	})
	if err != nil {
		return 0, err
	}
	// (the PG call would be here)
	err = byHandTx(ctx, db, func(tx *sql.Tx) error {
		return byHandExec(ctx, tx,
			byHandStmt{`UPDATE hand_payment SET status = 'APPROVED', version = 2, updated_at = ? WHERE id = ? AND version = 1`, []any{now, pid}},
			byHandStmt{`INSERT INTO hand_event (payment_id, type, created_at) VALUES (?, 'PAYMENT_APPROVED', ?)`, []any{pid, now}})
	})
	if err != nil {
		return 0, err
	}
	approve = time.Since(t0)
	err = byHandTx(ctx, db, func(tx *sql.Tx) error {
		return byHandExec(ctx, tx,
			byHandStmt{`INSERT INTO hand_order VALUES (?, ?, 'PAID')`, []any{oid, pid}},
			byHandStmt{`INSERT INTO hand_event (payment_id, type, created_at) VALUES (?, 'ORDER_CREATED', ?)`, []any{pid, now}})
	})
	if err != nil {
		return 0, err
	}
	err = byHandTx(ctx, db, func(tx *sql.Tx) error {
		return byHandExec(ctx, tx,
			byHandStmt{`INSERT INTO hand_ledger VALUES (?, 50000, 1650, 48350, ?)`, []any{pid, now}},
			byHandStmt{`INSERT INTO hand_event (payment_id, type, created_at) VALUES (?, 'SETTLEMENT_RECORDED', ?)`, []any{pid, now}})
	})
	return approve, err
}

type byHandStmt struct {
	query string
	args  []any
}

func byHandExec(ctx context.Context, tx *sql.Tx, stmts ...byHandStmt) error {
	for _, s := range stmts {
		if _, err := tx.ExecContext(ctx, s.query, s.args...); err != nil {
			return err
		}
	}
	return nil
}

// byHandTx runs fn in a transaction of its own and commits it.
func byHandTx(ctx context.Context, db *sql.DB, fn func(*sql.Tx) error) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	return tx.Commit()
}
