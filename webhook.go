package paygate

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/paygate/paygate/pg"
	"github.com/paygate/paygate/saga"
	"github.com/paygate/paygate/store"
)

// ApplyWebhook is the effect of a verified PG notification, run by the
// webhook intake in the transaction that records the delivery (hand it to
// webhook.Config.Effect). It only ever moves a payment forward:
//
//   - an approval (or a virtual-account deposit) settles an APPROVING,
//     UNKNOWN or WAITING_FOR_DEPOSIT payment as APPROVED — the first news
//     that settles an unknown outcome wins, and the saga continues from it;
//   - a failure or expiry settles an unsettled payment as FAILED/EXPIRED;
//   - cancels made at the PG (its console, or ours whose answer was lost)
//     bring the canceled amount up to the PG's, completing our own pending
//     cancel when the amounts match;
//   - anything else, late or out of order, changes nothing.
//
// A saga waiting for the news (its lookup backoff) is woken to act on it
// at once.
//
// Every delivery about a known payment is traced as WEBHOOK_RECEIVED. A
// notification for a payment paygate does not know changes nothing.
func (p *Paygate) ApplyWebhook(ctx context.Context, tx *sql.Tx, ev pg.WebhookEvent) error {
	pay, err := p.paymentForWebhook(ctx, tx, ev)
	if errors.Is(err, store.ErrNotFound) {
		p.log.Info("paygate: webhook for an unknown payment", "pg", ev.PG, "order", ev.OrderID)
		return nil
	}
	if err != nil {
		return err
	}
	news := ev.Payment
	if news == nil {
		news = &pg.Payment{PG: ev.PG, PaymentKey: ev.PaymentKey, OrderID: ev.OrderID, Status: ev.Status, Amount: ev.Amount}
	}
	if news.OrderID != "" && news.OrderID != pay.OrderID {
		return fmt.Errorf("paygate: webhook for %s names order %q", pay.ID, news.OrderID)
	}
	received := eventSpec{typ: EventWebhookReceived, reason: string(ev.Type), data: map[string]string{"dedupKey": ev.DedupKey, "status": string(news.Status)}}

	_, err = p.apply(ctx, tx, pay.ID, func(cur *store.Payment) (bool, []eventSpec, error) {
		events := []eventSpec{received}
		switch news.Status {
		case pg.StatusApproved, pg.StatusPartialCanceled, pg.StatusCanceled:
			if cur.Status == pg.StatusFailed || cur.Status == pg.StatusExpired {
				evs, err := p.lateCapture(ctx, tx, cur, news)
				if err != nil {
					return false, nil, err
				}
				return true, append(events, evs...), nil
			}
			fallthrough
		case pg.StatusWaitingForDeposit:
			if news.Amount.IsSet() && !news.Amount.Equal(cur.Amount) && !cur.Status.Captured() {
				return false, nil, fmt.Errorf("paygate: webhook for %s reports %s, payment is %s", cur.ID, news.Amount, cur.Amount)
			}
			if changed, evs, err := p.approvedChange(news)(cur); err != nil {
				return false, nil, err
			} else if changed {
				events = append(events, evs...)
			}
			if news.Status == pg.StatusPartialCanceled || news.Status == pg.StatusCanceled {
				evs, err := p.syncCancels(ctx, tx, cur, news)
				if err != nil {
					return false, nil, err
				}
				events = append(events, evs...)
			}
		case pg.StatusFailed, pg.StatusExpired:
			target := news.Status
			if target == pg.StatusExpired && cur.Status != pg.StatusWaitingForDeposit {
				target = pg.StatusFailed
			}
			if changed, evs, err := p.failedChange(ctx, tx, target, "PG_"+string(news.Status), "reported by the PG's notification")(cur); err != nil {
				return false, nil, err
			} else if changed {
				events = append(events, evs...)
			}
		}
		return true, events, nil
	})
	if err != nil {
		return err
	}
	// The payment saga may be waiting out its lookup backoff for exactly
	// this news (an unknown outcome, a virtual account's deposit): run it
	// now rather than at its next scheduled lookup.
	return p.runner.Wake(ctx, tx, paymentSagaName, pay.ID)
}

func (p *Paygate) paymentForWebhook(ctx context.Context, tx *sql.Tx, ev pg.WebhookEvent) (*store.Payment, error) {
	key := ev.PaymentKey
	if key == "" && ev.Payment != nil {
		key = ev.Payment.PaymentKey
	}
	if key != "" {
		pay, err := p.db.PaymentByKey(ctx, tx, ev.PG, key)
		if !errors.Is(err, store.ErrNotFound) {
			return pay, err
		}
	}
	if ev.OrderID == "" {
		return nil, store.ErrNotFound
	}
	if id, err := p.db.OrderPayment(ctx, tx, ev.OrderID); err == nil {
		pay, err := p.db.PaymentByID(ctx, tx, id)
		if err != nil || pay.PG != ev.PG {
			return nil, errors.Join(store.ErrNotFound, err)
		}
		return pay, nil
	} else if !errors.Is(err, store.ErrNotFound) {
		return nil, err
	}
	ps, err := p.db.PaymentsByOrder(ctx, tx, ev.OrderID)
	if err != nil {
		return nil, err
	}
	for i := len(ps) - 1; i >= 0; i-- {
		if ps[i].PG == ev.PG {
			return ps[i], nil
		}
	}
	return nil, store.ErrNotFound
}

// syncCancels brings the payment's cancels up to the PG's view news, in tx,
// with pay locked by the caller; it returns the events of what it recorded
// and leaves pay changed accordingly (for apply to write). It is the one
// path by which cancels the PG reports reach the payment and the ledger: a
// notification, the periodic sync and SyncPayment, and a cancel's own
// lookup after an unknown outcome or a refusal.
//
// When news lists every cancel (its amounts add up to the PG's canceled
// total), each is matched: our done cancels by the PG's transaction key,
// then by amount; a pending cancel of ours (its answer lost, or not
// processed yet) by amount — one whose reason or id the PG echoes first —
// and completed with the PG's key and time; what is left was made at the
// PG directly (its console) and is recorded as a CANCELED_AT_PG cancel with
// the PG's key and time. When news gives only the total, a difference equal
// to our one pending cancel completes it, a difference with nothing pending
// is recorded as made at the PG, and anything else waits for a view that
// lists the cancels (the pending cancel's own lookup). Nothing recorded
// takes the payment's canceled amount past the PG's total, nor past the
// captured amount.
func (p *Paygate) syncCancels(ctx context.Context, tx *sql.Tx, pay *store.Payment, news *pg.Payment) ([]eventSpec, error) {
	if !pay.Status.Captured() && !lateCaptured(pay) {
		return nil, nil
	}
	pgTotal, err := pgCanceledAmount(news)
	if err != nil || !pgTotal.IsSet() {
		return nil, err
	}
	ours := orZero(pay.CanceledAmount, zeroOf(pay.Amount))
	if more, err := pgTotal.Cmp(ours); err != nil || more <= 0 {
		return nil, err // nothing new, or ours is ahead (a later view will tell)
	}
	cs, err := p.db.CancelsByPayment(ctx, tx, pay.ID)
	if err != nil {
		return nil, err
	}
	var done, pending []*store.Cancel
	for _, c := range cs {
		switch c.Status {
		case store.CancelDone:
			done = append(done, c)
		case store.CancelRequested, store.CancelUnknown:
			pending = append(pending, c)
		}
	}

	type found struct {
		ours *store.Cancel // nil: made at the PG
		rec  pg.CancelRecord
	}
	var learned []found
	if recs, ok := listsEvery(news.Cancels, pgTotal); ok {
		left := recs
		take := func(match func(pg.CancelRecord) bool) (pg.CancelRecord, bool) {
			for i, r := range left {
				if match(r) {
					left = append(left[:i:i], left[i+1:]...)
					return r, true
				}
			}
			return pg.CancelRecord{}, false
		}
		var unkeyed []*store.Cancel
		for _, c := range done {
			if _, ok := take(func(r pg.CancelRecord) bool {
				return c.PGTransactionKey != "" && r.TransactionKey == c.PGTransactionKey
			}); !ok {
				unkeyed = append(unkeyed, c)
			}
		}
		for _, c := range unkeyed {
			take(func(r pg.CancelRecord) bool { return r.Amount.Equal(c.Amount) })
		}
		for _, c := range pending {
			r, ok := take(func(r pg.CancelRecord) bool {
				return r.Amount.Equal(c.Amount) && (r.Reason == c.ID || r.Reason == c.Reason)
			})
			if !ok {
				r, ok = take(func(r pg.CancelRecord) bool { return r.Amount.Equal(c.Amount) })
			}
			if ok {
				learned = append(learned, found{ours: c, rec: r})
			}
		}
		for _, r := range left {
			learned = append(learned, found{rec: r})
		}
	} else {
		diff, err := pgTotal.Sub(ours)
		if err != nil {
			return nil, err
		}
		rec := pg.CancelRecord{Amount: diff}
		if last := lastCancel(news); last.Amount.IsSet() && last.Amount.Equal(diff) {
			rec = last
		}
		switch {
		case len(pending) == 1 && pending[0].Amount.Equal(diff):
			learned = append(learned, found{ours: pending[0], rec: rec})
		case len(pending) == 0:
			learned = append(learned, found{rec: rec})
		default:
			return nil, nil
		}
	}

	var events []eventSpec
	for _, f := range learned {
		next, err := ours.Add(f.rec.Amount)
		if err != nil {
			return nil, err
		}
		if over, err := next.Cmp(pgTotal); err != nil || over > 0 {
			p.log.Warn("paygate: the PG's cancels do not add up; not recording more than its total",
				"payment", pay.ID, "pgCanceled", pgTotal.String(), "ours", ours.String(), "cancel", f.rec.Amount.String())
			continue
		}
		c := f.ours
		if c != nil {
			c.Status = store.CancelDone
			c.PGTransactionKey = truncate(f.rec.TransactionKey, 200)
			c.CanceledAt = f.rec.CanceledAt
			c.FailureCode, c.FailureMessage = "", ""
			if err := p.db.UpdateCancel(ctx, tx, c, c.Version); err != nil {
				return nil, err
			}
			// Its saga may be waiting out a backoff for exactly this.
			def, key := refundSagaName, c.ID
			if strings.HasPrefix(c.IdempotencyKey, compensationKeyPrefix) {
				def, key = paymentSagaName, pay.ID
			}
			if err := p.runner.Wake(ctx, tx, def, key); err != nil {
				return nil, err
			}
		} else {
			key := "pg:" + pay.ID + ":" + f.rec.TransactionKey
			if f.rec.TransactionKey == "" {
				key = "pg:" + pay.ID + ":" + pgTotal.Amount().String()
			}
			c = &store.Cancel{
				ID: store.NewCancelID(), PaymentID: pay.ID, Amount: f.rec.Amount, Reason: canceledAtPG, Status: store.CancelDone,
				IdempotencyKey: truncate(key, 255), PGTransactionKey: truncate(f.rec.TransactionKey, 200), CanceledAt: f.rec.CanceledAt,
			}
			if err := p.db.InsertCancel(ctx, tx, c); err != nil {
				if errors.Is(err, store.ErrDuplicate) {
					continue // recorded already
				}
				return nil, err
			}
		}
		_, evs, err := p.addCanceled(pay, c)
		if err != nil {
			return nil, err
		}
		events = append(events, evs...)
		ours = next
		if f.ours == nil && pay.Status == pg.StatusCanceled {
			// Refunded in full at the PG: no saga of ours follows this
			// cancel, so start one to roll the order back.
			if err := p.startRollback(ctx, tx, c); err != nil {
				return nil, err
			}
		}
	}
	return events, nil
}

// startRollback starts, in tx, the refund saga of a cancel that is already
// done (one made at the PG that refunded the payment in full): its cancel
// step finds the cancel done and its rollback step rolls the host's order
// back, retried until it succeeds.
func (p *Paygate) startRollback(ctx context.Context, tx *sql.Tx, c *store.Cancel) error {
	raw, err := json.Marshal(sagaPayload{PaymentID: c.PaymentID, CancelID: c.ID})
	if err != nil {
		return err
	}
	_, err = p.runner.Start(ctx, tx, p.refundSaga, c.ID, raw)
	if errors.Is(err, saga.ErrDuplicate) {
		return nil
	}
	return err
}

// canceledAtPG is the reason of a cancel made at the PG directly.
const canceledAtPG = "CANCELED_AT_PG"

// listsEvery returns the PG's cancels when they are all there: each has an
// amount and together they make the PG's canceled total.
func listsEvery(recs []pg.CancelRecord, total pg.Money) ([]pg.CancelRecord, bool) {
	if len(recs) == 0 {
		return nil, false
	}
	sum := zeroOf(total)
	for _, r := range recs {
		if !r.Amount.IsSet() || !r.Amount.IsPositive() {
			return nil, false
		}
		var err error
		if sum, err = sum.Add(r.Amount); err != nil {
			return nil, false
		}
	}
	if !sum.Equal(total) {
		return nil, false
	}
	return append([]pg.CancelRecord(nil), recs...), true
}

// pgCanceledAmount is the total the PG reports canceled.
func pgCanceledAmount(news *pg.Payment) (pg.Money, error) {
	if news.Amount.IsSet() && news.Balance.IsSet() {
		return news.Amount.Sub(news.Balance)
	}
	if len(news.Cancels) > 0 {
		total := news.Cancels[0].Amount
		for _, c := range news.Cancels[1:] {
			var err error
			if total, err = total.Add(c.Amount); err != nil {
				return pg.Money{}, err
			}
		}
		return total, nil
	}
	if news.Status == pg.StatusCanceled && news.Amount.IsSet() {
		return news.Amount, nil
	}
	return pg.Money{}, nil
}

// WebhookSecret returns the per-payment secret a PG gave at approval (Toss)
// for verifying its notifications; hand it to webhook.Config.Secret.
func (p *Paygate) WebhookSecret(ctx context.Context, pgName, paymentKey, orderID string) (string, bool) {
	var pay *store.Payment
	var err error
	if paymentKey != "" {
		pay, err = p.db.PaymentByKey(ctx, p.db.SQL(), pgName, paymentKey)
	} else if orderID != "" {
		var id string
		if id, err = p.db.OrderPayment(ctx, p.db.SQL(), orderID); err == nil {
			pay, err = p.db.PaymentByID(ctx, p.db.SQL(), id)
		}
	} else {
		return "", false
	}
	if err != nil || pay.PG != pgName || len(pay.PGData) == 0 {
		return "", false
	}
	var d pgData
	if json.Unmarshal(pay.PGData, &d) != nil || d.Secret == "" {
		return "", false
	}
	return d.Secret, true
}
