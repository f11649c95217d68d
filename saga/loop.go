package saga

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// claimLoop is the polling loop the Runner and the Outbox share: while
// worker slots are free it claims work, runs each claimed unit on its own
// goroutine, and waits for a wake-up, a freed slot or the poll interval.
// Claim failures back off (100 ms per failure in a row, at most 5 s). When
// ctx is canceled it stops claiming, waits for the units in flight — which
// run on a context the cancellation does not reach, and are told to stop
// early through stop — and returns nil.
type claimLoop[T any] struct {
	what         string // for log lines: "instances", "deliveries"
	slots        int
	pollInterval time.Duration
	wake         <-chan struct{}
	eager        *atomic.Int64 // unix nanos until which polling is fast
	log          *slog.Logger
	// claimAt reports whether to claim with free slots free.
	claimAt func(free int) bool
	// claim leases up to free units; full reports that the claim took all
	// it could (more work is probably waiting).
	claim func(ctx context.Context, free int) (units []T, full bool, err error)
	work  func(ctx context.Context, unit T, stop <-chan struct{})
}

func (l claimLoop[T]) run(ctx context.Context) error {
	var wg sync.WaitGroup
	defer wg.Wait()
	slots := make(chan struct{}, l.slots)
	freed := make(chan struct{}, 1)
	workCtx := context.WithoutCancel(ctx)
	timer := time.NewTimer(0)
	defer timer.Stop()
	failures := 0
	for {
		full := false
		if free := cap(slots) - len(slots); free > 0 && l.claimAt(free) {
			units, more, err := l.claim(ctx, free)
			switch {
			case err != nil && ctx.Err() != nil:
				return nil
			case err != nil:
				failures++
				l.log.Error("saga: claim "+l.what+" failed", "err", err, "failures", failures)
			default:
				failures = 0
			}
			for _, u := range units {
				slots <- struct{}{}
				wg.Add(1)
				go func() {
					defer wg.Done()
					defer func() {
						<-slots
						select {
						case freed <- struct{}{}:
						default:
						}
					}()
					l.work(workCtx, u, ctx.Done())
				}()
			}
			full = more
		}
		wait := l.pollInterval
		switch {
		case full && len(slots) < cap(slots):
			wait = 0
		case time.Now().UnixNano() < l.eager.Load():
			wait = min(wait, eagerPoll)
		}
		if failures > 0 {
			wait = max(wait, min(time.Duration(failures)*100*time.Millisecond, 5*time.Second))
		}
		timer.Reset(wait)
		select {
		case <-ctx.Done():
			return nil
		case <-l.wake:
		case <-freed:
		case <-timer.C:
		}
	}
}
