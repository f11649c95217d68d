package outbox

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/google/uuid"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/paygate/paygate/internal/retry"
	"github.com/paygate/paygate/internal/telemetry"
)

// claimed is a leased delivery with the token that leases it.
type claimed struct {
	rec   DeliveryRecord
	token string
}

// claim leases the due deliveries of subs, for the workers to deliver.
func (o *Outbox) claim(ctx context.Context, subs []Subscriber) ([]claimed, error) {
	if len(subs) == 0 {
		return nil, nil
	}
	names := make([]string, len(subs))
	for i, s := range subs {
		names[i] = s.Name
	}
	now := o.now()
	c := DeliveryClaim{Subscribers: names, Token: uuid.NewString(), Now: now, LeaseUntil: now.Add(o.cfg.Lease), Limit: o.cfg.ClaimBatch}
	var recs []DeliveryRecord
	err := o.store.InTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		var err error
		recs, err = o.store.ClaimDeliveries(ctx, tx, c)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("outbox: claim deliveries: %w", err)
	}
	out := make([]claimed, len(recs))
	for i, r := range recs {
		out[i] = claimed{rec: r, token: c.Token}
	}
	return out, nil
}

// claimAndDeliver claims the due deliveries of handler subscribers (subs,
// none a relay) and delivers them in the claim's own transaction, which
// marks them done: one transaction for the batch instead of a claim and
// a delivery, and one write of each delivery's row. The claim leases
// nothing: while the transaction runs, the rows it claimed are locked, so no
// other dispatcher takes them, and a crash rolls it all back with nothing
// lost. Each subscriber's part runs under a savepoint: when its handler
// fails, its part is rolled back and its deliveries are leased in the same
// transaction; once it committed, its failure is recorded (one delivery)
// or its deliveries are returned for a worker to deliver one by one
// (several), as process does.
func (o *Outbox) claimAndDeliver(ctx context.Context, subs []Subscriber) (claimedN int, oneByOne []work, err error) {
	names := make([]string, len(subs))
	byName := make(map[string]Subscriber, len(subs))
	for i, s := range subs {
		names[i] = s.Name
		byName[s.Name] = s
	}
	now := o.now()
	c := DeliveryClaim{Subscribers: names, Token: uuid.NewString(), Now: now, LeaseUntil: now.Add(o.cfg.Lease), Limit: o.cfg.ClaimBatch, Hold: true}
	type failure struct {
		group []claimed
		err   error
	}
	var (
		done   []claimed
		failed []failure
	)
	err = o.store.InTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		done, failed, claimedN = done[:0], failed[:0], 0
		recs, err := o.store.ClaimDeliveries(ctx, tx, c)
		if err != nil || len(recs) == 0 {
			return err
		}
		claimedN = len(recs)
		groups := map[string][]claimed{}
		var order []string
		for _, r := range recs {
			if _, ok := groups[r.Subscriber]; !ok {
				order = append(order, r.Subscriber)
			}
			groups[r.Subscriber] = append(groups[r.Subscriber], claimed{rec: r, token: c.Token})
		}
		for _, name := range order {
			group := groups[name]
			if _, err := tx.ExecContext(ctx, "SAVEPOINT outbox_group"); err != nil {
				return err
			}
			herr := o.deliverGroup(ctx, tx, byName[name], group)
			if herr == nil {
				done = append(done, group...)
				continue
			}
			if _, err := tx.ExecContext(ctx, "ROLLBACK TO SAVEPOINT outbox_group"); err != nil {
				// The database rolled the whole transaction back (a
				// deadlock): run it again.
				return errors.Join(herr, err)
			}
			if errors.Is(herr, errBatchLeaseLost) {
				// Held by this transaction: cannot happen; say so.
				return herr
			}
			// Leased now, as a claim for workers leases, so the failure
			// is recorded, or each redone, under the lease once this
			// transaction commits.
			ids := make([]int64, len(group))
			for i, g := range group {
				ids[i] = g.rec.ID
			}
			if err := o.store.LeaseDeliveries(ctx, tx, ids, c); err != nil {
				return err
			}
			failed = append(failed, failure{group: group, err: herr})
		}
		return nil
	})
	if err != nil {
		return 0, nil, fmt.Errorf("outbox: claim and deliver: %w", err)
	}
	for _, c := range done {
		o.report(c, nil, false)
	}
	for _, f := range failed {
		sub := byName[f.group[0].rec.Subscriber]
		if len(f.group) == 1 {
			o.failed(ctx, sub, f.group[0], f.err)
			continue
		}
		o.log.Debug("outbox: batched delivery failed; delivering one by one", "subscriber", sub.Name, "err", f.err)
		oneByOne = append(oneByOne, work{batch: f.group, oneByOne: true})
	}
	return claimedN, oneByOne, nil
}

// work is a unit of the outbox's claim loop: a claimed batch to process,
// or one subscriber's deliveries to deliver one by one after their batch
// failed in the claim's transaction.
type work struct {
	batch    []claimed
	oneByOne bool
}

func (o *Outbox) work(ctx context.Context, w work) {
	if !w.oneByOne {
		o.process(ctx, w.batch)
		return
	}
	if sub, ok := o.subscriber(w.batch[0].rec.Subscriber); ok {
		o.oneByOne(ctx, sub, w.batch)
	}
}

// deliverGroup marks one subscriber's deliveries, which tx holds, done and
// runs its handler for them, in tx.
func (o *Outbox) deliverGroup(ctx context.Context, tx *sql.Tx, sub Subscriber, group []claimed) error {
	ids := make([]int64, len(group))
	ds := make([]Delivery, len(group))
	for i, c := range group {
		ids[i], ds[i] = c.rec.ID, delivery(c)
	}
	if n, err := o.store.MarkHeldDone(ctx, tx, ids, o.now()); err != nil {
		return err
	} else if n != len(ids) {
		return errBatchLeaseLost
	}
	return o.handleAll(ctx, tx, sub, ds)
}

// handleAll runs sub's handler for ds in tx: its batch handler when it has
// one and there are several, else its handler for each in turn.
func (o *Outbox) handleAll(ctx context.Context, tx *sql.Tx, sub Subscriber, ds []Delivery) error {
	if sub.HandleBatch != nil && len(ds) > 1 {
		return o.traceBatchHandler(ctx, tx, sub.HandleBatch, ds)
	}
	for _, d := range ds {
		if err := o.traceHandler(ctx, tx, sub.Handle, d); err != nil {
			return fmt.Errorf("delivery %d: %w", d.DeliveryID, err)
		}
	}
	return nil
}

// process delivers a claimed batch, subscriber by subscriber. Handler
// deliveries of one subscriber first share one transaction; if any of them
// fails, each is redone in its own so one bad event does not hold back the
// others.
func (o *Outbox) process(ctx context.Context, batch []claimed) {
	groups := map[string][]claimed{}
	var order []string
	for _, c := range batch {
		if _, ok := groups[c.rec.Subscriber]; !ok {
			order = append(order, c.rec.Subscriber)
		}
		groups[c.rec.Subscriber] = append(groups[c.rec.Subscriber], c)
	}
	for _, name := range order {
		sub, ok := o.subscriber(name)
		if !ok {
			continue
		}
		group := groups[name]
		if sub.Relay != nil {
			o.relay(ctx, sub, group)
			continue
		}
		if len(group) > 1 {
			if err := o.handleBatch(ctx, sub, group); err == nil {
				continue
			}
		}
		o.oneByOne(ctx, sub, group)
	}
}

// oneByOne delivers each of group in its own transaction and records the
// failure of each that fails.
func (o *Outbox) oneByOne(ctx context.Context, sub Subscriber, group []claimed) {
	for _, c := range group {
		if err := o.handle(ctx, sub, []claimed{c}); err != nil {
			o.failed(ctx, sub, c, err)
		}
	}
}

func delivery(c claimed) Delivery {
	return Delivery{Event: c.rec.Event, DeliveryID: c.rec.ID, Subscriber: c.rec.Subscriber, Attempt: c.rec.Attempts}
}

// errBatchLeaseLost rolls back a batch whose deliveries are not all still
// leased to it; they are then delivered one by one, which sorts out which.
var errBatchLeaseLost = errors.New("outbox: a delivery of the batch is no longer leased to it")

// handleBatch runs sub's handler for a group of deliveries claimed together
// (one lease token) in one transaction that marks them all done in one
// statement. Any failure rolls it all back; the caller then delivers them
// one by one.
func (o *Outbox) handleBatch(ctx context.Context, sub Subscriber, group []claimed) error {
	ids := make([]int64, len(group))
	ds := make([]Delivery, len(group))
	for i, c := range group {
		if c.token != group[0].token {
			return errBatchLeaseLost
		}
		ids[i], ds[i] = c.rec.ID, delivery(c)
	}
	err := o.store.InTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		n, err := o.store.MarkDone(ctx, tx, ids, group[0].token, o.now())
		if err != nil {
			return err
		}
		if n != len(ids) {
			return errBatchLeaseLost
		}
		return o.handleAll(ctx, tx, sub, ds)
	})
	if err != nil {
		o.log.Debug("outbox: batched delivery failed; delivering one by one", "subscriber", sub.Name, "err", err)
		return err
	}
	for _, c := range group {
		o.report(c, nil, false)
	}
	return nil
}

// handle runs sub's handler for every delivery of group in one transaction
// that also marks them done.
func (o *Outbox) handle(ctx context.Context, sub Subscriber, group []claimed) error {
	var lost []int64
	err := o.store.InTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		lost = lost[:0]
		for _, c := range group {
			done, err := o.markDone(ctx, tx, c)
			if errors.Is(err, errAlreadyDone) {
				continue
			}
			if err != nil {
				return err
			}
			if !done {
				lost = append(lost, c.rec.ID)
				continue
			}
			if err := o.traceHandler(ctx, tx, sub.Handle, delivery(c)); err != nil {
				return fmt.Errorf("delivery %d: %w", c.rec.ID, err)
			}
		}
		return nil
	})
	if err != nil {
		if len(group) == 1 {
			return err
		}
		o.log.Debug("outbox: batched delivery failed; delivering one by one", "subscriber", sub.Name, "err", err)
		return err
	}
	for _, id := range lost {
		o.log.Warn("outbox: delivery lease lost; another dispatcher has it", "subscriber", sub.Name, "delivery_id", id)
	}
	for _, c := range group {
		if !slices.Contains(lost, c.rec.ID) {
			o.report(c, nil, false)
		}
	}
	return nil
}

// markDone marks a leased delivery done; false means the lease was lost (or
// an earlier run of this transaction already committed, which also means
// there is nothing left to do).
func (o *Outbox) markDone(ctx context.Context, tx *sql.Tx, c claimed) (bool, error) {
	d := c.rec
	d.Status = DeliveryDone
	d.RunAt = time.Time{}
	d.LeaseToken = c.token
	d.LastError = ""
	d.UpdatedAt = o.now()
	ok, err := o.store.UpdateDelivery(ctx, tx, d, DeliveryPending, c.token)
	if err != nil || ok {
		return ok, err
	}
	cur, err := o.store.Delivery(ctx, tx, d.ID)
	if err != nil {
		return false, err
	}
	if cur.Status == DeliveryDone && cur.LeaseToken == c.token {
		// An earlier run of this transaction committed though its
		// commit reported an error; the delivery is ours and done.
		return false, errAlreadyDone
	}
	return false, nil
}

// errAlreadyDone ends a delivery transaction whose work an earlier run of it
// already committed.
var errAlreadyDone = errors.New("outbox: delivery already done")

func callBatchHandler(ctx context.Context, tx *sql.Tx, h BatchHandler, ds []Delivery) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = &retry.PanicError{Value: v}
		}
	}()
	return h(ctx, tx, ds)
}

// traceBatchHandler calls h with a span per delivery, each joining the
// trace of the span that emitted its event, all ending with the batch.
func (o *Outbox) traceBatchHandler(ctx context.Context, tx *sql.Tx, h BatchHandler, ds []Delivery) error {
	spans := make([]trace.Span, len(ds))
	for i, d := range ds {
		_, spans[i] = o.tel.Tracer.Start(telemetry.WithTraceParent(ctx, d.TraceParent), "outbox.deliver "+d.Subscriber,
			trace.WithSpanKind(trace.SpanKindConsumer),
			trace.WithAttributes(telemetry.Subscriber.String(d.Subscriber), telemetry.EventType.String(d.Type),
				telemetry.EventID.String(d.ID), telemetry.Attempt.Int(d.Attempt), telemetry.BatchSize.Int(len(ds))))
	}
	err := callBatchHandler(ctx, tx, h, ds)
	for _, span := range spans {
		telemetry.Fail(span, err)
		span.End()
	}
	return err
}

// traceHandler calls h in a span that joins the trace of the span that
// emitted the event.
func (o *Outbox) traceHandler(ctx context.Context, tx *sql.Tx, h Handler, d Delivery) error {
	ctx, span := o.tel.Tracer.Start(telemetry.WithTraceParent(ctx, d.TraceParent), "outbox.deliver "+d.Subscriber,
		trace.WithSpanKind(trace.SpanKindConsumer),
		trace.WithAttributes(telemetry.Subscriber.String(d.Subscriber), telemetry.EventType.String(d.Type),
			telemetry.EventID.String(d.ID), telemetry.Attempt.Int(d.Attempt)))
	defer span.End()
	err := callHandler(ctx, tx, h, d)
	telemetry.Fail(span, err)
	return err
}

func callHandler(ctx context.Context, tx *sql.Tx, h Handler, d Delivery) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = &retry.PanicError{Value: v}
		}
	}()
	return h(ctx, tx, d)
}

// failed records a failed delivery attempt: due again after backoff, or dead.
func (o *Outbox) failed(ctx context.Context, sub Subscriber, c claimed, cause error) {
	policy := sub.Retry.withDefaults()
	d := c.rec
	now := o.now()
	dead := retry.IsPermanent(cause) || policy.exhausted(d.Attempts)
	d.LastError = cause.Error()
	d.LeaseToken = ""
	d.UpdatedAt = now
	if dead {
		d.Status = DeliveryDead
		d.RunAt = time.Time{}
	} else {
		d.RunAt = now.Add(policy.Backoff(d.Attempts))
	}
	var ok bool
	err := o.store.InTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		var err error
		ok, err = o.store.UpdateDelivery(ctx, tx, d, DeliveryPending, c.token)
		return err
	})
	switch {
	case err != nil:
		o.log.Error("outbox: record failed delivery", "subscriber", sub.Name, "delivery_id", d.ID, "err", err, "cause", cause)
		return
	case !ok:
		o.log.Warn("outbox: delivery lease lost", "subscriber", sub.Name, "delivery_id", d.ID)
		return
	}
	level := slog.LevelWarn
	if dead {
		level = slog.LevelError
	}
	o.log.Log(ctx, level, "outbox: delivery failed", "subscriber", sub.Name, "delivery_id", d.ID,
		"event_id", d.EventID, "event_type", d.Event.Type, "attempt", d.Attempts, "dead", dead, "err", cause)
	o.report(c, cause, dead)
}

func (o *Outbox) report(c claimed, err error, dead bool) {
	outcome := "done"
	switch {
	case dead:
		outcome = "dead"
	case err != nil:
		outcome = "retry"
	}
	o.tel.Deliveries.Add(context.Background(), 1, metric.WithAttributes(
		telemetry.Subscriber.String(c.rec.Subscriber), telemetry.Outcome.String(outcome)))
	if h := o.cfg.OnDelivery; h != nil {
		h(DeliveryReport{
			DeliveryID: c.rec.ID, EventID: c.rec.EventID, EventType: c.rec.Event.Type,
			Subscriber: c.rec.Subscriber, Attempt: c.rec.Attempts, Err: err, Dead: dead,
		})
	}
}
