package saga_test

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/paygate/paygate/saga"
	"github.com/paygate/paygate/store"
)

// crashChildEnv carries the database DSN to the child process of the crash
// test; without it TestCrashChild does nothing.
const crashChildEnv = "PAYGATE_SAGA_CRASH_CHILD_DSN"

// crashDefinition is the saga the crash test runs: an external "charge"
// with a lookup (the PG approve), a local "reserve" and a local "confirm"
// that fails for every tenth order, so the first two are compensated.
// Every step records its effect with a unique key in its commit; the
// external system counts the calls it receives.
func crashDefinition(db *store.DB) *saga.Definition {
	ext := &external{db: db}
	pause := func() { time.Sleep(time.Duration(rand.N(5000)) * time.Microsecond) }
	effect := func(a saga.Attempt) func(context.Context, *sql.Tx) error {
		return func(ctx context.Context, tx *sql.Tx) error { return recordEffect(ctx, tx, a) }
	}
	local := func(name string, refuse func(businessKey string) bool) saga.Step {
		return saga.Step{
			Name: name,
			Action: func(ctx context.Context, a saga.Attempt) (saga.Result, error) {
				if err := countCall(ctx, db, a.IdempotencyKey); err != nil {
					return saga.Result{}, err
				}
				pause()
				if refuse != nil && refuse(a.BusinessKey) {
					return saga.Result{}, saga.Permanent(errors.New("refused"))
				}
				return saga.Result{Commit: effect(a)}, nil
			},
			Compensate: func(ctx context.Context, a saga.Attempt) (saga.Result, error) {
				pause()
				return saga.Result{Commit: effect(a)}, nil
			},
		}
	}
	charge := saga.Step{
		Name: "charge",
		Action: func(ctx context.Context, a saga.Attempt) (saga.Result, error) {
			pause()
			if err := ext.call(ctx, a.IdempotencyKey); err != nil {
				return saga.Result{}, err
			}
			pause() // the window of F11: charged, not yet recorded
			return saga.Result{Commit: effect(a)}, nil
		},
		Resolve: func(ctx context.Context, a saga.Attempt) (saga.Result, error) {
			n, err := ext.lookup(ctx, a.IdempotencyKey)
			if err != nil {
				return saga.Result{}, err
			}
			if n == 0 {
				return saga.Result{}, saga.ErrNotDone
			}
			return saga.Result{Commit: effect(a)}, nil
		},
		Compensate: func(ctx context.Context, a saga.Attempt) (saga.Result, error) {
			pause()
			return saga.Result{Commit: effect(a)}, nil
		},
	}
	refuse := func(businessKey string) bool {
		var i int
		_, _ = fmt.Sscanf(businessKey, "order-%d", &i)
		return i%10 == 0
	}
	return &saga.Definition{Name: "crash", Steps: []saga.Step{charge, local("reserve", nil), local("confirm", refuse)}}
}

// TestCrashChild is the process the crash test kills. It runs a runner
// until no instance is left unfinished.
func TestCrashChild(t *testing.T) {
	dsn := os.Getenv(crashChildEnv)
	if dsn == "" {
		t.Skip("runs only as the child process of TestCrash_KilledProcess_EveryStepOnce")
	}
	ctx := context.Background()
	db, err := store.Open(ctx, dsn)
	require.NoError(t, err)
	defer db.Close()
	r := saga.NewRunner(newStore(db), saga.RunnerConfig{Loop: saga.Loop{
		Lease: time.Second, PollInterval: 10 * time.Millisecond, Concurrency: 4, Logger: quietLogger(),
	}})
	require.NoError(t, r.Register(crashDefinition(db)))
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- r.Run(runCtx) }()
	for {
		time.Sleep(50 * time.Millisecond)
		left, err := r.List(ctx, saga.Filter{States: []saga.State{saga.Running, saga.Compensating, saga.NeedsAttention}, Limit: 1})
		require.NoError(t, err)
		if len(left) == 0 {
			cancel()
			require.NoError(t, <-done)
			return
		}
	}
}

// TestCrash_KilledProcess_EveryStepOnce starts sagas, runs them in a child
// process that it SIGKILLs at random moments, restarts it, and finally lets
// one finish. Every saga must end terminal with each step's effect exactly
// once and the external system charged exactly once per saga (F11, F12).
func TestCrash_KilledProcess_EveryStepOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("kills and restarts processes")
	}
	tests := []struct {
		dialect store.Dialect
		sagas   int
		kills   int
	}{
		{store.MySQL, 200, 20},
		{store.SQLite, 60, 6},
	}
	for _, tt := range tests {
		t.Run(string(tt.dialect), func(t *testing.T) {
			dsn, db := openShared(t, tt.dialect)
			effects(t, db)
			newExternal(t, db)
			def := crashDefinition(db)
			r := saga.NewRunner(newStore(db), testConfig())
			require.NoError(t, r.Register(def))
			ids := startMany(t, db, r, def, tt.sagas)

			unfinished := func() int {
				left, err := r.List(context.Background(), saga.Filter{States: []saga.State{saga.Running, saga.Compensating}, Limit: 1000})
				require.NoError(t, err)
				return len(left)
			}
			kills := 0
			for kills < tt.kills && unfinished() > 0 {
				out, err := runChild(t, dsn, time.Duration(100+rand.N(300))*time.Millisecond)
				if err == nil {
					break // it finished everything before the kill
				}
				var exit *exec.ExitError
				require.True(t, errors.As(err, &exit), "child: %v\n%s", err, out)
				require.Equal(t, syscall.SIGKILL, exit.Sys().(syscall.WaitStatus).Signal(), "child failed:\n%s", out)
				kills++
			}
			out, err := runChild(t, dsn, 0)
			require.NoError(t, err, "final child:\n%s", out)

			completed, compensated := 0, 0
			for i, id := range ids {
				in, err := r.Get(context.Background(), id)
				require.NoError(t, err)
				charge := in.ID + ":charge:action"
				n, err := (&external{db: db}).lookup(context.Background(), charge)
				require.NoError(t, err)
				assert.Equal(t, 1, n, "saga %d: external charge calls", i)
				want := []string{"charge:action", "reserve:action", "confirm:action"}
				if i%10 == 0 {
					require.Equal(t, saga.Compensated, in.State, "saga %d: %s", i, in.Reason)
					want = []string{"charge:action", "reserve:action", "reserve:compensate", "charge:compensate"}
					compensated++
				} else {
					require.Equal(t, saga.Completed, in.State, "saga %d: %s", i, in.Reason)
					completed++
				}
				for _, w := range want {
					assert.Equal(t, 1, effectCount(t, db, "WHERE k = ?", in.ID+":"+w), "saga %d %s", i, w)
				}
				assert.Equal(t, len(want), effectCount(t, db, "WHERE saga_id = ?", in.ID), "saga %d: effects", i)
			}
			var calls, keys int
			require.NoError(t, db.SQL().QueryRow(`SELECT COALESCE(SUM(n), 0), COUNT(*) FROM test_calls`).Scan(&calls, &keys))
			t.Logf("%s: %d sagas (%d completed, %d compensated), %d SIGKILLs; local steps called %d times for %d effects",
				tt.dialect, tt.sagas, completed, compensated, kills, calls, keys)
		})
	}
}

// runChild runs TestCrashChild in a new process; with killAfter > 0 it
// SIGKILLs it then, otherwise it waits (up to two minutes) for it to finish.
func runChild(t *testing.T, dsn string, killAfter time.Duration) ([]byte, error) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), crashChildEnv+"="+dsn)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	require.NoError(t, cmd.Start())
	limit := killAfter
	if limit <= 0 {
		limit = 2 * time.Minute
	}
	waited := make(chan error, 1)
	go func() { waited <- cmd.Wait() }()
	select {
	case err := <-waited:
		return out.Bytes(), err
	case <-time.After(limit):
		_ = cmd.Process.Signal(syscall.SIGKILL)
		err := <-waited
		return out.Bytes(), err
	}
}
