package paygate

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"strings"

	"github.com/paygate/paygate/pg"
	"github.com/paygate/paygate/saga"
	"github.com/paygate/paygate/store"
)

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
	cs, err := p.db.CancelsByPaymentTx(ctx, tx, pay.ID)
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
