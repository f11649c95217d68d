package paygate

import (
	"context"
	"database/sql"

	"github.com/paygate/paygate/internal/txgroup"
	"github.com/paygate/paygate/store"
)

// DefaultPrepareGroup is how many new checkouts commit in one transaction at
// most when Config.PrepareGroup is zero.
const DefaultPrepareGroup = 32

// newCheckoutCall is the insert of a new order's checkout by Prepare.
type newCheckoutCall struct {
	ctx context.Context
	c   *store.Checkout
}

// newPrepareGroup commits the new checkouts of Prepare calls that arrive at
// the same moment in one transaction, one multi-row INSERT (see txgroup and
// DB.WithDeferred). When the group fails — an order prepared before, a
// database error — each insert runs again alone and answers exactly as it
// would have without the group.
func (p *Paygate) newPrepareGroup() *txgroup.Group[*newCheckoutCall] {
	return &txgroup.Group[*newCheckoutCall]{
		InTx: p.db.InTx,
		Together: func(ctx context.Context, tx *sql.Tx, calls []*newCheckoutCall) error {
			ctx, deferred := p.db.WithDeferred(ctx)
			for _, c := range calls {
				if err := p.db.InsertCheckout(txgroup.Context(c.ctx, ctx), tx, c.c); err != nil {
					return err
				}
			}
			return deferred.Flush(ctx, tx)
		},
		Alone: func(c *newCheckoutCall) error {
			return p.db.InTx(c.ctx, func(ctx context.Context, tx *sql.Tx) error { return p.db.InsertCheckout(ctx, tx, c.c) })
		},
		Max: p.cfg.PrepareGroup,
	}
}

// insertCheckout inserts a new order's checkout, in a group when one forms.
func (p *Paygate) insertCheckout(ctx context.Context, c *store.Checkout) error {
	call := &newCheckoutCall{ctx: ctx, c: c}
	if store.InTransaction(ctx) {
		// Alone, so the store refuses the nested transaction.
		return p.prepares.Alone(call)
	}
	return p.prepares.Submit(call)
}
