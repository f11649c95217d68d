package paygate

import (
	"context"
	"encoding/json"
	"time"

	"github.com/paygate/paygate/pg"
	"github.com/paygate/paygate/saga"
	"github.com/paygate/paygate/store"
)

// Attention is one thing paygate could not settle by itself (yet), for the
// operators' queue.
type Attention struct {
	// Kind is "payment" (an approval still unresolved), "saga" (stuck or
	// needing attention) or "delivery" (an event parked as dead).
	Kind      string
	ID        string
	PaymentID string
	State     string
	Reason    string
	Since     time.Time
}

// Unresolved is the janitor's report. Unknown outcomes are resolved by the
// payment saga's lookups on the ResolveRetry schedule (seconds, then minutes,
// then hours, never given up); what is still open after olderThan is listed
// here, with sagas that need an operator (a refund the PG refused for good)
// and event deliveries parked as dead. An empty list means nothing is stuck.
func (p *Paygate) Unresolved(ctx context.Context, olderThan time.Duration, limit int) ([]Attention, error) {
	if limit <= 0 {
		limit = 100
	}
	cutoff := p.now().Add(-olderThan)
	var out []Attention
	for _, st := range []pg.Status{pg.StatusApproving, pg.StatusUnknown} {
		ps, err := p.db.PaymentsByStatus(ctx, p.db.SQL(), st, cutoff, limit)
		if err != nil {
			return nil, err
		}
		for _, pay := range ps {
			out = append(out, Attention{Kind: "payment", ID: pay.ID, PaymentID: pay.ID, State: string(pay.Status), Reason: pay.FailureCode, Since: pay.UpdatedAt})
		}
	}
	cs, err := p.db.CancelsByStatus(ctx, p.db.SQL(), store.CancelUnknown, cutoff, limit)
	if err != nil {
		return nil, err
	}
	for _, c := range cs {
		out = append(out, Attention{Kind: "cancel", ID: c.ID, PaymentID: c.PaymentID, State: string(c.Status), Reason: c.FailureCode, Since: c.UpdatedAt})
	}
	stuck, err := p.runner.Stuck(ctx, olderThan, limit)
	if err != nil {
		return nil, err
	}
	for _, in := range stuck {
		var pl sagaPayload
		_ = json.Unmarshal(in.Payload, &pl)
		out = append(out, Attention{Kind: "saga", ID: in.ID, PaymentID: pl.PaymentID, State: string(in.State), Reason: in.Reason, Since: in.UpdatedAt})
	}
	dead, err := p.outbox.Deliveries(ctx, saga.DeliveryFilter{Status: saga.DeliveryDead, Limit: limit})
	if err != nil {
		return nil, err
	}
	for _, d := range dead {
		out = append(out, Attention{Kind: "delivery", ID: d.EventID, PaymentID: d.Key, State: string(d.Status), Reason: d.LastError, Since: d.UpdatedAt})
	}
	return out, nil
}
