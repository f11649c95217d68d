package paygate

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/paygate/paygate/outbox"
	"github.com/paygate/paygate/pg"
	"github.com/paygate/paygate/store"
)

// SyncConfig paces the periodic lookup of captured payments at their PG,
// which records cancels made elsewhere — in the PG's console, or ours whose
// answer was lost — through the same code path as notifications. KakaoPay
// and Inicis send no cancel notifications at all, and a Toss notification
// can be lost; without the sync the ledger would miss those refunds.
//
// Each payment with a balance is looked up about once every Every, for
// Window after its approval; its first lookup falls anywhere in
// [Every/2, 3·Every/2) after the approval, so lookups spread over the day.
// A process claims at most Batch due payments every PollInterval (the
// defaults look up to 172,800 payments a day per process); claims skip rows
// other processes hold, so several processes share the work without
// looking a payment up twice.
type SyncConfig struct {
	// Disabled turns the periodic sync off; SyncPayment still works.
	Disabled bool
	// Window is how long after its approval a payment is looked up.
	// Default 90 days.
	Window time.Duration
	// Every is how often each payment is looked up. Default 24h.
	Every time.Duration
	// Batch is how many due payments one claim takes. Default 20.
	Batch int
	// PollInterval is how often Run claims a batch. Default 10s.
	PollInterval time.Duration
	// Lease is how long a claimed payment is held before another process
	// may take it (when the claimer died). Default 5m.
	Lease time.Duration
}

func (c *SyncConfig) setDefaults() {
	if c.Window <= 0 {
		c.Window = 90 * 24 * time.Hour
	}
	if c.Every <= 0 {
		c.Every = 24 * time.Hour
	}
	if c.Batch <= 0 {
		c.Batch = 20
	}
	if c.PollInterval <= 0 {
		c.PollInterval = 10 * time.Second
	}
	if c.Lease <= 0 {
		c.Lease = 5 * time.Minute
	}
}

// syncSubscriberName names the scheduler of lookups in delivery records.
const syncSubscriberName = "payment-sync"

// syncSubscriber handles the deliveries of approvals and failures written
// for it while payments were put on the lookup schedule through the outbox.
// They are put on it in the transaction that records their approval now
// (recordAll), so the subscriber is retired: it takes no new events, and
// drains what an earlier version, or a process still running one, wrote for
// it. A batch of deliveries is scheduled in one statement.
func (p *Paygate) syncSubscriber() outbox.Subscriber {
	return outbox.Subscriber{
		Name:    syncSubscriberName,
		Types:   []string{EventPaymentApproved, EventPaymentFailed},
		Retired: true,
		Handle:  p.scheduleSync,
		HandleBatch: func(ctx context.Context, tx *sql.Tx, ds []outbox.Delivery) error {
			var due []store.SyncDue
			err := p.withPayments(ctx, tx, ds, func(ctx context.Context, tx *sql.Tx, d outbox.Delivery, pay *store.Payment) error {
				s, ok, err := p.syncDueOf(ctx, tx, d, pay)
				if ok {
					due = append(due, s)
				}
				return err
			})
			if err != nil {
				return err
			}
			return p.db.ScheduleSyncs(ctx, tx, due)
		},
		Retry: outbox.Policy{MaxAttempts: outbox.Unlimited, InitialBackoff: time.Second, MaxBackoff: 5 * time.Minute},
	}
}

func (p *Paygate) scheduleSync(ctx context.Context, tx *sql.Tx, d outbox.Delivery) error {
	s, ok, err := p.syncDueOf(ctx, tx, d, nil)
	if err != nil || !ok {
		return err
	}
	return p.db.ScheduleSync(ctx, tx, s.PaymentID, s.NextAt)
}

// syncDueOf is the place on the lookup schedule of a delivery's payment,
// with the event's payment as read in tx, or nil to read it; ok is false
// when the payment has nothing to look up.
func (p *Paygate) syncDueOf(ctx context.Context, tx *sql.Tx, d outbox.Delivery, pay *store.Payment) (s store.SyncDue, ok bool, err error) {
	ev, err := ParseEvent(d.Payload)
	if err != nil {
		return s, false, outbox.Permanent(err)
	}
	if pay == nil || pay.ID != ev.PaymentID {
		if pay, err = p.db.PaymentByIDTx(ctx, tx, ev.PaymentID); err != nil {
			return s, false, err
		}
	}
	if !schedulesSync(ev.EventType, pay) {
		return s, false, nil
	}
	return p.firstSync(pay, ev.OccurredAt), true, nil
}

// schedulesSync reports whether an event of type typ puts pay, as that
// event leaves it, on the lookup schedule: an approval does, and so does a
// failure the PG may still turn into a late capture (writtenOff); a decline
// for good does not.
func schedulesSync(typ string, pay *store.Payment) bool {
	return typ == EventPaymentApproved || (typ == EventPaymentFailed && writtenOff(pay))
}

// firstSync is pay's first place on the lookup schedule: anywhere in
// [Every/2, 3·Every/2) after its approval (or, without one, after the event
// at occurred), so lookups spread over the day.
func (p *Paygate) firstSync(pay *store.Payment, occurred time.Time) store.SyncDue {
	from := pay.ApprovedAt
	if from.IsZero() {
		from = occurred
	}
	every := p.cfg.Sync.Every
	return store.SyncDue{PaymentID: pay.ID, NextAt: from.Add(every/2 + rand.N(every))}
}

// SyncPayment looks a payment up at its PG now and records what the PG
// shows of its cancels — cancels made in the PG's console, ours whose answer
// was lost — exactly as a notification would, then returns the payment. A
// payment without a capture (not approved, fully refunded) has nothing to
// sync and is returned as it is. ErrNotFound for an unknown payment; a
// failed lookup is ErrPG.
func (p *Paygate) SyncPayment(ctx context.Context, paymentID string) (*PaymentView, error) {
	if paymentID == "" {
		return nil, fmt.Errorf("%w: paymentId is required", ErrInvalid)
	}
	pay, err := p.db.PaymentByID(ctx, paymentID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("%w: payment %q", ErrNotFound, paymentID)
	}
	if err != nil {
		return nil, err
	}
	if pay.Status.Captured() || writtenOff(pay) {
		if err := p.syncPayment(ctx, pay); err != nil {
			var pe *pg.Error
			if errors.As(err, &pe) {
				return nil, fmt.Errorf("%w: %w", ErrPG, err)
			}
			return nil, err
		}
		if err := p.db.SyncDone(ctx, pay.ID, p.nextSync()); err != nil {
			return nil, err
		}
	}
	return p.Payment(ctx, paymentID)
}

// syncPayment looks pay up and records what the PG shows of its cancels.
func (p *Paygate) syncPayment(ctx context.Context, pay *store.Payment) error {
	res, err := p.lookup(ctx, pay, "")
	if err != nil {
		return err
	}
	_, err = p.applyPGView(ctx, pay.ID, res)
	return err
}

// applyPGView records, in one transaction, what the PG's view of a payment
// (a lookup) shows of its cancels, and returns the payment as written.
func (p *Paygate) applyPGView(ctx context.Context, paymentID string, res *pg.Payment) (*store.Payment, error) {
	var out *store.Payment
	err := p.db.InTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		var err error
		out, err = p.apply(ctx, tx, paymentID, func(pay *store.Payment) (bool, []eventSpec, error) {
			var evs []eventSpec
			var err error
			if (pay.Status == pg.StatusFailed || pay.Status == pg.StatusExpired) && capturedAtPG(res) {
				evs, err = p.lateCapture(ctx, tx, pay, res)
			} else {
				evs, err = p.syncCancels(ctx, tx, pay, res)
			}
			return len(evs) > 0, evs, err
		})
		return err
	})
	return out, err
}

// nextSync is when a payment just looked up is due again: about Every from
// now, give or take a tenth, so lookups that clumped spread out.
func (p *Paygate) nextSync() time.Time {
	every := p.cfg.Sync.Every
	return p.now().Add(every - every/10 + rand.N(every/5+1))
}

// runSync claims a batch of due payments every PollInterval and looks each
// up, until ctx is canceled; then it finishes the lookup in flight and
// returns. Payments it had claimed and not reached are due again when their
// claim expires.
func (p *Paygate) runSync(ctx context.Context) error {
	t := time.NewTicker(p.cfg.Sync.PollInterval)
	defer t.Stop()
	for {
		if err := p.syncDue(ctx); err != nil && ctx.Err() == nil {
			p.log.Warn("paygate: sync of captured payments", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// syncDue claims one batch of due payments and looks each up.
func (p *Paygate) syncDue(ctx context.Context) error {
	now := p.now()
	var claimed []store.PaymentSync
	err := p.db.InTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		var err error
		claimed, err = p.db.ClaimSyncs(ctx, tx, now, now.Add(p.cfg.Sync.Lease), p.cfg.Sync.Batch)
		return err
	})
	if err != nil {
		return err
	}
	for _, s := range claimed {
		if ctx.Err() != nil {
			return nil
		}
		p.syncScheduled(context.WithoutCancel(ctx), s)
	}
	return nil
}

// syncScheduled looks up one claimed payment and schedules its next lookup,
// or takes it off the schedule when it has nothing left to sync.
func (p *Paygate) syncScheduled(ctx context.Context, s store.PaymentSync) {
	pay, err := p.db.PaymentByID(ctx, s.PaymentID)
	switch {
	case errors.Is(err, store.ErrNotFound):
		err = p.db.Unschedule(ctx, s.PaymentID)
	case err != nil:
	case !pay.Status.Captured() && !writtenOff(pay) && pay.Status != pg.StatusApproving && pay.Status != pg.StatusUnknown:
		// Fully refunded (or never captured): nothing more can change.
		err = p.db.Unschedule(ctx, pay.ID)
	case p.now().Sub(syncFrom(pay)) > p.cfg.Sync.Window:
		err = p.db.Unschedule(ctx, pay.ID)
	case !pay.Status.Captured() && !writtenOff(pay):
		// Its approval is being resolved; look again later.
		err = p.db.SyncFailed(ctx, pay.ID, p.retrySync(s.Failures), "approval not settled yet")
	default:
		if serr := p.syncPayment(ctx, pay); serr != nil {
			p.log.Warn("paygate: payment lookup for its cancels failed", "payment", pay.ID, "pg", pay.PG, "err", serr)
			err = p.db.SyncFailed(ctx, pay.ID, p.retrySync(s.Failures), serr.Error())
		} else {
			err = p.db.SyncDone(ctx, pay.ID, p.nextSync())
		}
	}
	if err != nil {
		p.log.Warn("paygate: sync schedule", "payment", s.PaymentID, "err", err)
	}
}

// retrySync is when a lookup that failed failures times before is tried
// again: a minute, doubling, at most Every.
func (p *Paygate) retrySync(failures int) time.Time {
	d := time.Minute
	for i := 0; i < failures && d < p.cfg.Sync.Every; i++ {
		d *= 2
	}
	return p.now().Add(min(d, p.cfg.Sync.Every))
}

// syncFrom is when a payment's sync window starts: its approval, or for a
// payment written off, its last change.
func syncFrom(pay *store.Payment) time.Time {
	if !pay.ApprovedAt.IsZero() {
		return pay.ApprovedAt
	}
	return pay.UpdatedAt
}
