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

// newPrepareGroup inserts the new checkouts of Prepare calls that arrive at
// the same moment in one multi-row INSERT, which commits on its own (a
// statement is atomic without a transaction around it: store.Autocommit),
// as does the insert of a call alone: one round trip either way, not three.
// When the group's insert fails — an order prepared before, a database
// error — each insert runs again alone and answers exactly as it would have
// without the group.
func (p *Paygate) newPrepareGroup() *txgroup.Group[*newCheckoutCall] {
	return &txgroup.Group[*newCheckoutCall]{
		// The group's work is its one statement: no transaction to open.
		InTx: func(ctx context.Context, fn func(context.Context, *sql.Tx) error) error { return fn(ctx, nil) },
		Together: func(ctx context.Context, _ *sql.Tx, calls []*newCheckoutCall) error {
			cs := make([]*store.Checkout, len(calls))
			for i, c := range calls {
				cs[i] = c.c
			}
			return p.db.InsertCheckouts(ctx, cs...)
		},
		Alone: func(c *newCheckoutCall) error { return p.db.InsertCheckouts(c.ctx, c.c) },
		Max:   p.cfg.PrepareGroup,
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
