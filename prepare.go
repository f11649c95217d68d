package paygate

import (
	"bytes"
	"context"
	"database/sql"
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
	// Device is where the buyer pays (pg.DevicePC, pg.DeviceMobile,
	// pg.DeviceApp); empty means pg.DevicePC. The checkout's Client holds
	// the window for that device.
	Device pg.Device
	// Where the PG sends the buyer back (PGs with a server-side prepare).
	SuccessURL, CancelURL, FailURL string
}

// pgRequest is what the PG's Prepare and ValidatePrepare take.
func (req PrepareRequest) pgRequest() pg.PrepareRequest {
	return pg.PrepareRequest{
		OrderID: req.OrderID, OrderName: req.OrderName, Amount: req.Amount,
		CustomerID: req.CustomerID, Method: req.Method, Device: req.Device.OrPC(),
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

	if _, calls := gw.(pg.Preparer); !calls {
		// Nothing to ask the PG: try the new order's insert first, which
		// the order id's unique key guards, and read what is there only
		// when a checkout exists.
		c, err := p.newCheckout(gw, req, prepareData{Request: fp}, p.now().Add(p.cfg.CheckoutTTL))
		if err != nil {
			return nil, err
		}
		err = p.insertCheckout(ctx, c)
		switch {
		case err == nil:
			return p.checkoutOf(c)
		case !errors.Is(err, store.ErrDuplicate):
			return nil, err
		}
	}

	existing, err := p.db.CheckoutByOrder(ctx, req.OrderID)
	switch {
	case errors.Is(err, store.ErrNotFound):
		existing = nil
	case err != nil:
		return nil, err
	default:
		if !existing.Amount.Equal(req.Amount) {
			return nil, fmt.Errorf("%w: order %q was prepared for %s", ErrConflict, req.OrderID, existing.Amount)
		}
		if err := p.checkNoActivePayment(ctx, nil, req.OrderID); err != nil {
			return nil, err
		}
		open, err := p.attemptOpen(ctx, existing)
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
		prepared, err := observePG(ctx, p.tel, gw.Name(), "prepare", func(*pg.Prepared) string { return "" },
			func(ctx context.Context) (*pg.Prepared, error) { return preparer.Prepare(ctx, req.pgRequest()) })
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
	c, err := p.newCheckout(gw, req, pd, expires)
	if err != nil {
		return nil, err
	}
	// written reports whether the stored checkout is the one this call
	// writes: an earlier attempt of this transaction whose commit landed
	// although its answer was lost (a killed connection), or an identical
	// request's, whose parameters are these same ones.
	written := func(stored *store.Checkout) bool {
		return stored.PG == c.PG && stored.Amount.Equal(c.Amount) && stored.OrderName == c.OrderName &&
			bytes.Equal(stored.PrepareData, c.PrepareData)
	}
	saved := c
	err = p.db.InTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		saved = c
		if existing == nil {
			err := p.db.InsertCheckout(ctx, tx, c)
			if errors.Is(err, store.ErrDuplicate) {
				if stored, rerr := p.db.LockCheckout(ctx, tx, req.OrderID); rerr == nil && written(stored) {
					saved = stored
					return nil
				}
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
			if written(locked) {
				saved = locked
				return nil
			}
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
	return p.checkoutOf(saved)
}

// newCheckout is the checkout a Prepare writes, with what the PG's prepare
// (if any) returned in pd.
func (p *Paygate) newCheckout(gw pg.Gateway, req PrepareRequest, pd prepareData, expires time.Time) (*store.Checkout, error) {
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
	return &store.Checkout{
		OrderID: req.OrderID, PG: gw.Name(), Amount: req.Amount, OrderName: req.OrderName,
		PrepareData: raw, ExpiresAt: expires,
	}, nil
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
	if !req.Device.Valid() {
		return nil, fmt.Errorf("%w: device must be %s, %s or %s", ErrInvalid, pg.DevicePC, pg.DeviceMobile, pg.DeviceApp)
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
