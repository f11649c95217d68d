package paygate

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/paygate/paygate/pg"
	"github.com/paygate/paygate/store"
)

// paymentForWebhook finds the payment a notification is about: by the PG's
// key, else by the order (its current payment, or its latest through this
// PG).
func (p *Paygate) paymentForWebhook(ctx context.Context, tx *sql.Tx, ev pg.WebhookEvent) (*store.Payment, error) {
	key := ev.PaymentKey
	if key == "" && ev.Payment != nil {
		key = ev.Payment.PaymentKey
	}
	if key != "" {
		pay, err := p.db.PaymentByKeyTx(ctx, tx, ev.PG, key)
		if !errors.Is(err, store.ErrNotFound) {
			return pay, err
		}
	}
	if ev.OrderID == "" {
		return nil, store.ErrNotFound
	}
	if id, err := p.db.OrderPaymentTx(ctx, tx, ev.OrderID); err == nil {
		pay, err := p.db.PaymentByIDTx(ctx, tx, id)
		if err != nil || pay.PG != ev.PG {
			return nil, errors.Join(store.ErrNotFound, err)
		}
		return pay, nil
	} else if !errors.Is(err, store.ErrNotFound) {
		return nil, err
	}
	ps, err := p.db.PaymentsByOrderTx(ctx, tx, ev.OrderID)
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

// newsChange is what a PG's verified news about a payment does to it: the
// move of the state machine that news asks for, recorded with the
// WEBHOOK_RECEIVED trace of the delivery that brought it. News only moves a
// payment forward; a capture of a payment already written off is a late
// capture (refunded), cancels the PG reports are synced.
func (p *Paygate) newsChange(ctx context.Context, tx *sql.Tx, news *pg.Payment, received eventSpec) paymentChange {
	return func(cur *store.Payment) (bool, []eventSpec, error) {
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
	}
}
