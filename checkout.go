package paygate

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/paygate/paygate/pg"
	"github.com/paygate/paygate/store"
)

// bindSession is the payment's first PG data: the session data of the
// checkout it is approved from.
func bindSession(c *store.Checkout) ([]byte, error) {
	var pd prepareData
	if len(c.PrepareData) > 0 {
		if err := json.Unmarshal(c.PrepareData, &pd); err != nil {
			return nil, fmt.Errorf("paygate: checkout %q: %w", c.OrderID, err)
		}
	}
	if len(pd.Data) == 0 {
		return nil, nil
	}
	return json.Marshal(pgData{Data: pd.Data})
}

// checkAttemptsOf bounds the failed approvals of an order: past
// Config.AttemptLimit failures within Config.AttemptWindow, a new attempt
// is refused with ErrTooManyAttempts until the oldest of them leaves the
// window, so approvals with made-up keys cannot grow the tables at will.
// ps are the order's payments, read in the approval's transaction.
func (p *Paygate) checkAttemptsOf(orderID string, ps []*store.Payment) error {
	now := p.now()
	since := now.Add(-p.cfg.AttemptWindow)
	var failed []time.Time
	for _, pay := range ps {
		if pay.Status == pg.StatusFailed && pay.CreatedAt.After(since) {
			failed = append(failed, pay.CreatedAt)
		}
	}
	if len(failed) < p.cfg.AttemptLimit {
		return nil
	}
	slices.SortFunc(failed, time.Time.Compare)
	// The attempt that frees a slot is the limit-th newest.
	frees := failed[len(failed)-p.cfg.AttemptLimit].Add(p.cfg.AttemptWindow)
	wait := frees.Sub(now)
	if wait < time.Second {
		wait = time.Second
	}
	return &RetryLaterError{After: wait, Err: fmt.Errorf("%w: order %q had %d failed approvals in the last %s",
		ErrTooManyAttempts, orderID, len(failed), p.cfg.AttemptWindow)}
}

// prepareData is what a checkout stores of the PG's prepare step.
type prepareData struct {
	Client map[string]string `json:"client,omitempty"`
	Data   map[string]string `json:"data,omitempty"`
	// Request fingerprints the request that made the checkout.
	Request string `json:"request,omitempty"`
}

// requestFingerprint identifies what a checkout was asked for, so a repeated
// request can be told from a different one for the same order.
func requestFingerprint(req PrepareRequest, pgName string) string {
	fields := []string{
		pgName, req.OrderName, req.Amount.String(), string(req.Method), req.CustomerID,
		req.SuccessURL, req.CancelURL, req.FailURL,
	}
	// A PC checkout's fingerprint is what it was before devices existed,
	// so checkouts stored then still match.
	if d := req.Device.OrPC(); d != pg.DevicePC {
		fields = append(fields, string(d))
	}
	raw, _ := json.Marshal(fields)
	sum := sha256.Sum256(raw)
	return hex.EncodeToString(sum[:])
}

// sameAttempt reports whether req asks for exactly the stored checkout.
func sameAttempt(c *store.Checkout, req PrepareRequest, pgName, fp string) bool {
	if c.PG != pgName || c.OrderName != req.OrderName || !c.Amount.Equal(req.Amount) {
		return false
	}
	var pd prepareData
	if len(c.PrepareData) > 0 && json.Unmarshal(c.PrepareData, &pd) != nil {
		return false
	}
	return pd.Request == "" || pd.Request == fp
}

// attemptOpen reports whether the checkout's attempt can still be paid: it
// has not expired and no payment made from it has failed. (A payment that
// is in flight or captured is checkNoActivePayment's business.)
func (p *Paygate) attemptOpen(ctx context.Context, c *store.Checkout) (bool, error) {
	if !c.ExpiresAt.IsZero() && !p.now().Before(c.ExpiresAt) {
		return false, nil
	}
	ps, err := p.db.PaymentsByOrder(ctx, c.OrderID)
	if err != nil {
		return false, err
	}
	for _, pay := range ps {
		if pay.CreatedAt.Before(c.UpdatedAt) {
			continue // an earlier attempt's
		}
		if pay.Status == pg.StatusFailed || pay.Status == pg.StatusExpired {
			return false, nil
		}
	}
	return true, nil
}

// checkNoActivePayment refuses to touch an order that a payment holds, unless
// that payment has failed for good. It reads in tx, or outside any
// transaction when tx is nil.
func (p *Paygate) checkNoActivePayment(ctx context.Context, tx *sql.Tx, orderID string) error {
	var id string
	var err error
	if tx == nil {
		id, err = p.db.OrderPayment(ctx, orderID)
	} else {
		id, err = p.db.OrderPaymentTx(ctx, tx, orderID)
	}
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	var pay *store.Payment
	if tx == nil {
		pay, err = p.db.PaymentByID(ctx, id)
	} else {
		pay, err = p.db.PaymentByIDTx(ctx, tx, id)
	}
	if err != nil {
		return err
	}
	if pay.Status.Captured() || pay.Status == pg.StatusCanceled {
		return fmt.Errorf("%w: order %q is already paid (%s)", ErrConflict, orderID, pay.ID)
	}
	return fmt.Errorf("%w: order %q has payment %s %s", ErrInProgress, orderID, pay.ID, pay.Status)
}

func (p *Paygate) checkoutOf(c *store.Checkout) (*Checkout, error) {
	var pd prepareData
	if len(c.PrepareData) > 0 {
		if err := json.Unmarshal(c.PrepareData, &pd); err != nil {
			return nil, fmt.Errorf("paygate: checkout %q: %w", c.OrderID, err)
		}
	}
	if pd.Client == nil {
		pd.Client = map[string]string{}
	}
	return &Checkout{
		OrderID: c.OrderID, OrderName: c.OrderName, Amount: c.Amount, PG: c.PG,
		Client: pd.Client, ExpiresAt: c.ExpiresAt,
	}, nil
}
