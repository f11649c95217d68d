package saga_test

import (
	"context"
	"database/sql"
	"errors"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/paygate/paygate/saga"
	"github.com/paygate/paygate/store"
	"github.com/paygate/paygate/store/storetest"
)

func TestRun_ThreeSteps_EachEffectOnceAndCompleted(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		t.Parallel()
		effects(t, db)
		r := saga.NewRunner(newStore(db), testConfig())
		def := &saga.Definition{Name: "three", Steps: []saga.Step{dbStep("a"), dbStep("b"), dbStep("c")}}
		require.NoError(t, r.Register(def))
		runFor(t, r)
		in := start(t, db, r, def, "k1")
		done := waitState(t, r, in.ID, saga.Completed)
		assert.Equal(t, 3, effectCount(t, db, "WHERE saga_id = ?", in.ID))
		assert.Zero(t, done.RunAt, "a terminal instance is never due")
		assert.Empty(t, done.LeaseToken)
		for _, name := range []string{"a", "b", "c"} {
			s, ok := done.Step(name, saga.OpAction)
			require.True(t, ok, name)
			assert.Equal(t, saga.StepDone, s.Status)
			assert.Equal(t, 1, s.Attempts)
			assert.Equal(t, name+"-out", string(s.Output))
		}
	})
}

func TestStart_DuplicateKey_ReturnsExistingAndErrDuplicate(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		t.Parallel()
		effects(t, db)
		r := saga.NewRunner(newStore(db), testConfig())
		def := &saga.Definition{Name: "dup", Steps: []saga.Step{dbStep("a")}}
		require.NoError(t, r.Register(def))
		first := start(t, db, r, def, "same")
		var second *saga.Instance
		err := db.InTx(context.Background(), func(ctx context.Context, tx *sql.Tx) error {
			var err error
			second, err = r.Start(ctx, tx, def, "same", nil)
			if errors.Is(err, saga.ErrDuplicate) {
				return nil // the caller's other writes may still commit
			}
			return err
		})
		require.NoError(t, err)
		require.NotNil(t, second)
		assert.Equal(t, first.ID, second.ID)
		list, err := r.List(context.Background(), saga.Filter{Definition: "dup"})
		require.NoError(t, err)
		assert.Len(t, list, 1)
	})
}

func TestStart_RolledBack_LeavesNothing(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		t.Parallel()
		r := saga.NewRunner(newStore(db), testConfig())
		def := &saga.Definition{Name: "rb", Steps: []saga.Step{dbStep("a")}}
		require.NoError(t, r.Register(def))
		boom := errors.New("business change failed")
		err := db.InTx(context.Background(), func(ctx context.Context, tx *sql.Tx) error {
			if _, err := r.Start(ctx, tx, def, "k", nil); err != nil {
				return err
			}
			return boom
		})
		require.ErrorIs(t, err, boom)
		_, err = r.GetByKey(context.Background(), "rb", "k")
		require.ErrorIs(t, err, saga.ErrNotFound)
	})
}

func TestStart_BadInput_ClearErrorNothingWritten(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		t.Parallel()
		r := saga.NewRunner(newStore(db), testConfig())
		def := &saga.Definition{Name: "bad", Steps: []saga.Step{dbStep("a")}}
		require.NoError(t, r.Register(def))
		other := &saga.Definition{Name: "unregistered", Steps: []saga.Step{dbStep("a")}}
		long := string(make([]byte, 300))
		tests := []struct {
			name string
			def  *saga.Definition
			key  string
			want error
		}{
			{"empty key", def, "", saga.ErrInvalid},
			{"key too long", def, long, saga.ErrInvalid},
			{"unregistered definition", other, "k", saga.ErrUnknownDefinition},
			{"nil definition", nil, "k", saga.ErrInvalid},
		}
		for _, tt := range tests {
			err := db.InTx(context.Background(), func(ctx context.Context, tx *sql.Tx) error {
				_, err := r.Start(ctx, tx, tt.def, tt.key, nil)
				return err
			})
			assert.ErrorIs(t, err, tt.want, tt.name)
		}
		list, err := r.List(context.Background(), saga.Filter{})
		require.NoError(t, err)
		assert.Empty(t, list)
	})
}

func TestRegister_InvalidDefinitions_Refused(t *testing.T) {
	noop := func(context.Context, saga.Attempt) (saga.Result, error) { return saga.Result{}, nil }
	tests := []struct {
		name string
		def  *saga.Definition
	}{
		{"nil", nil},
		{"no name", &saga.Definition{Steps: []saga.Step{{Name: "a", Action: noop}}}},
		{"no steps", &saga.Definition{Name: "x"}},
		{"step without action", &saga.Definition{Name: "x", Steps: []saga.Step{{Name: "a"}}}},
		{"duplicate step", &saga.Definition{Name: "x", Steps: []saga.Step{{Name: "a", Action: noop}, {Name: "a", Action: noop}}}},
		{"unnamed step", &saga.Definition{Name: "x", Steps: []saga.Step{{Action: noop}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := saga.NewRunner(nil, saga.RunnerConfig{})
			assert.ErrorIs(t, r.Register(tt.def), saga.ErrInvalid)
		})
	}
}

// failingStep fails its first n calls with err, then succeeds with an effect.
func failingStep(name string, n int, err error, calls *sync.Map) saga.Step {
	s := dbStep(name)
	action := s.Action
	s.Action = func(ctx context.Context, a saga.Attempt) (saga.Result, error) {
		v, _ := calls.LoadOrStore(a.IdempotencyKey, new(int))
		c := v.(*int)
		*c++
		if *c <= n {
			return saga.Result{}, err
		}
		return action(ctx, a)
	}
	return s
}

func TestRun_StepFailures(t *testing.T) {
	transient := errors.New("order service busy")
	refused := saga.Permanent(errors.New("order refused"))
	tests := []struct {
		name string
		// fails and err configure step "b"
		fails int
		err   error
		want  saga.State
		// effects expected: action and compensation keys
		actions       []string
		compensations []string
		attemptsB     int
	}{
		{"transient then ok", 2, transient, saga.Completed, []string{"a", "b", "c"}, nil, 3},
		{"transient exhausted compensates the step too", 100, transient, saga.Compensated, []string{"a"}, []string{"b", "a"}, 3},
		{"permanent compensates earlier steps only", 100, refused, saga.Compensated, []string{"a"}, []string{"a"}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			storetest.Each(t, func(t *testing.T, db *store.DB) {
				t.Parallel()
				effects(t, db)
				var calls sync.Map
				r := saga.NewRunner(newStore(db), testConfig())
				def := &saga.Definition{Name: "f", Steps: []saga.Step{dbStep("a"), failingStep("b", tt.fails, tt.err, &calls), dbStep("c")}}
				require.NoError(t, r.Register(def))
				runFor(t, r)
				in := start(t, db, r, def, "k")
				done := waitState(t, r, in.ID, tt.want)
				for _, s := range tt.actions {
					assert.Equal(t, 1, effectCount(t, db, "WHERE k = ?", in.ID+":"+s+":action"), s)
				}
				for _, s := range tt.compensations {
					assert.Equal(t, 1, effectCount(t, db, "WHERE k = ?", in.ID+":"+s+":compensate"), s)
				}
				assert.Equal(t, len(tt.actions)+len(tt.compensations), effectCount(t, db, "WHERE saga_id = ?", in.ID))
				b, ok := done.Step("b", saga.OpAction)
				require.True(t, ok)
				assert.Equal(t, tt.attemptsB, b.Attempts)
				if tt.want == saga.Compensated {
					assert.Contains(t, done.Reason, "step \"b\"")
				}
			})
		})
	}
}
