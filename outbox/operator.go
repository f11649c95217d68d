package outbox

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// Deliveries lists deliveries for operators, for example the dead ones:
// Deliveries(ctx, DeliveryFilter{Status: DeliveryDead}).
func (o *Outbox) Deliveries(ctx context.Context, f DeliveryFilter) ([]DeliveryRecord, error) {
	ds, err := o.store.Deliveries(ctx, f)
	if err != nil {
		return nil, fmt.Errorf("outbox: list deliveries: %w", err)
	}
	return ds, nil
}

// Redeliver makes a dead delivery pending again, due at once, with its
// attempt count restarted. Redeliver of a delivery that is not dead returns
// an error wrapping ErrInvalidState.
func (o *Outbox) Redeliver(ctx context.Context, id int64) error {
	err := o.store.InTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		d, err := o.store.Delivery(ctx, tx, id)
		if err != nil {
			return err
		}
		if d.Status != DeliveryDead {
			return fmt.Errorf("%w: delivery is %s, not %s", ErrInvalidState, d.Status, DeliveryDead)
		}
		now := o.now()
		prevToken := d.LeaseToken
		d.Status = DeliveryPending
		d.Attempts = 0
		d.RunAt = now
		d.LeaseToken = ""
		d.UpdatedAt = now
		ok, err := o.store.UpdateDelivery(ctx, tx, d, DeliveryDead, prevToken)
		if err != nil {
			return err
		}
		if !ok {
			return errors.New("delivery changed concurrently; try again")
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("outbox: redeliver %d: %w", id, err)
	}
	o.wake.Notify()
	return nil
}
