package main

import (
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// A small run with every fault on: three instances, one killed every 2s,
// ends with every flow converged and no invariant violated.
func TestChaos_SmallRunWithEveryFault_NoViolation(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs processes; skipped under -short")
	}
	o := options{flows: 60, instances: 3, workers: 6, seed: 20261202, killEvery: 2 * time.Second,
		hold: 100 * time.Millisecond, converge: 60 * time.Second, lockWait: 2 * time.Second, rates: map[string]*float64{},
		mysql: "root@tcp(127.0.0.1:3306)/"}
	if dsn := os.Getenv("PAYGATE_TEST_MYSQL_DSN"); dsn != "" {
		o.mysql = dsn
	}
	for _, k := range faultKinds {
		r := 0.15
		o.rates[k] = &r
	}
	ok, err := run(o)
	require.NoError(t, err)
	require.True(t, ok, "the run's table (above) shows violations or flows that did not converge")
}
