package storetest_test

import (
	"context"
	"fmt"
	"runtime"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/paygate/paygate/store"
	"github.com/paygate/paygate/store/storetest"
)

func TestOpen_EachCallIsolatedAndMySQLDroppedAfterwards(t *testing.T) {
	ctx := context.Background()
	var name string
	t.Run("mysql", func(t *testing.T) {
		a, b := storetest.Open(t, store.MySQL), storetest.Open(t, store.MySQL)
		require.NoError(t, a.SQL().QueryRowContext(ctx, "SELECT DATABASE()").Scan(&name))
		var other string
		require.NoError(t, b.SQL().QueryRowContext(ctx, "SELECT DATABASE()").Scan(&other))
		assert.NotEqual(t, name, other)
		assert.Regexp(t, `^paygate_t_\d+_[0-9a-f]{12}$`, name)
		_, err := a.SQL().ExecContext(ctx, "INSERT INTO payment_order_mapping (order_id, payment_id, created_at) VALUES ('o', 'p', NOW())")
		require.NoError(t, err)
		var n int
		require.NoError(t, b.SQL().QueryRowContext(ctx, "SELECT COUNT(*) FROM payment_order_mapping").Scan(&n))
		assert.Zero(t, n, "a row written in one test database is invisible in another")
	})
	if name == "" {
		t.Skip("MySQL not available")
	}
	admin := storetest.Open(t, store.MySQL)
	var n int
	require.NoError(t, admin.SQL().QueryRowContext(ctx,
		"SELECT COUNT(*) FROM information_schema.schemata WHERE schema_name = ?", name).Scan(&n))
	assert.Zero(t, n, "the test database is dropped when its test ends")
}

func TestEach_RunsOneSubtestPerDialectWithMigratedDatabase(t *testing.T) {
	var ran []store.Dialect
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ran = append(ran, db.Dialect())
		var n int
		require.NoError(t, db.SQL().QueryRow("SELECT COUNT(*) FROM paygate_schema_migrations").Scan(&n))
		assert.Positive(t, n)
	})
	assert.Contains(t, ran, store.SQLite)
}

// recorder stands in for a test to observe Skip and Fatal, which end the
// calling goroutine.
type recorder struct {
	testing.TB
	skipped, fatal string
}

func (r *recorder) Skipf(format string, args ...any) {
	r.skipped = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

func (r *recorder) Fatalf(format string, args ...any) {
	r.fatal = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

func openWith(t *testing.T) *recorder {
	r := &recorder{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		storetest.Open(r, store.MySQL)
	}()
	<-done
	return r
}

func TestOpen_MySQLUnreachable_SkipsLocallyFailsUnderCI(t *testing.T) {
	// Not parallel: it sets environment variables.
	t.Setenv(storetest.EnvMySQLDSN, "root@tcp(127.0.0.1:1)/test")

	t.Setenv("CI", "")
	r := openWith(t)
	assert.Empty(t, r.fatal)
	assert.Contains(t, r.skipped, "does not answer")
	assert.Contains(t, r.skipped, storetest.EnvMySQLDSN)

	t.Setenv("CI", "true")
	r = openWith(t)
	assert.Empty(t, r.skipped)
	assert.Contains(t, r.fatal, "CI=true")
}

// TestExampleEach runs ExampleEach's test, which an example function cannot
// run itself: it needs a *testing.T.
func TestExampleEach(t *testing.T) { testShopOrders(t) }
