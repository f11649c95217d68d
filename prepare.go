package paygate

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/paygate/paygate/pg"
	"github.com/paygate/paygate/store"
)

// PrepareRequest starts a checkout: the host fixes the order's amount before
// the buyer sees any PG window, and Approve will refuse any other amount.
type PrepareRequest struct {
	OrderID   string
	OrderName string
	Amount    pg.Money
	// PG names the gateway; empty lets Config.Router choose.
	PG         string
	Method     pg.Method
	CustomerID string
	// Where the PG sends the buyer back (PGs with a server-side prepare).
	SuccessURL, CancelURL, FailURL string
}

// pgRequest is what the PG's Prepare and ValidatePrepare take.
func (req PrepareRequest) pgRequest() pg.PrepareRequest {
	return pg.PrepareRequest{
		OrderID: req.OrderID, OrderName: req.OrderName, Amount: req.Amount,
		CustomerID: req.CustomerID, Method: req.Method,
		SuccessURL: req.SuccessURL, CancelURL: req.CancelURL, FailURL: req.FailURL,
	}
}

// Checkout is a prepared checkout.
type Checkout struct {
	OrderID   string
	OrderName string
	Amount    pg.Money
	PG        string
	// Client is what the browser needs to open the PG window: the client
	// key (Toss), the redirect URLs and tid (KakaoPay), the signed form
	// fields (Inicis). Safe to send to the buyer.
	Client    map[string]string
	ExpiresAt time.Time
}

// prepareData is what a checkout stores of the PG's prepare step.
type prepareData struct {
	Client map[string]string `json:"client,omitempty"`
	Data   map[string]string `json:"data,omitempty"`
	// Request fingerprints the request that made the checkout.
	Request string `json:"request,omitempty"`
}

const maxOrderID = 64

// ValidateOrderID checks an order id the way Prepare and Approve do: 1 to 64
// bytes of UTF-8 without control characters. Hosts call it before writing
// anything of their own for the order.
func ValidateOrderID(id string) error {
	if id == "" || len(id) > maxOrderID || !utf8.ValidString(id) {
		return fmt.Errorf("%w: orderId must be 1 to %d bytes of UTF-8", ErrInvalid, maxOrderID)
	}
	for _, r := range id {
		if r < 0x20 || r == 0x7f {
			return fmt.Errorf("%w: orderId has control characters", ErrInvalid)
		}
	}
	return nil
}

// Prepare records the checkout (order id, amount, PG) and returns the PG's
// client parameters.
//
// A checkout is one payment attempt. While an order's attempt is open (not
// yet approved, declined, failed or expired), preparing the order again
// with the same request answers that attempt's parameters again, without
// asking the PG for a new session that would break the buyer's window; a
// different request is ErrConflict and changes nothing. Once the attempt
// ended (declined, failed or expired) a new one starts, through the same
// PG or another. The amount is the order's: another amount is always
// ErrConflict, and an order with an active or captured payment is
// ErrInProgress or ErrConflict.
func (p *Paygate) Prepare(ctx context.Context, req PrepareRequest) (*Checkout, error) {
	gw, err := p.checkPrepare(req)
	if err != nil {
		return nil, err
	}
	fp := requestFingerprint(req, gw.Name())

	existing, err := p.db.CheckoutByOrder(ctx, p.db.SQL(), req.OrderID)
	switch {
	case errors.Is(err, store.ErrNotFound):
		existing = nil
	case err != nil:
		return nil, err
	default:
		if !existing.Amount.Equal(req.Amount) {
			return nil, fmt.Errorf("%w: order %q was prepared for %s", ErrConflict, req.OrderID, existing.Amount)
		}
		if err := p.checkNoActivePayment(ctx, p.db.SQL(), req.OrderID); err != nil {
			return nil, err
		}
		open, err := p.attemptOpen(ctx, p.db.SQL(), existing)
		if err != nil {
			return nil, err
		}
		if open {
			if !sameAttempt(existing, req, gw.Name(), fp) {
				return nil, fmt.Errorf("%w: order %q has an open checkout with other details; pay it, or prepare again once it has ended", ErrConflict, req.OrderID)
			}
			return p.checkoutOf(existing)
		}
	}

	now := p.now()
	expires := now.Add(p.cfg.CheckoutTTL)
	pd := prepareData{Request: fp}
	if preparer, ok := gw.(pg.Preparer); ok {
		prepared, err := preparer.Prepare(ctx, req.pgRequest())
		p.report(gw.Name(), err)
		if err != nil {
			if pg.KindOf(err) == pg.KindInvalid {
				return nil, fmt.Errorf("%w: prepare at %s: %w", ErrInvalid, gw.Name(), err)
			}
			return nil, fmt.Errorf("%w: prepare at %s: %w", ErrPG, gw.Name(), err)
		}
		pd.Client, pd.Data = prepared.Client, prepared.Data
		if !prepared.ExpiresAt.IsZero() && prepared.ExpiresAt.Before(expires) {
			expires = prepared.ExpiresAt.UTC()
		}
	}
	if pd.Client == nil {
		pd.Client = map[string]string{}
	}
	if key := p.cfg.ClientKeys[gw.Name()]; key != "" {
		pd.Client["clientKey"] = key
	}
	raw, err := json.Marshal(pd)
	if err != nil {
		return nil, fmt.Errorf("paygate: prepare %q: %w", req.OrderID, err)
	}
	c := &store.Checkout{
		OrderID: req.OrderID, PG: gw.Name(), Amount: req.Amount, OrderName: req.OrderName,
		PrepareData: raw, ExpiresAt: expires,
	}
	err = p.db.InTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		if existing == nil {
			err := p.db.InsertCheckout(ctx, tx, c)
			if errors.Is(err, store.ErrDuplicate) {
				return fmt.Errorf("%w: order %q is being prepared by another request", ErrInProgress, req.OrderID)
			}
			return err
		}
		// Under the checkout's lock, which Approve takes too: the attempt
		// judged ended must still be the stored one, and no approval may
		// have claimed the order meanwhile, or the new session would
		// replace the one a payment is being approved with.
		locked, err := p.db.LockCheckout(ctx, tx, req.OrderID)
		if err != nil {
			return err
		}
		if !locked.UpdatedAt.Equal(existing.UpdatedAt) {
			return fmt.Errorf("%w: order %q is being prepared by another request", ErrInProgress, req.OrderID)
		}
		if err := p.checkNoActivePayment(ctx, tx, req.OrderID); err != nil {
			return err
		}
		return p.db.UpdateCheckout(ctx, tx, c)
	})
	if err != nil {
		return nil, err
	}
	return p.checkoutOf(c)
}

// requestFingerprint identifies what a checkout was asked for, so a repeated
// request can be told from a different one for the same order.
func requestFingerprint(req PrepareRequest, pgName string) string {
	raw, _ := json.Marshal([]string{
		pgName, req.OrderName, req.Amount.String(), string(req.Method), req.CustomerID,
		req.SuccessURL, req.CancelURL, req.FailURL,
	})
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
func (p *Paygate) attemptOpen(ctx context.Context, q store.Querier, c *store.Checkout) (bool, error) {
	if !c.ExpiresAt.IsZero() && !p.now().Before(c.ExpiresAt) {
		return false, nil
	}
	ps, err := p.db.PaymentsByOrder(ctx, q, c.OrderID)
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

// CheckPrepare validates a checkout the way Prepare does — order id, order
// name, amount, the PG and what it accepts — without writing anything or
// calling a PG, so a host can refuse bad input before writing anything of
// its own. It does not consult the router's circuits.
func (p *Paygate) CheckPrepare(req PrepareRequest) error {
	if _, err := p.validatePrepare(req, nil); err != nil {
		return err
	}
	if req.PG == "" {
		if p.cfg.Router == nil {
			return fmt.Errorf("%w: pg is required", ErrInvalid)
		}
		return nil // the router chooses at Prepare time
	}
	gw, err := p.gateway(req.PG)
	if err != nil {
		return err
	}
	_, err = p.validatePrepare(req, gw)
	return err
}

// checkPrepare validates req and chooses its gateway.
func (p *Paygate) checkPrepare(req PrepareRequest) (pg.Gateway, error) {
	if _, err := p.validatePrepare(req, nil); err != nil {
		return nil, err
	}
	gw, err := p.choose(req)
	if err != nil {
		return nil, err
	}
	return p.validatePrepare(req, gw)
}

// validatePrepare checks req on its own and, when gw is given, against
// what gw accepts.
func (p *Paygate) validatePrepare(req PrepareRequest, gw pg.Gateway) (pg.Gateway, error) {
	if err := ValidateOrderID(req.OrderID); err != nil {
		return nil, err
	}
	if req.OrderName == "" || utf8.RuneCountInString(req.OrderName) > 100 || !utf8.ValidString(req.OrderName) {
		return nil, fmt.Errorf("%w: orderName must be 1 to 100 characters", ErrInvalid)
	}
	if !req.Amount.IsSet() || !req.Amount.IsPositive() {
		return nil, fmt.Errorf("%w: amount must be positive", ErrInvalid)
	}
	if gw == nil {
		return nil, nil
	}
	caps := gw.Capabilities()
	if !caps.SupportsCurrency(req.Amount.Currency()) {
		return nil, fmt.Errorf("%w: %s does not take %s", ErrInvalid, gw.Name(), req.Amount.Currency())
	}
	if min := caps.MinAmount; min.IsSet() && min.Currency() == req.Amount.Currency() {
		if c, _ := req.Amount.Cmp(min); c < 0 {
			return nil, fmt.Errorf("%w: %s takes at least %s", ErrInvalid, gw.Name(), min)
		}
	}
	if v, ok := gw.(pg.PrepareValidator); ok {
		if err := v.ValidatePrepare(req.pgRequest()); err != nil {
			return nil, fmt.Errorf("%w: %s refuses this checkout: %w", ErrInvalid, gw.Name(), err)
		}
	}
	return gw, nil
}

func (p *Paygate) choose(req PrepareRequest) (pg.Gateway, error) {
	if p.cfg.Router == nil || req.PG != "" {
		if req.PG == "" {
			return nil, fmt.Errorf("%w: pg is required", ErrInvalid)
		}
		if p.cfg.Router != nil {
			gw, err := p.cfg.Router.Choose(pg.RouteRequest{PG: req.PG, Method: req.Method, Amount: req.Amount})
			if err != nil {
				return nil, routeError(err)
			}
			return gw, nil
		}
		return p.gateway(req.PG)
	}
	gw, err := p.cfg.Router.Choose(pg.RouteRequest{Method: req.Method, Amount: req.Amount})
	if err != nil {
		return nil, routeError(err)
	}
	return gw, nil
}

func routeError(err error) error {
	if errors.Is(err, pg.ErrCircuitOpen) {
		return fmt.Errorf("%w: %w", ErrPG, &pg.Error{PG: "router", Op: "prepare", Kind: pg.KindUnavailable, Message: err.Error()})
	}
	return fmt.Errorf("%w: %w", ErrInvalid, err)
}

// checkNoActivePayment refuses to touch an order that a payment holds, unless
// that payment has failed for good.
func (p *Paygate) checkNoActivePayment(ctx context.Context, q store.Querier, orderID string) error {
	id, err := p.db.OrderPayment(ctx, q, orderID)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	pay, err := p.db.PaymentByID(ctx, q, id)
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
