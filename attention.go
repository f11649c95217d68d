package paygate

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/paygate/paygate/outbox"
	"github.com/paygate/paygate/pg"
	"github.com/paygate/paygate/saga"
	"github.com/paygate/paygate/store"
)

// Attention is one thing paygate could not settle by itself (yet), for the
// operators' queue.
type Attention struct {
	// Kind is "payment" (an approval still unresolved), "cancel" (a
	// refund's outcome still unknown), "saga" (a step retrying, or needing
	// attention: a refund the PG refused, a compensation refused) or
	// "delivery" (an event parked as dead).
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
// here, with sagas still retrying a step (an order rollback the host keeps
// failing, with the last failure as the reason), sagas that need an
// operator (a refund the PG refused for good, with the PG's code and
// message) and event deliveries parked as dead. An empty list means nothing
// is stuck. RetryAttention and ResolveAttention act on the saga items.
func (p *Paygate) Unresolved(ctx context.Context, olderThan time.Duration, limit int) ([]Attention, error) {
	if limit <= 0 {
		limit = 100
	}
	cutoff := p.now().Add(-olderThan)
	var out []Attention
	for _, st := range []pg.Status{pg.StatusApproving, pg.StatusUnknown} {
		ps, err := p.db.PaymentsByStatus(ctx, st, cutoff, limit)
		if err != nil {
			return nil, err
		}
		for _, pay := range ps {
			out = append(out, Attention{Kind: "payment", ID: pay.ID, PaymentID: pay.ID, State: string(pay.Status), Reason: pay.FailureCode, Since: pay.UpdatedAt})
		}
	}
	cs, err := p.db.CancelsByStatus(ctx, store.CancelUnknown, cutoff, limit)
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
	dead, err := p.outbox.Deliveries(ctx, outbox.DeliveryFilter{Status: outbox.DeliveryDead, Limit: limit})
	if err != nil {
		return nil, err
	}
	for _, d := range dead {
		out = append(out, Attention{Kind: "delivery", ID: d.EventID, PaymentID: d.Key, State: string(d.Status), Reason: d.LastError, Since: d.UpdatedAt})
	}
	return out, nil
}

// The kinds of Attention an operator acts on with RetryAttention and
// ResolveAttention.
const (
	AttentionSaga = "saga"
)

// RetryAttention is an operator's "try again" for an item of the queue,
// once the cause is fixed: a saga needing attention resumes the step that
// failed. A refund the PG refused is sent to the PG again (looked up
// first, in case it was done meanwhile). Only kind "saga" can be retried;
// payments and cancels with unknown outcomes are retried by the runners on
// their own.
func (p *Paygate) RetryAttention(ctx context.Context, kind, id string) error {
	if kind != AttentionSaga {
		return fmt.Errorf("%w: only %q attention can be retried, not %q", ErrInvalid, AttentionSaga, kind)
	}
	_, err := p.runner.Retry(ctx, id)
	if err != nil {
		return operatorError(err)
	}
	p.log.Info("paygate: attention retried by an operator", "kind", kind, "id", id)
	return nil
}

// ResolveAttention is an operator's "done by hand" for an item of the
// queue: a saga needing attention, or one whose step keeps failing (a
// refund the PG refused and the shop paid back by bank transfer, an order
// rolled back in the shop's console), ends with the note as its reason and
// leaves the queue. The note is required. Only kind "saga" can be
// resolved: an unknown outcome is settled by the PG's answer, not by hand.
// ErrInProgress means a runner was writing the saga at that moment:
// nothing changed; try again.
func (p *Paygate) ResolveAttention(ctx context.Context, kind, id, note string) error {
	if kind != AttentionSaga {
		return fmt.Errorf("%w: only %q attention can be resolved, not %q", ErrInvalid, AttentionSaga, kind)
	}
	if note == "" {
		return fmt.Errorf("%w: resolving needs a note", ErrInvalid)
	}
	in, err := p.runner.Resolve(ctx, id, note)
	if err != nil {
		return operatorError(err)
	}
	p.log.Info("paygate: attention resolved by an operator", "kind", kind, "id", id, "definition", in.Definition, "state", in.State)
	return nil
}

// operatorError maps the saga runner's operator errors onto paygate's.
func operatorError(err error) error {
	switch {
	case errors.Is(err, saga.ErrNotFound):
		return fmt.Errorf("%w: %w", ErrNotFound, err)
	case errors.Is(err, saga.ErrConcurrent):
		return fmt.Errorf("%w: %w", ErrInProgress, err)
	case errors.Is(err, saga.ErrInvalidState):
		return fmt.Errorf("%w: %w", ErrConflict, err)
	case errors.Is(err, saga.ErrInvalid):
		return fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	return err
}
