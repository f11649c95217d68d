package paygate

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"
	"unicode/utf8"

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
	// Attempts counts the tries behind the item: of the saga step still
	// retrying or refused (for a payment or cancel, of its saga's lookup),
	// or of the delivery parked as dead.
	Attempts int
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
	// sagaOf maps a saga id to the index of its item in out.
	sagaOf := map[string]int{}
	keyed := func(definition, key string) {
		if in, err := p.sagas.InstanceByKey(ctx, nil, definition, key); err == nil {
			sagaOf[in.ID] = len(out) - 1
		}
	}
	for _, st := range []pg.Status{pg.StatusApproving, pg.StatusUnknown} {
		ps, err := p.db.PaymentsByStatus(ctx, st, cutoff, limit)
		if err != nil {
			return nil, err
		}
		for _, pay := range ps {
			out = append(out, Attention{Kind: "payment", ID: pay.ID, PaymentID: pay.ID, State: string(pay.Status), Reason: pay.FailureCode, Since: pay.UpdatedAt})
			keyed(paymentSagaName, pay.ID)
		}
	}
	cs, err := p.db.CancelsByStatus(ctx, store.CancelUnknown, cutoff, limit)
	if err != nil {
		return nil, err
	}
	for _, c := range cs {
		out = append(out, Attention{Kind: "cancel", ID: c.ID, PaymentID: c.PaymentID, State: string(c.Status), Reason: c.FailureCode, Since: c.UpdatedAt})
		keyed(refundSagaName, c.ID)
	}
	stuck, err := p.runner.Stuck(ctx, olderThan, limit)
	if err != nil {
		return nil, err
	}
	for _, in := range stuck {
		var pl sagaPayload
		_ = json.Unmarshal(in.Payload, &pl)
		out = append(out, Attention{Kind: "saga", ID: in.ID, PaymentID: pl.PaymentID, State: string(in.State), Reason: in.Reason, Since: in.UpdatedAt})
		sagaOf[in.ID] = len(out) - 1
	}
	if err := p.countAttempts(ctx, out, sagaOf); err != nil {
		return nil, err
	}
	dead, err := p.outbox.Deliveries(ctx, outbox.DeliveryFilter{Status: outbox.DeliveryDead, Limit: limit})
	if err != nil {
		return nil, err
	}
	for _, d := range dead {
		out = append(out, Attention{Kind: "delivery", ID: d.EventID, PaymentID: d.Key, State: string(d.Status), Reason: d.LastError, Since: d.UpdatedAt, Attempts: d.Attempts})
	}
	return out, nil
}

// countAttempts sets the Attempts of the items whose sagas sagaOf names
// (saga id → index in items): the attempts of the step half the saga is
// on, the one not done yet, or the most of any when all are done.
func (p *Paygate) countAttempts(ctx context.Context, items []Attention, sagaOf map[string]int) error {
	if len(sagaOf) == 0 {
		return nil
	}
	ids := make([]string, 0, len(sagaOf))
	for id := range sagaOf {
		ids = append(ids, id)
	}
	steps, err := p.sagas.Steps(ctx, nil, ids...)
	if err != nil {
		return err
	}
	open := map[string]bool{}
	for _, s := range steps {
		it := &items[sagaOf[s.SagaID]]
		pending := s.Status != saga.StepDone
		switch {
		case pending && !open[s.SagaID]:
			open[s.SagaID] = true
			it.Attempts = s.Attempts
		case pending == open[s.SagaID]:
			it.Attempts = max(it.Attempts, s.Attempts)
		}
	}
	return nil
}

// ActionOption adds to what RetryAttention and ResolveAttention do.
type ActionOption func(*actionOptions)

type actionOptions struct {
	operator string
}

// ByOperator names the operator acting: the retry or resolution is
// recorded in the payment's timeline as an OPERATOR_ACTION event (who,
// what, the note), in the transaction that changes the item.
func ByOperator(operator string) ActionOption {
	return func(o *actionOptions) { o.operator = operator }
}

// maxOperatorLen is the longest operator name recorded.
const maxOperatorLen = 128

func actionOpts(opts []ActionOption) (actionOptions, error) {
	var o actionOptions
	for _, opt := range opts {
		opt(&o)
	}
	if utf8.RuneCountInString(o.operator) > maxOperatorLen {
		return o, fmt.Errorf("%w: operator longer than %d characters", ErrInvalid, maxOperatorLen)
	}
	return o, nil
}

// recordAction is the saga option that writes an operator's action on a
// saga item into its payment's timeline, or nothing without an operator.
func (p *Paygate) recordAction(o actionOptions, action, kind, note string) []saga.OperatorOption {
	if o.operator == "" {
		return nil
	}
	return []saga.OperatorOption{saga.AlsoCommit(func(ctx context.Context, tx *sql.Tx, in *saga.Instance) error {
		var pl sagaPayload
		if err := json.Unmarshal(in.Payload, &pl); err != nil || pl.PaymentID == "" {
			return fmt.Errorf("%w: saga %s names no payment to record the action on", ErrInvalid, in.ID)
		}
		pay, err := p.db.PaymentByIDTx(ctx, tx, pl.PaymentID)
		if err != nil {
			return err
		}
		return p.record(ctx, tx, pay, eventSpec{typ: EventOperatorAction, reason: note,
			data: OperatorAction{Operator: o.operator, Action: action, Kind: kind, ID: in.ID}})
	})}
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
//
// With ByOperator the retry is recorded in the payment's timeline.
func (p *Paygate) RetryAttention(ctx context.Context, kind, id string, opts ...ActionOption) error {
	if kind != AttentionSaga {
		return fmt.Errorf("%w: only %q attention can be retried, not %q", ErrInvalid, AttentionSaga, kind)
	}
	o, err := actionOpts(opts)
	if err != nil {
		return err
	}
	_, err = p.runner.Retry(ctx, id, p.recordAction(o, ActionRetry, kind, "")...)
	if err != nil {
		return operatorError(err)
	}
	p.log.Info("paygate: attention retried by an operator", "kind", kind, "id", id, "operator", o.operator)
	return nil
}

// ResolveAttention is an operator's "done by hand" for an item of the
// queue: a saga needing attention, or one whose step keeps failing (a
// refund the PG refused and the shop paid back by bank transfer, an order
// rolled back in the shop's console), ends with the note as its reason and
// leaves the queue. The note is required. Only kind "saga" can be
// resolved: an unknown outcome is settled by the PG's answer, not by hand.
// ErrInProgress means a runner was writing the saga at that moment:
// nothing changed; try again. With ByOperator the resolution and its note
// are recorded in the payment's timeline.
func (p *Paygate) ResolveAttention(ctx context.Context, kind, id, note string, opts ...ActionOption) error {
	if kind != AttentionSaga {
		return fmt.Errorf("%w: only %q attention can be resolved, not %q", ErrInvalid, AttentionSaga, kind)
	}
	if note == "" {
		return fmt.Errorf("%w: resolving needs a note", ErrInvalid)
	}
	o, err := actionOpts(opts)
	if err != nil {
		return err
	}
	in, err := p.runner.Resolve(ctx, id, note, p.recordAction(o, ActionResolve, kind, note)...)
	if err != nil {
		return operatorError(err)
	}
	p.log.Info("paygate: attention resolved by an operator", "kind", kind, "id", id, "definition", in.Definition, "state", in.State, "operator", o.operator)
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
