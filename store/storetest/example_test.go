package storetest_test

import (
	"context"
	"database/sql"
	"testing"
	"testing/fstest"

	"github.com/paygate/paygate/store"
	"github.com/paygate/paygate/store/storetest"
)

// shopMigrations stands for a host's own tables, usually an embed.FS of
// mysql/ and sqlite/ files narrowed with fs.Sub.
var shopMigrations = fstest.MapFS{
	"mysql/0900_shop_orders.sql": {Data: []byte(
		"CREATE TABLE IF NOT EXISTS shop_orders (id VARCHAR(64) NOT NULL PRIMARY KEY, payment_id VARCHAR(64) NOT NULL);")},
	"sqlite/0900_shop_orders.sql": {Data: []byte(
		"CREATE TABLE IF NOT EXISTS shop_orders (id TEXT NOT NULL PRIMARY KEY, payment_id TEXT NOT NULL);")},
}

// testShopOrders is a host's test. Each runs it once per dialect, as the
// subtests "sqlite" and "mysql", each on a fresh database of its own with
// paygate's tables and the shop's; MySQL is the server named by
// PAYGATE_TEST_MYSQL_DSN, and without one the "mysql" subtest is skipped
// (failed under CI=true).
func testShopOrders(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		t.Parallel() // the two dialects side by side
		ctx := context.Background()
		err := db.InTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
			_, err := tx.ExecContext(ctx, "INSERT INTO shop_orders (id, payment_id) VALUES (?, ?)", "order-1", "pay_1")
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		var n int
		if err := db.SQL().QueryRowContext(ctx, "SELECT COUNT(*) FROM shop_orders").Scan(&n); err != nil {
			t.Fatal(err)
		}
		ps, err := db.PaymentsByOrder(ctx, "order-1")
		if err != nil {
			t.Fatal(err)
		}
		if n != 1 || len(ps) != 0 {
			t.Errorf("%s: %d orders and %d payments, want 1 and 0", db.Dialect(), n, len(ps))
		}
	}, store.WithMigrations("shop", shopMigrations))
}

// How a test gets a database on both dialects. In a host's _test.go file:
//
//	func TestShopOrders(t *testing.T) { testShopOrders(t) }
//
// (This package's own TestExampleEach runs exactly that.)
func ExampleEach() {}
