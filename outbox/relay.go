package outbox

import (
	"context"
	"database/sql"
	"errors"

	"github.com/paygate/paygate/internal/retry"
)

// Relay forwards events to something outside the database, such as a
// message broker, at least once: Publish may be called again with events it
// already published (after a crash or a lost lease), so the receiving side
// deduplicates by Event.ID. An error retries all the given events.
type Relay interface {
	Publish(ctx context.Context, events []Delivery) error
}

// relay hands a claimed group to sub's Relay and marks it delivered once
// the relay took every event; a failure retries the whole group.
func (o *Outbox) relay(ctx context.Context, sub Subscriber, group []claimed) {
	ds := make([]Delivery, len(group))
	for i, c := range group {
		ds[i] = delivery(c)
	}
	err := func() (err error) {
		defer func() {
			if v := recover(); v != nil {
				err = &retry.PanicError{Value: v}
			}
		}()
		return sub.Relay.Publish(ctx, ds)
	}()
	if err != nil {
		for _, c := range group {
			o.failed(ctx, sub, c, err)
		}
		return
	}
	err = o.store.InTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		for _, c := range group {
			if _, err := o.markDone(ctx, tx, c); err != nil && !errors.Is(err, errAlreadyDone) {
				return err
			}
		}
		return nil
	})
	if err != nil {
		// Published but not marked: the leases expire and the events
		// are published again, which a relay's receiver tolerates.
		o.log.Error("outbox: relayed events not marked delivered", "subscriber", sub.Name, "err", err)
		return
	}
	for _, c := range group {
		o.report(c, nil, false)
	}
}
