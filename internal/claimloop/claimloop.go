// Package claimloop is the machinery saga's Runner and the outbox's
// dispatcher share: a loop that claims leased work from the database in
// batches and works on it with a bounded number of goroutines, the wake-ups
// that make it claim at once, and the configuration both embed (saga.Loop,
// outbox.Loop). It knows nothing of what the work is.
package claimloop

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// Clock tells the time. Tests inject one to move time (lease expiry,
// backoff) without sleeping; timers that only pace polling use real time.
type Clock interface {
	Now() time.Time
}

type systemClock struct{}

func (systemClock) Now() time.Time { return time.Now() }

// Config is the part of a saga runner's and an outbox's configuration that
// shapes its claim loop. Zero fields take the defaults WithDefaults gives.
type Config struct {
	// Lease is how long claimed work (a saga instance, a delivery) stays
	// reserved for this process without a write or heartbeat; another
	// process takes it over after that, and a late write of the one that
	// lost it is refused. Default 30s.
	Lease time.Duration
	// PollInterval is how often Run looks for due work when nothing woke
	// it. Work created in this process wakes it at once. Default 1s.
	PollInterval time.Duration
	// Concurrency is how many claimed units Run works on at once: saga
	// instances (default 32), or relayed batches of outbox deliveries
	// (default 4).
	Concurrency int
	// ClaimBatch is how many due rows one claim transaction leases at
	// most. Default Concurrency for a saga runner, 512 for an outbox.
	ClaimBatch int
	// ClaimBackoff caps the wait after claims that failed in a row (the
	// database is down): 100 ms more per failure, at most this. Default
	// 5s.
	ClaimBackoff time.Duration
	// Clock defaults to the system clock.
	Clock Clock
	// Logger defaults to slog.Default().
	Logger *slog.Logger
}

// WithDefaults returns c with its zero fields set: Concurrency to
// concurrency, ClaimBatch to batch (zero: Concurrency), and the others to
// the defaults documented on Config.
func (c Config) WithDefaults(concurrency, batch int) Config {
	if c.Lease <= 0 {
		c.Lease = 30 * time.Second
	}
	if c.PollInterval <= 0 {
		c.PollInterval = time.Second
	}
	if c.Concurrency <= 0 {
		c.Concurrency = concurrency
	}
	if c.ClaimBatch <= 0 {
		c.ClaimBatch = batch
		if batch <= 0 {
			c.ClaimBatch = c.Concurrency
		}
	}
	if c.ClaimBackoff <= 0 {
		c.ClaimBackoff = 5 * time.Second
	}
	if c.Clock == nil {
		c.Clock = systemClock{}
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

// Now returns the clock's time in UTC to the microsecond, the precision the
// database keeps.
func (c Config) Now() time.Time { return c.Clock.Now().UTC().Truncate(time.Microsecond) }

// After a wake-up a loop polls every eagerPoll for eagerWindow, so work
// created in a transaction that commits a little after the wake-up is
// picked up without waiting for PollInterval.
const (
	eagerWindow = 500 * time.Millisecond
	eagerPoll   = 5 * time.Millisecond
)

// Signal wakes a Loop. The zero value is not usable; make one with
// NewSignal.
type Signal struct {
	ch    chan struct{}
	eager atomic.Int64 // unix nanos until which polling is fast
}

// NewSignal returns a Signal.
func NewSignal() *Signal { return &Signal{ch: make(chan struct{}, 1)} }

// Notify wakes the loop and keeps it polling fast for a moment, since the
// work that caused the wake-up may not have committed yet. It never
// blocks.
func (s *Signal) Notify() {
	s.eager.Store(time.Now().Add(eagerWindow).UnixNano())
	select {
	case s.ch <- struct{}{}:
	default:
	}
}

// Loop is a polling loop: while worker slots are free it claims work, runs
// each claimed unit on its own goroutine, and waits for a wake-up or the
// poll interval — or for a freed slot, when due work may be waiting for one
// (the last claim took all it could, or none was made for want of free
// slots). A slot freed after a claim that found less than it could take
// says nothing of new work, so it does not make the loop claim again.
type Loop[T any] struct {
	// Name starts log lines: "saga: claim instances".
	Name string
	// Log receives the loop's log lines; nil means Config.Logger.
	Log    *slog.Logger
	Config Config // with defaults set
	Signal *Signal
	// ClaimAt reports whether to claim with free slots free; nil means
	// whenever a slot is free.
	ClaimAt func(free int) bool
	// Claim leases up to free units; full reports that the claim took all
	// it could (more work is probably waiting).
	Claim func(ctx context.Context, free int) (units []T, full bool, err error)
	// Work works on one unit. ctx is not canceled when Run's is; stop is
	// closed then, asking it to stop early.
	Work func(ctx context.Context, unit T, stop <-chan struct{})
	// Pulse, optional, records when the loop last went round.
	Pulse *Pulse
	// Pool, optional, holds the loop's worker slots, so that work found
	// outside the loop can be run in them (Pool.Reserve) while the loop
	// runs; nil means slots of the loop's own (Config.Concurrency).
	Pool *Pool
}

// Pool is a Loop's worker slots, shared with code that hands the loop a
// unit it already holds (a saga instance a request just ran a step of)
// instead of letting it go back to the database for another process, or
// this one, to claim. Make one with NewPool.
type Pool struct {
	slots chan struct{}
	freed chan struct{}
	wg    sync.WaitGroup

	mu      sync.Mutex
	running bool
	ctx     context.Context // the units' context while running
	stop    <-chan struct{} // closed when the loop is asked to stop
}

// NewPool returns a pool of n worker slots.
func NewPool(n int) *Pool {
	return &Pool{slots: make(chan struct{}, max(n, 1)), freed: make(chan struct{}, 1)}
}

// Reservation is a worker slot taken by Reserve: Go runs a unit in it, or
// Cancel gives it back. Exactly one of them must be called.
type Reservation struct {
	p    *Pool
	done bool
}

// Reserve takes a free slot of the running loop without waiting. It
// reports false when no slot is free or no Loop is running on the pool
// (not started, or stopping): the caller then leaves the work to be
// claimed.
func (p *Pool) Reserve() (*Reservation, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.running {
		return nil, false
	}
	select {
	case p.slots <- struct{}{}:
	default:
		return nil, false
	}
	p.wg.Add(1)
	return &Reservation{p: p}, true
}

// Go runs work in the reserved slot, on the loop's context for units; stop
// is closed when the loop is asked to stop, as for the units it claims.
// The loop waits for it before Run returns.
func (r *Reservation) Go(work func(ctx context.Context, stop <-chan struct{})) {
	if r.done {
		return
	}
	r.done = true
	p := r.p
	p.mu.Lock()
	ctx, stop := p.ctx, p.stop
	p.mu.Unlock()
	go func() {
		defer p.release()
		work(ctx, stop)
	}()
}

// Cancel gives the slot back unused.
func (r *Reservation) Cancel() {
	if r.done {
		return
	}
	r.done = true
	r.p.release()
}

func (p *Pool) release() {
	<-p.slots
	p.wg.Done()
	select {
	case p.freed <- struct{}{}:
	default:
	}
}

// open makes the pool take reservations for a loop running on ctx.
func (p *Pool) open(ctx context.Context) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.running, p.ctx, p.stop = true, context.WithoutCancel(ctx), ctx.Done()
}

// close stops reservations and waits for every unit in the pool.
func (p *Pool) close() {
	p.mu.Lock()
	p.running = false
	p.mu.Unlock()
	p.wg.Wait()
}

// Pulse records when a Loop last went round, for health checks: a loop
// goes round at least every PollInterval, or every ClaimBackoff while its
// claims fail, so a much older time means it is stuck. The zero value is
// ready to use.
type Pulse struct{ last atomic.Int64 }

func (p *Pulse) beat() {
	if p != nil {
		p.last.Store(time.Now().UnixNano())
	}
}

func (p *Pulse) stop() {
	if p != nil {
		p.last.Store(0)
	}
}

// Last is when the loop last went round (real time), or zero when it is
// not running.
func (p *Pulse) Last() time.Time {
	if p == nil {
		return time.Time{}
	}
	if n := p.last.Load(); n != 0 {
		return time.Unix(0, n)
	}
	return time.Time{}
}

// Run claims and works until ctx is canceled. Claim failures back off (100
// ms per failure in a row, at most Config.ClaimBackoff). When ctx is
// canceled it stops claiming, waits for the units in flight — which run on
// a context the cancellation does not reach, and are told to stop early
// through stop — and returns nil.
func (l Loop[T]) Run(ctx context.Context) error {
	log := l.Log
	if log == nil {
		log = l.Config.Logger
	}
	pool := l.Pool
	if pool == nil {
		pool = NewPool(l.Config.Concurrency)
	}
	pool.open(ctx)
	defer pool.close()
	defer l.Pulse.stop()
	slots := pool.slots
	timer := time.NewTimer(0)
	defer timer.Stop()
	failures := 0
	for {
		l.Pulse.beat()
		// full: the claim took all it could, so more work probably waits.
		// starved: work may wait for a slot (full, or no claim was made for
		// want of free ones), so a freed slot is a reason to claim.
		full, starved := false, true
		if free := cap(slots) - len(slots); free > 0 && (l.ClaimAt == nil || l.ClaimAt(free)) {
			units, more, err := l.Claim(ctx, free)
			switch {
			case err != nil && ctx.Err() != nil:
				return nil
			case err != nil:
				failures++
				log.Error(l.Name+" failed", "err", err, "failures", failures)
			default:
				failures = 0
			}
			for _, u := range units {
				// The claim took at most the slots free when it began,
				// but a reservation may have taken one since: wait for
				// it rather than run over the limit.
				slots <- struct{}{}
				pool.wg.Add(1)
				r := &Reservation{p: pool}
				r.Go(func(ctx context.Context, stop <-chan struct{}) { l.Work(ctx, u, stop) })
			}
			full, starved = more, more
		}
		wait := l.Config.PollInterval
		switch {
		case full && len(slots) < cap(slots):
			wait = 0
		case time.Now().UnixNano() < l.Signal.eager.Load():
			wait = min(wait, eagerPoll)
		}
		if failures > 0 {
			wait = max(wait, min(time.Duration(failures)*100*time.Millisecond, l.Config.ClaimBackoff))
		}
		timer.Reset(wait)
		freed := pool.freed
		if !starved {
			freed = nil // a freed slot is no news: wait for a wake-up or the poll
		}
		select {
		case <-ctx.Done():
			return nil
		case <-l.Signal.ch:
		case <-freed:
		case <-timer.C:
		}
	}
}
