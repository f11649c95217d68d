package paygate

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/paygate/paygate/internal/txgroup"
	"github.com/paygate/paygate/pg"
	"github.com/paygate/paygate/saga"
	"github.com/paygate/paygate/store"
)

// DefaultApproveGroup is how many approvals' claims commit in one
// transaction at most when Config.ApproveGroup is zero.
const DefaultApproveGroup = 32

// approveClaim is one Approve's claim of its order: the request, and what
// the claim found or wrote.
type approveClaim struct {
	ctx context.Context
	req ApproveRequest

	// refused is the claim's answer when it writes nothing because the
	// request cannot be approved (no checkout, another PG or amount, an
	// expired checkout, too many attempts, a key naming another order).
	refused error
	// existing is the payment that answers the request when the order or
	// the PG's key has one already.
	existing *store.Payment
	// pay, inst and checkout are the claim's new payment, its saga
	// instance (held for RunInline) and the order's checkout.
	pay      *store.Payment
	inst     *saga.Instance
	checkout *store.Checkout
}

func (c *approveClaim) reset() {
	c.refused, c.existing, c.pay, c.inst, c.checkout = nil, nil, nil, nil, nil
}

// newApproveGroup claims the orders of Approve calls that arrive at the
// same moment in one transaction: one locking read of all their checkouts
// and attempts, their new rows in one request with the commit. Each claim
// decides on its order's rows exactly as it would alone; a refusal writes
// nothing and leaves the others' claims be. Anything else that fails — a
// database error, a claim whose rows collide (two claims of one order, an
// order claimed meanwhile) — rolls the group back and runs each claim
// alone, where it lands or fails as it would have without the group. A
// claim alone in its group runs alone: at low load nothing changes.
func (p *Paygate) newApproveGroup() *txgroup.Group[*approveClaim] {
	return &txgroup.Group[*approveClaim]{
		InTx:     p.db.InTx,
		Together: p.claimTogether,
		Alone:    p.claimAlone,
		Max:      p.cfg.ApproveGroup,
	}
}

// claimOrder claims c's order, in a group when one forms. A refusal is its
// error.
func (p *Paygate) claimOrder(c *approveClaim) error {
	var err error
	if store.InTransaction(c.ctx) {
		// Alone, so the store refuses the nested transaction.
		err = p.approves.Alone(c)
	} else {
		err = p.approves.Submit(c)
	}
	if err == nil && c.refused != nil {
		// Refused in a group that committed the others' claims.
		err = c.refused
	}
	return err
}

// claimAlone is the claim of one order in a transaction of its own. A
// refusal is its error.
func (p *Paygate) claimAlone(c *approveClaim) error {
	return p.db.InTx(c.ctx, func(ctx context.Context, tx *sql.Tx) error {
		c.reset()
		// The claim's writes (the payment, the order's claim, the saga
		// with its dispatch record) are new rows nothing here reads
		// again: they reach the database together, after the reads.
		ctx, deferred := p.db.WithDeferred(ctx)
		// The checkout, locked, with the order's attempts and the
		// claim's holder, in one read.
		locked, err := p.db.LockCheckoutsAttempts(ctx, tx, []string{c.req.OrderID})
		if err != nil {
			return err
		}
		if err := p.claimIn(ctx, tx, c, locked[c.req.OrderID]); err != nil {
			return err
		}
		if c.refused != nil {
			return c.refused
		}
		return deferred.FlushCommit(ctx, tx)
	})
}

// errSameOrder sends a group with two claims of one order to run alone:
// the second must see the first's claim, which a shared read cannot show.
var errSameOrder = errors.New("paygate: two approvals of one order in a claim group")

// claimTogether is the claims of several orders in tx.
func (p *Paygate) claimTogether(ctx context.Context, tx *sql.Tx, cs []*approveClaim) error {
	ctx, deferred := p.db.WithDeferred(ctx)
	ids := make([]string, len(cs))
	seen := make(map[string]bool, len(cs))
	for i, c := range cs {
		if seen[c.req.OrderID] {
			return errSameOrder
		}
		seen[c.req.OrderID] = true
		ids[i] = c.req.OrderID
	}
	locked, err := p.db.LockCheckoutsAttempts(ctx, tx, ids)
	if err != nil {
		return err
	}
	for _, c := range cs {
		c.reset()
		if err := p.claimIn(txgroup.Context(c.ctx, ctx), tx, c, locked[c.req.OrderID]); err != nil {
			return err
		}
	}
	return deferred.FlushCommit(ctx, tx)
}

// claimIn decides c's claim on its order's locked rows (o, nil when the
// order has no checkout) and, for a new approval, defers its writes in tx.
// It sets c.refused or c.existing when the request writes nothing; an
// error is one the transaction cannot go on after.
func (p *Paygate) claimIn(ctx context.Context, tx *sql.Tx, c *approveClaim, o *store.CheckoutAttempts) error {
	req := c.req
	refuse := func(err error) error { c.refused = err; return nil }
	if o == nil {
		return refuse(fmt.Errorf("%w: no checkout for order %q", ErrNotFound, req.OrderID))
	}
	co := o.Checkout
	if co.PG != req.PG {
		return refuse(fmt.Errorf("%w: order %q was prepared for %s, not %s", ErrConflict, req.OrderID, co.PG, req.PG))
	}
	if !co.Amount.Equal(req.Amount) {
		return refuse(fmt.Errorf("%w: order %q is %s, approval asked for %s", ErrAmountMismatch, req.OrderID, co.Amount, req.Amount))
	}
	if req.PaymentKey != "" {
		prior, err := p.db.PaymentByKeyTx(ctx, tx, req.PG, req.PaymentKey)
		if err == nil {
			if prior.OrderID != req.OrderID {
				// The PG's key names another order's payment: never
				// answer with that payment, and leave this order payable.
				return refuse(fmt.Errorf("%w: %w: the payment key names another order's payment", ErrConflict, ErrPaymentKeyMismatch))
			}
			c.existing = prior
			return nil
		}
		if !errors.Is(err, store.ErrNotFound) {
			return err
		}
	}
	if o.Holder != "" {
		for _, a := range o.Attempts {
			if a.ID == o.Holder {
				c.existing = a
				return nil
			}
		}
		var err error
		c.existing, err = p.db.PaymentByIDTx(ctx, tx, o.Holder)
		return err
	}
	if !co.ExpiresAt.IsZero() && !p.now().Before(co.ExpiresAt) {
		return refuse(fmt.Errorf("%w: checkout of order %q expired at %s", ErrConflict, req.OrderID, co.ExpiresAt.Format(time.RFC3339)))
	}
	if err := p.checkAttemptsOf(req.OrderID, o.Attempts); err != nil {
		return refuse(err)
	}

	// Bind the checkout's PG session (KakaoPay's tid, Inicis' signed
	// fields) to the payment now: every later call about this payment —
	// the approval resent after a crash, the lookups that resolve an
	// unknown outcome, refunds — uses this session, whatever happens to
	// the order's checkout afterwards.
	session, err := bindSession(co)
	if err != nil {
		return err
	}
	pay := &store.Payment{
		ID: store.NewPaymentID(), PG: req.PG, PaymentKey: req.PaymentKey, OrderID: req.OrderID,
		Amount: req.Amount, Status: pg.StatusApproving, PGData: session,
	}
	if err := p.db.InsertPayment(ctx, tx, pay); err != nil {
		return err
	}
	if err := p.db.ClaimOrder(ctx, tx, req.OrderID, pay.ID); err != nil {
		return err
	}
	raw, err := json.Marshal(sagaPayload{PaymentID: pay.ID, PaymentKey: req.PaymentKey, Redirect: req.Redirect})
	if err != nil {
		return err
	}
	inst, err := p.runner.Start(ctx, tx, p.paymentSaga, pay.ID, raw, saga.Inline())
	if err != nil {
		return err
	}
	c.pay, c.inst, c.checkout = pay, inst, co
	return nil
}
