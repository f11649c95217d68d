package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-sql-driver/mysql"
)

// dbFaults injects MariaDB faults from outside the servers: a lock holder
// that keeps rows a flow is about to touch locked past the servers'
// innodb_lock_wait_timeout, transactions that lock a flow's rows in an
// order that deadlocks with the servers' own, and KILL QUERY / KILL
// CONNECTION of the servers' connections.
type dbFaults struct {
	h      *harness
	db     *sql.DB // the chaos database, for the lock holders
	admin  *sql.DB // the server, no database: processlist and KILL
	ours   sync.Map
	counts sync.Map // name → *atomic.Int64
}

func (d *dbFaults) add(name string) {
	v, _ := d.counts.LoadOrStore(name, new(atomic.Int64))
	v.(*atomic.Int64).Add(1)
}

func (d *dbFaults) count(name string) int64 {
	if v, ok := d.counts.Load(name); ok {
		return v.(*atomic.Int64).Load()
	}
	return 0
}

// conn is a connection of the harness's own, known to the killer so it is
// never a victim; its lock waits are long, so it waits for the servers'
// locks instead of giving up first.
func (d *dbFaults) conn(ctx context.Context) (*sql.Conn, error) {
	c, err := d.db.Conn(ctx)
	if err != nil {
		return nil, err
	}
	var id int64
	if err := c.QueryRowContext(ctx, "SELECT CONNECTION_ID()").Scan(&id); err != nil {
		_ = c.Close()
		return nil, err
	}
	d.ours.Store(id, true)
	for _, q := range []string{"SET SESSION innodb_lock_wait_timeout = 30", "SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED"} {
		if _, err := c.ExecContext(ctx, q); err != nil {
			_ = c.Close()
			return nil, err
		}
	}
	return c, nil
}

// target is a row of a flow that a server is about to lock.
type target struct{ name, query string }

// targets are the rows an approval and its saga touch, by the order id:
// the checkout (approve's first transaction locks it), the payment (the
// transaction after the PG's answer updates it), the saga instance (its
// steps), the shop's order (the order-creation step).
var targets = []target{
	{"checkout", "SELECT order_id FROM checkouts WHERE order_id = ? FOR UPDATE"},
	{"payment", "SELECT id FROM payments WHERE order_id = ? FOR UPDATE"},
	{"saga", "SELECT id FROM saga_instances WHERE definition = 'payment' AND business_key = (SELECT id FROM payments WHERE order_id = ? LIMIT 1) FOR UPDATE"},
	{"order", "SELECT order_id FROM example_orders WHERE order_id = ? FOR UPDATE"},
}

// waitPayment waits until the flow's payment row exists (approve's first
// transaction committed), up to limit.
func (d *dbFaults) waitPayment(ctx context.Context, orderID string, limit time.Duration) bool {
	end := time.Now().Add(limit)
	for time.Now().Before(end) {
		var n int
		if err := d.db.QueryRowContext(ctx, "SELECT COUNT(*) FROM payments WHERE order_id = ?", orderID).Scan(&n); err == nil && n > 0 {
			return true
		}
		time.Sleep(20 * time.Millisecond)
	}
	return false
}

// hold locks one of the flow's rows and keeps it past the servers' lock
// wait timeout. locked is closed once the lock is held (or given up), so a
// checkout lock can be in place before approve is sent.
func (d *dbFaults) hold(f *flow, rng *rand.Rand, locked chan<- struct{}) {
	defer func() {
		if locked != nil {
			close(locked)
		}
	}()
	t := targets[rng.IntN(len(targets))]
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if t.name == "payment" || t.name == "saga" {
		close(locked)
		locked = nil
		if !d.waitPayment(ctx, f.orderID, 3*time.Second) {
			d.add("lock skipped")
			return
		}
	}
	c, err := d.conn(ctx)
	if err != nil {
		d.add("lock error")
		return
	}
	defer c.Close()
	tx, err := c.BeginTx(ctx, nil)
	if err != nil {
		d.add("lock error")
		return
	}
	defer func() { _ = tx.Rollback() }()
	rows, err := tx.QueryContext(ctx, t.query, f.orderID)
	if err != nil {
		d.add("lock error")
		return
	}
	n := 0
	for rows.Next() {
		n++
	}
	_ = rows.Close()
	if locked != nil {
		close(locked)
		locked = nil
	}
	if n == 0 {
		d.add("lock skipped")
		return
	}
	d.add("lock " + t.name)
	time.Sleep(d.h.o.lockWait + 500*time.Millisecond)
}

// deadlock runs a transaction heavier than a server's (ballast rows), then
// locks the flow's saga instance, then — while the server's transaction
// after the PG's answer holds the payment and wants the instance — the
// payment, the order and the checkout: a cycle InnoDB breaks by rolling
// back the lighter transaction, the server's.
func (d *dbFaults) deadlock(f *flow, rng *rand.Rand) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if !d.waitPayment(ctx, f.orderID, 3*time.Second) {
		d.add("deadlock skipped")
		return
	}
	c, err := d.conn(ctx)
	if err != nil {
		d.add("deadlock error")
		return
	}
	defer c.Close()
	tx, err := c.BeginTx(ctx, nil)
	if err != nil {
		d.add("deadlock error")
		return
	}
	defer func() { _ = tx.Rollback() }()
	for i := range 40 {
		if _, err := tx.ExecContext(ctx, "INSERT INTO chaos_ballast (order_id, n) VALUES (?, ?)", f.orderID, i); err != nil {
			d.add("deadlock error")
			return
		}
	}
	order := []int{2, 1, 3, 0}
	d.add("deadlock attempted")
	for i, ti := range order {
		rows, err := tx.QueryContext(ctx, targets[ti].query, f.orderID)
		if err != nil {
			var me *mysql.MySQLError
			if errors.As(err, &me) && me.Number == 1213 {
				d.add("deadlock, the harness's transaction chosen")
			}
			return
		}
		for rows.Next() {
		}
		_ = rows.Close()
		if i == 0 {
			time.Sleep(time.Duration(50+rng.IntN(250)) * time.Millisecond)
		}
	}
	time.Sleep(100 * time.Millisecond)
}

// kill kills a server connection of the chaos database, preferring one
// running a statement: KILL QUERY or KILL CONNECTION.
func (d *dbFaults) kill(rng *rand.Rand) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	how := "KILL QUERY"
	if rng.IntN(2) == 0 {
		how = "KILL CONNECTION"
	}
	end := time.Now().Add(500 * time.Millisecond)
	var idle []int64
	for time.Now().Before(end) {
		rows, err := d.admin.QueryContext(ctx, "SELECT ID, COMMAND FROM information_schema.PROCESSLIST WHERE DB = ? AND ID <> CONNECTION_ID()", d.h.dbName)
		if err != nil {
			d.add("kill error")
			return
		}
		var busy []int64
		idle = idle[:0]
		for rows.Next() {
			var id int64
			var cmd string
			if rows.Scan(&id, &cmd) != nil {
				continue
			}
			if _, ours := d.ours.Load(id); ours {
				continue
			}
			if cmd == "Query" || cmd == "Execute" {
				busy = append(busy, id)
			} else {
				idle = append(idle, id)
			}
		}
		_ = rows.Close()
		if len(busy) > 0 {
			id := busy[rng.IntN(len(busy))]
			if _, err := d.admin.ExecContext(ctx, fmt.Sprintf("%s %d", how, id)); err == nil {
				d.add(strings.ToLower(how) + " of a running statement")
			}
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	if len(idle) > 0 {
		id := idle[rng.IntN(len(idle))]
		if _, err := d.admin.ExecContext(ctx, fmt.Sprintf("KILL CONNECTION %d", id)); err == nil {
			d.add("kill connection of an idle connection")
		}
		return
	}
	d.add("kill skipped")
}

var retriedLine = regexp.MustCompile(`msg="store: transaction retried" cause=("[^"]*"|\S+)`)

// serverRetries counts the servers' logged transaction retries by cause.
func serverRetries(dir string) map[string]int {
	out := map[string]int{}
	logs, _ := filepath.Glob(filepath.Join(dir, "server*.log"))
	for _, l := range logs {
		data, err := os.ReadFile(l)
		if err != nil {
			continue
		}
		for _, m := range retriedLine.FindAllStringSubmatch(string(data), -1) {
			out[strings.Trim(m[1], `"`)]++
		}
	}
	return out
}
