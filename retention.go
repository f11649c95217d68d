package paygate

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/paygate/paygate/store"
	"github.com/paygate/paygate/store/idemstore"
	"github.com/paygate/paygate/store/retentionstore"
)

// RetentionConfig says how long paygate keeps the rows that only record
// work already done, and how it deletes them (Prune). What is kept forever:
// payments, cancels, the payment event log (every payment's timeline) and
// the settlement ledger. What is never deleted whatever its age: a saga
// still running or needing attention, an event delivery pending or parked
// as dead, an event such a delivery belongs to.
//
// The defaults keep what an audit of a payment asks for: a refund or a
// chargeback question arrives within weeks, a PG's settlement corrections
// within two months, and the periodic sync of captured payments looks
// payments up for 90 days (Sync.Window) — until then the sagas and
// deliveries of a payment explain what the flow did. Webhook bodies carry
// buyer data, so their log is kept no longer than the PGs' redelivery and
// dispute windows need (Toss and Inicis resend for at most a few days).
type RetentionConfig struct {
	// Disabled stops Run from pruning on its schedule. Prune still works
	// (the paygate command's prune).
	Disabled bool
	// Every is how often Run prunes, counted from the last prune that
	// finished on any process (recorded in the database, so restarts do
	// not reset it). Default 24h.
	Every time.Duration
	// Sagas is how long a saga is kept after it finished (COMPLETED or
	// COMPENSATED, its last write), with its step rows. Default 90 days.
	Sagas time.Duration
	// Deliveries is how long an event delivery is kept after it was done;
	// an event goes once all its deliveries went and it is as old.
	// Default 90 days.
	Deliveries time.Duration
	// Webhooks is how long a PG notification is kept in the webhook log
	// after it arrived. A PG resending one after its row went is recorded
	// and applied again, which changes nothing: webhook effects are
	// monotonic. Default 30 days.
	Webhooks time.Duration
	// KeysGrace is how long an expired Idempotency-Key is kept past its
	// expiry when Prune deletes it: a margin for clocks of several hosts
	// that disagree. Run's reaper (ReapEvery) deletes keys at expiry
	// already; Prune catches what is left when no process ran it.
	// Default 1h.
	KeysGrace time.Duration
	// Batch is how many rows one transaction deletes. Default 500.
	Batch int
	// Pause is the wait between batches, which leaves the database to the
	// payment flow. Default 100ms.
	Pause time.Duration
	// Lease is how long a prune holds the database's retention lease
	// before renewing it; a process that dies while pruning frees it
	// after this long. Default 5m.
	Lease time.Duration
}

// MinRetention is the shortest age RetentionConfig accepts for sagas,
// deliveries and webhooks: a typo such as 90*time.Second must not delete
// yesterday's records.
const MinRetention = 24 * time.Hour

const (
	day = 24 * time.Hour
	// retentionLease names the lease of pruning in paygate_leases.
	retentionLease = "paygate.retention"
	// pruneRetries bounds the retries of one batch's query after
	// transient errors (its deletes retry inside store.DB.InTx).
	pruneRetries = 5
)

func (c *RetentionConfig) setDefaults() error {
	for _, f := range []struct {
		name string
		v    *time.Duration
		def  time.Duration
	}{
		{"Sagas", &c.Sagas, 90 * day}, {"Deliveries", &c.Deliveries, 90 * day}, {"Webhooks", &c.Webhooks, 30 * day},
	} {
		switch {
		case *f.v == 0:
			*f.v = f.def
		case *f.v < MinRetention:
			return fmt.Errorf("%w: Config.Retention.%s is %s; keep rows at least %s", ErrInvalid, f.name, *f.v, MinRetention)
		}
	}
	if c.KeysGrace < 0 || c.Every < 0 || c.Batch < 0 || c.Pause < 0 || c.Lease < 0 {
		return fmt.Errorf("%w: Config.Retention has a negative setting", ErrInvalid)
	}
	if c.KeysGrace == 0 {
		c.KeysGrace = time.Hour
	}
	if c.Every == 0 {
		c.Every = 24 * time.Hour
	}
	if c.Batch == 0 {
		c.Batch = 500
	}
	if c.Pause == 0 {
		c.Pause = 100 * time.Millisecond
	}
	if c.Lease == 0 {
		c.Lease = 5 * time.Minute
	}
	return nil
}

// PruneReport counts what a prune deleted, or with DryRun what it would
// delete now.
type PruneReport struct {
	DryRun bool `json:"dryRun"`
	// Sagas finished long enough ago (their step records go with their
	// rows), and the saga_steps rows of those last written before step
	// records moved into the instance's row.
	Sagas     int64 `json:"sagas"`
	SagaSteps int64 `json:"sagaSteps"`
	// Deliveries done long enough ago, and the events left without any.
	Deliveries int64 `json:"deliveries"`
	Events     int64 `json:"events"`
	// Webhooks from the webhook log.
	Webhooks int64 `json:"webhooks"`
	// IdempotencyKeys expired longer ago than KeysGrace.
	IdempotencyKeys int64     `json:"idempotencyKeys"`
	Started         time.Time `json:"started"`
	Finished        time.Time `json:"finished"`
}

// Total is every row counted.
func (r PruneReport) Total() int64 {
	return r.Sagas + r.SagaSteps + r.Deliveries + r.Events + r.Webhooks + r.IdempotencyKeys
}

// PruneProgress is one batch a prune deleted.
type PruneProgress struct {
	// Table is what the batch deleted from: "sagas" (with "saga_steps"
	// counted in Rows too), "deliveries", "events", "webhooks" or
	// "idempotency_keys".
	Table string
	// Rows is how many rows the batch deleted.
	Rows int64
}

// PruneOption adds to what Prune does.
type PruneOption func(*pruneOptions)

type pruneOptions struct {
	dryRun    bool
	progress  func(PruneProgress)
	scheduled bool
}

// DryRun makes Prune count what it would delete now, and delete nothing.
func DryRun() PruneOption { return func(o *pruneOptions) { o.dryRun = true } }

// OnPruneProgress makes Prune call fn after every batch it deleted (on
// Prune's goroutine; keep it quick).
func OnPruneProgress(fn func(PruneProgress)) PruneOption {
	return func(o *pruneOptions) { o.progress = fn }
}

// ErrPruneBusy: another process holds the retention lease and is pruning.
// Nothing was deleted; it comes wrapped with ErrInProgress.
var ErrPruneBusy = errors.New("paygate: another process is pruning")

// Prune deletes what Config.Retention says is old enough: finished sagas
// with their steps, done event deliveries and the events left without any,
// the webhook log, expired Idempotency-Keys. It never deletes payments,
// cancels, the payment event log or the settlement ledger, nor anything
// still open (see RetentionConfig).
//
// It works in batches of Retention.Batch rows, each found through an index
// and deleted in a short transaction of its own, with Retention.Pause
// between them, so the payment flow's transactions never wait on it for
// long. It holds a lease in the database while it runs: a second Prune,
// here or in another process, answers ErrPruneBusy instead of pruning
// alongside. When ctx ends Prune stops after the batch in flight and
// returns what it deleted with ctx's error; what it deleted stays deleted
// and the next prune goes on from there.
//
// With DryRun it takes no lease and counts instead.
func (p *Paygate) Prune(ctx context.Context, opts ...PruneOption) (PruneReport, error) {
	var o pruneOptions
	for _, opt := range opts {
		if opt != nil {
			opt(&o)
		}
	}
	now := p.now()
	rep := PruneReport{DryRun: o.dryRun, Started: now}
	cfg := p.cfg.Retention
	rs := retentionstore.New(p.db)
	cuts := map[retentionstore.Target]time.Time{
		retentionstore.FinishedSagas:   now.Add(-cfg.Sagas),
		retentionstore.DoneDeliveries:  now.Add(-cfg.Deliveries),
		retentionstore.DeliveredEvents: now.Add(-cfg.Deliveries),
		retentionstore.WebhookLog:      now.Add(-cfg.Webhooks),
	}
	keysCut := now.Add(-cfg.KeysGrace)
	keys := idemstore.NewKeys(p.db)
	if o.dryRun {
		err := p.countPrunable(ctx, rs, keys, cuts, keysCut, &rep)
		rep.Finished = p.now()
		return rep, err
	}

	owner := leaseOwner()
	held, err := rs.Take(ctx, retentionLease, owner, now, now.Add(cfg.Lease))
	if err != nil {
		return rep, err
	}
	if !held {
		return rep, fmt.Errorf("%w: %w", ErrInProgress, ErrPruneBusy)
	}
	finished := false
	defer func() {
		if err := rs.Release(context.WithoutCancel(ctx), retentionLease, owner, p.now(), finished); err != nil {
			p.log.Warn("paygate: release the retention lease", "err", err)
		}
	}()
	if o.scheduled {
		// Another process may have finished a prune between this one's
		// look at the schedule and its taking the lease.
		l, err := rs.LeaseOf(ctx, retentionLease)
		if err != nil {
			return rep, err
		}
		if !l.DoneAt.IsZero() && now.Sub(l.DoneAt) < cfg.Every {
			rep.Finished = p.now()
			return rep, nil
		}
	}
	renewed := now
	pace := func() error {
		t := time.NewTimer(cfg.Pause)
		defer t.Stop()
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
		// Renew at half the lease, so the lease never runs out while
		// this process is alive and pruning.
		if at := p.now(); at.Sub(renewed) >= cfg.Lease/2 {
			ok, err := rs.Take(ctx, retentionLease, owner, at, at.Add(cfg.Lease))
			if err != nil {
				return err
			}
			if !ok {
				return fmt.Errorf("%w: %w (the lease ran out while pruning)", ErrInProgress, ErrPruneBusy)
			}
			renewed = at
		}
		return nil
	}
	report := func(table string, n int64) {
		if o.progress != nil && n > 0 {
			o.progress(PruneProgress{Table: table, Rows: n})
		}
	}
	for _, t := range retentionstore.Targets {
		var cur retentionstore.Cursor
		for failures := 0; ; {
			ids, next, err := rs.Batch(ctx, t, cuts[t], cur, cfg.Batch)
			if err != nil && store.IsRetryable(err) && failures < pruneRetries && ctx.Err() == nil {
				// A busy server (too many connections, a dropped
				// one): try the same batch again after a pause.
				failures++
				if err := pace(); err != nil {
					rep.Finished = p.now()
					return rep, err
				}
				continue
			}
			if err != nil {
				rep.Finished = p.now()
				return rep, err
			}
			failures = 0
			if len(ids) == 0 {
				break
			}
			del, err := rs.Delete(ctx, t, cuts[t], ids)
			if err != nil {
				rep.Finished = p.now()
				return rep, err
			}
			switch t {
			case retentionstore.FinishedSagas:
				rep.Sagas += del.Rows
				rep.SagaSteps += del.Steps
			case retentionstore.DoneDeliveries:
				rep.Deliveries += del.Rows
			case retentionstore.DeliveredEvents:
				rep.Events += del.Rows
			case retentionstore.WebhookLog:
				rep.Webhooks += del.Rows
			}
			report(string(t), del.Rows+del.Steps)
			cur = next
			if err := pace(); err != nil {
				rep.Finished = p.now()
				return rep, err
			}
		}
	}
	for {
		n, err := keys.DeleteExpired(ctx, keysCut, cfg.Batch)
		if err != nil {
			rep.Finished = p.now()
			return rep, err
		}
		rep.IdempotencyKeys += int64(n)
		report("idempotency_keys", int64(n))
		if n < cfg.Batch {
			break
		}
		if err := pace(); err != nil {
			rep.Finished = p.now()
			return rep, err
		}
	}
	finished = true
	rep.Finished = p.now()
	return rep, nil
}

func (p *Paygate) countPrunable(ctx context.Context, rs *retentionstore.Store, keys *idemstore.Keys,
	cuts map[retentionstore.Target]time.Time, keysCut time.Time, rep *PruneReport) error {
	var err error
	if rep.Sagas, err = rs.Count(ctx, retentionstore.FinishedSagas, cuts[retentionstore.FinishedSagas]); err != nil {
		return err
	}
	if rep.SagaSteps, err = rs.CountSteps(ctx, cuts[retentionstore.FinishedSagas]); err != nil {
		return err
	}
	if rep.Deliveries, err = rs.Count(ctx, retentionstore.DoneDeliveries, cuts[retentionstore.DoneDeliveries]); err != nil {
		return err
	}
	if rep.Events, err = rs.CountFreedEvents(ctx, cuts[retentionstore.DeliveredEvents], cuts[retentionstore.DoneDeliveries]); err != nil {
		return err
	}
	if rep.Webhooks, err = rs.Count(ctx, retentionstore.WebhookLog, cuts[retentionstore.WebhookLog]); err != nil {
		return err
	}
	rep.IdempotencyKeys, err = keys.CountExpired(ctx, keysCut)
	return err
}

// runRetention prunes on the schedule of Config.Retention: it looks at
// the time the last prune finished (on any process) every few minutes and
// prunes when it is Every ago. Failures are logged and tried again at the
// next look; they never stop Run.
func (p *Paygate) runRetention(ctx context.Context) error {
	cfg := p.cfg.Retention
	look := min(cfg.Every, 10*time.Minute)
	rs := retentionstore.New(p.db)
	t := time.NewTicker(look)
	defer t.Stop()
	for {
		l, err := rs.LeaseOf(ctx, retentionLease)
		now := p.now()
		switch {
		case ctx.Err() != nil:
			return nil
		case err != nil:
			p.log.Warn("paygate: retention schedule", "err", err)
		case (l.DoneAt.IsZero() || now.Sub(l.DoneAt) >= cfg.Every) && !l.Until.After(now):
			rep, err := p.Prune(ctx, func(o *pruneOptions) { o.scheduled = true })
			switch {
			case ctx.Err() != nil:
			case errors.Is(err, ErrPruneBusy):
			case err != nil:
				p.log.Warn("paygate: prune", "err", err, "deleted", rep.Total())
			case rep.Total() > 0:
				p.log.Info("paygate: pruned", "sagas", rep.Sagas, "sagaSteps", rep.SagaSteps, "deliveries", rep.Deliveries,
					"events", rep.Events, "webhooks", rep.Webhooks, "idempotencyKeys", rep.IdempotencyKeys,
					"took", rep.Finished.Sub(rep.Started))
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// leaseOwner names this process in the retention lease: host, pid and a
// random part, so two Paygates in one process differ too.
func leaseOwner() string {
	host, _ := os.Hostname()
	var b [4]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("%s:%d:%s", host, os.Getpid(), hex.EncodeToString(b[:]))
}
