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

// claimGroupWorkers is how many claim transactions run at once. Fewer
// workers make bigger groups and make a claim wait longer for a free one.
// Measured with BenchmarkFlow: at 32 buyers one worker took about 13% less
// CPU a flow than four; at 4 buyers it added 2 ms to the approval's p50,
// where two were on par with four.
const claimGroupWorkers = 2

// approveClaim is an approval's claim of its order, before the PG is
// called: the checkout read under its lock with the order's attempts, the
// request checked against them, and — for a new attempt — the payment, the
// order's claim and the payment's saga written. Either its transaction
// commits with all of that or nothing of it is written.
type approveClaim struct {
	ctx context.Context
	req ApproveRequest

	// What the claim found or made (reset each time it runs).
	inst     *saga.Instance
	existing *store.Payment // the order's or PG payment's payment: the answer
	pay      *store.Payment // the new attempt
	checkout *store.Checkout
	// refused is the claim's answer when the request is refused (no
	// checkout, another PG, another amount, expired, too many attempts):
	// nothing is written, and it is the approval's error, not the
	// transaction's.
	refused error
}

func (a *approveClaim) reset() {
	a.inst, a.existing, a.pay, a.checkout, a.refused = nil, nil, nil, nil, nil
}

// newClaimGroup commits the claims of approvals that arrive at the same
// moment together (see txgroup): one locking read of all their checkouts
// and attempts, their new rows in one statement per table, one commit —
// four round trips for the group instead of four each. A claim alone runs
// in its own transaction as it always has. When anything in a group fails
// — two claims of one order, an order claimed meanwhile (a duplicate), a
// database error — each claim runs again alone and answers exactly as it
// would have without the group.
func (p *Paygate) newClaimGroup() *txgroup.Group[*approveClaim] {
	return &txgroup.Group[*approveClaim]{
		InTx:     p.db.InTx,
		Together: p.claimTogether,
		Alone:    p.claimAlone,
		Max:      p.cfg.ApproveGroup,
		Workers:  claimGroupWorkers,
	}
}

// errSameOrder fails a group holding two claims of one order: run alone,
// the second finds the first's claim.
var errSameOrder = errors.New("paygate: two claims of one order in a group")

func (p *Paygate) claimTogether(ctx context.Context, tx *sql.Tx, as []*approveClaim) error {
	ids := make([]string, len(as))
	seen := make(map[string]bool, len(as))
	for i, a := range as {
		if seen[a.req.OrderID] {
			return errSameOrder
		}
		seen[a.req.OrderID] = true
		ids[i] = a.req.OrderID
	}
	// The claims' writes are new rows nothing in the transaction reads
	// again: they reach the database together, after the reads.
	ctx, deferred := p.db.WithDeferred(ctx)
	read, err := p.db.LockCheckoutsAttempts(ctx, tx, ids...)
	if err != nil {
		return err
	}
	for _, a := range as {
		a.reset()
		ca, ok := read[a.req.OrderID]
		if !ok {
			a.refused = noCheckout(a.req.OrderID)
			continue
		}
		if err := p.claimOrder(txgroup.Context(a.ctx, ctx), tx, a, ca); err != nil {
			return err
		}
	}
	return deferred.Flush(ctx, tx)
}

// claimAlone runs a's claim in a transaction of its own.
func (p *Paygate) claimAlone(a *approveClaim) error {
	return p.db.InTx(a.ctx, func(ctx context.Context, tx *sql.Tx) error {
		a.reset()
		ctx, deferred := p.db.WithDeferred(ctx)
		read, err := p.db.LockCheckoutsAttempts(ctx, tx, a.req.OrderID)
		if err != nil {
			return err
		}
		ca, ok := read[a.req.OrderID]
		if !ok {
			a.refused = noCheckout(a.req.OrderID)
			return nil
		}
		if err := p.claimOrder(ctx, tx, a, ca); err != nil {
			return err
		}
		return deferred.Flush(ctx, tx)
	})
}

func noCheckout(orderID string) error {
	return fmt.Errorf("%w: no checkout for order %q", ErrNotFound, orderID)
}

// claimOrder decides a's claim on its order's checkout and attempts, read
// and locked in tx (ca), and defers the writes of a new attempt to tx's
// flush. A refusal is a.refused; an error is the transaction's (a database
// error), which fails it.
func (p *Paygate) claimOrder(ctx context.Context, tx *sql.Tx, a *approveClaim, ca *store.CheckoutAttempts) error {
	req, c := a.req, ca.Checkout
	refuse := func(err error) error {
		a.refused = err
		return nil
	}
	if c.PG != req.PG {
		return refuse(fmt.Errorf("%w: order %q was prepared for %s, not %s", ErrConflict, req.OrderID, c.PG, req.PG))
	}
	if !c.Amount.Equal(req.Amount) {
		return refuse(fmt.Errorf("%w: order %q is %s, approval asked for %s", ErrAmountMismatch, req.OrderID, c.Amount, req.Amount))
	}
	if req.PaymentKey != "" {
		prior, err := p.db.PaymentByKeyTx(ctx, tx, req.PG, req.PaymentKey)
		if err == nil {
			if prior.OrderID != req.OrderID {
				// The PG's key names another order's payment: never
				// answer with that payment, and leave this order payable.
				return refuse(fmt.Errorf("%w: %w: the payment key names another order's payment", ErrConflict, ErrPaymentKeyMismatch))
			}
			a.existing = prior
			return nil
		}
		if !errors.Is(err, store.ErrNotFound) {
			return err
		}
	}
	if ca.Holder != "" {
		for _, at := range ca.Attempts {
			if at.ID == ca.Holder {
				a.existing = at
				return nil
			}
		}
		existing, err := p.db.PaymentByIDTx(ctx, tx, ca.Holder)
		if err != nil {
			return err
		}
		a.existing = existing
		return nil
	}
	if !c.ExpiresAt.IsZero() && !p.now().Before(c.ExpiresAt) {
		return refuse(fmt.Errorf("%w: checkout of order %q expired at %s", ErrConflict, req.OrderID, c.ExpiresAt.Format(time.RFC3339)))
	}
	if err := p.checkAttemptsOf(req.OrderID, ca.Attempts); err != nil {
		return refuse(err)
	}

	// Bind the checkout's PG session (KakaoPay's tid, Inicis' signed
	// fields) to the payment now: every later call about this payment —
	// the approval resent after a crash, the lookups that resolve an
	// unknown outcome, refunds — uses this session, whatever happens to the
	// order's checkout afterwards.
	session, err := bindSession(c)
	if err != nil {
		return refuse(err)
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
	a.inst, a.pay, a.checkout = inst, pay, c
	return nil
}
