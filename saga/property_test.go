package saga_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/paygate/paygate/saga"
	"github.com/paygate/paygate/store"
	"github.com/paygate/paygate/store/storetest"
)

// Outcomes a scripted step function can produce on one call.
const (
	outOK = iota
	outTransient
	outPermanent
	outPanic
	outCommitFails
)

// script hands out a step half's outcomes call by call; when it runs out,
// calls succeed.
type script struct {
	mu  sync.Mutex
	out []int
}

func (s *script) next() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.out) == 0 {
		return outOK
	}
	o := s.out[0]
	s.out = s.out[1:]
	return o
}

type call struct {
	op    saga.Op
	index int
}

type callLog struct {
	mu    sync.Mutex
	calls []call
}

func (l *callLog) add(op saga.Op, i int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.calls = append(l.calls, call{op, i})
}

func scripted(i int, name string, action, comp *script, log *callLog, hasComp bool) saga.Step {
	run := func(op saga.Op, s *script) saga.Func {
		return func(ctx context.Context, a saga.Attempt) (saga.Result, error) {
			log.add(op, i)
			commit := func(ctx context.Context, tx *sql.Tx) error { return recordEffect(ctx, tx, a) }
			switch s.next() {
			case outTransient:
				return saga.Result{}, errors.New("transient")
			case outPermanent:
				return saga.Result{}, saga.Permanent(errors.New("permanent"))
			case outPanic:
				panic("step bug")
			case outCommitFails:
				return saga.Result{Commit: func(ctx context.Context, tx *sql.Tx) error {
					if err := commit(ctx, tx); err != nil {
						return err
					}
					return errors.New("commit refused") // rolls the effect back
				}}, nil
			}
			return saga.Result{Commit: commit}, nil
		}
	}
	st := saga.Step{
		Name:              name,
		Action:            run(saga.OpAction, action),
		Retry:             saga.Policy{MaxAttempts: 3, InitialBackoff: time.Millisecond, MaxBackoff: 2 * time.Millisecond},
		CompensationRetry: saga.Policy{InitialBackoff: time.Millisecond, MaxBackoff: 2 * time.Millisecond},
	}
	if hasComp {
		st.Compensate = run(saga.OpCompensate, comp)
	}
	return st
}

// TestProperty_RandomOutcomes_OnlyLegalTransitions drives sagas of random
// shape through random step outcomes (success, transient and permanent
// errors, panics, failing commits; operator retries of NEEDS_ATTENTION) and
// checks every committed transition is legal and the end state is
// consistent with what the steps did.
// inOrder returns a copy of trs in the order the changes committed. Hooks
// run in the goroutine that wrote the change, just after its commit: a
// change handed back (due at once) can be claimed, changed again and
// reported by another goroutine before the first one's hook has run.
// Versions follow each other, and each change's At is read after the
// change before it committed.
func inOrder(trs []saga.Transition) []saga.Transition {
	out := slices.Clone(trs)
	slices.SortStableFunc(out, func(a, b saga.Transition) int { return a.At.Compare(b.At) })
	return out
}

func TestProperty_RandomOutcomes_OnlyLegalTransitions(t *testing.T) {
	db := storetest.Open(t, store.SQLite)
	effects(t, db)
	var mu sync.Mutex
	transitions := map[string][]saga.Transition{}
	cfg := testConfig()
	cfg.PollInterval = 5 * time.Millisecond
	cfg.Hooks.OnTransition = func(tr saga.Transition) {
		mu.Lock()
		defer mu.Unlock()
		transitions[tr.SagaID] = append(transitions[tr.SagaID], tr)
	}
	r := saga.NewRunner(newStore(db), cfg)
	var n atomic.Int64
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var started sync.Once

	rapid.Check(t, func(rt *rapid.T) {
		id := n.Add(1)
		steps := rapid.IntRange(1, 4).Draw(rt, "steps")
		outcome := rapid.IntRange(outOK, outCommitFails)
		log := &callLog{}
		var def saga.Definition
		def.Name = fmt.Sprintf("prop%d", id)
		hasComp := make([]bool, steps)
		for i := range steps {
			action := &script{out: rapid.SliceOfN(outcome, 0, 4).Draw(rt, fmt.Sprintf("action%d", i))}
			compOutcomes := rapid.SliceOfN(rapid.IntRange(outOK, outPanic), 0, 3).Draw(rt, fmt.Sprintf("comp%d", i))
			hasComp[i] = rapid.Bool().Draw(rt, fmt.Sprintf("hasComp%d", i))
			st := scripted(i, fmt.Sprintf("s%d", i), action, &script{out: compOutcomes}, log, hasComp[i])
			st.Pivot = i < steps-1 && rapid.IntRange(0, 5).Draw(rt, fmt.Sprintf("pivot%d", i)) == 0
			def.Steps = append(def.Steps, st)
		}
		if err := r.Register(&def); err != nil {
			rt.Fatalf("register: %v", err)
		}
		started.Do(func() { go func() { _ = r.Run(ctx) }() })
		in := start(t, db, r, &def, "k")

		var final *saga.Instance
		for retries := 0; ; retries++ {
			final = waitSettled(rt, r, in.ID)
			if final.State != saga.NeedsAttention {
				break
			}
			if retries == 6 {
				rt.Fatalf("still needs attention after %d retries: %s", retries, final.Reason)
			}
			// The runner's hook of the move to NEEDS_ATTENTION runs just
			// after its commit: let it run before Retry's own hook, or
			// the two are recorded the other way round.
			for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
				mu.Lock()
				trs := inOrder(transitions[in.ID])
				mu.Unlock()
				last := len(trs) > 0 && trs[len(trs)-1].To == saga.NeedsAttention
				if last {
					break
				}
			}
			if _, err := r.Retry(context.Background(), in.ID); err != nil {
				rt.Fatalf("retry: %v", err)
			}
		}

		// Hooks run just after the commit the instance shows: wait for
		// the last one.
		var trs []saga.Transition
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
			mu.Lock()
			trs = inOrder(transitions[in.ID])
			mu.Unlock()
			if len(trs) > 0 && trs[len(trs)-1].To == final.State {
				break
			}
		}
		from := saga.Running
		for _, tr := range trs {
			if tr.From != from || !saga.CanTransition(tr.From, tr.To) {
				rt.Fatalf("illegal transition %s -> %s (expected from %s); all: %v", tr.From, tr.To, from, trs)
			}
			from = tr.To
		}
		if from != final.State {
			rt.Fatalf("transitions end in %s, instance is %s", from, final.State)
		}

		// Effects: each action and compensation at most once; the end
		// state matches them.
		actionDone := map[int]bool{}
		for i, s := range def.Steps {
			a, ok := final.Step(s.Name, saga.OpAction)
			actionDone[i] = ok && a.Status == saga.StepDone
			got := effectCount(t, db, "WHERE k = ?", in.ID+":"+s.Name+":action")
			if want := b2i(actionDone[i]); got != want {
				rt.Fatalf("step %d: %d action effects, record says done=%v", i, got, actionDone[i])
			}
			c, ok := final.Step(s.Name, saga.OpCompensate)
			compDone := ok && c.Status == saga.StepDone
			if got := effectCount(t, db, "WHERE k = ?", in.ID+":"+s.Name+":compensate"); got != b2i(compDone) {
				rt.Fatalf("step %d: %d compensation effects, record says done=%v", i, got, compDone)
			}
			switch final.State {
			case saga.Completed:
				if !actionDone[i] || ok {
					rt.Fatalf("completed saga: step %d done=%v, compensation record %v", i, actionDone[i], ok)
				}
			case saga.Compensated:
				if actionDone[i] && hasComp[i] && !compDone {
					rt.Fatalf("compensated saga: step %d done but not compensated", i)
				}
			}
		}
		// Once a compensation ran, no action ran after it; compensations
		// run from the last step down.
		log.mu.Lock()
		defer log.mu.Unlock()
		lastComp := len(def.Steps)
		compensating := false
		for _, c := range log.calls {
			if c.op == saga.OpCompensate {
				compensating = true
				if c.index > lastComp {
					rt.Fatalf("compensation of step %d after step %d: %v", c.index, lastComp, log.calls)
				}
				lastComp = c.index
				continue
			}
			if compensating {
				rt.Fatalf("action called after compensation began: %v", log.calls)
			}
		}
	})
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// waitSettled polls until the instance is terminal or needs attention.
func waitSettled(rt *rapid.T, r *saga.Runner, id string) *saga.Instance {
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		in, err := r.Get(context.Background(), id)
		if err != nil {
			rt.Fatalf("get: %v", err)
		}
		if in.State.Terminal() || in.State == saga.NeedsAttention {
			return in
		}
		time.Sleep(5 * time.Millisecond)
	}
	rt.Fatalf("saga %s did not settle", id)
	return nil
}
