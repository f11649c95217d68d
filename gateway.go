package paygate

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/paygate/paygate/pg"
	"github.com/paygate/paygate/saga"
	"github.com/paygate/paygate/store"
)

func (p *Paygate) gateway(name string) (pg.Gateway, error) {
	gw, err := p.cfg.Gateways.Get(name)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	return gw, nil
}

// report tells the router how a PG call went.
func (p *Paygate) report(name string, err error) {
	if p.cfg.Router != nil {
		p.cfg.Router.Report(name, err)
	}
}

// lookup asks the PG for a payment by its key, or by our order id.
func (p *Paygate) lookup(ctx context.Context, pay *store.Payment, paymentKey string) (*pg.Payment, error) {
	gw, err := p.gateway(pay.PG)
	if err != nil {
		return nil, saga.Permanent(err)
	}
	prepared, err := p.prepared(ctx, pay)
	if err != nil {
		return nil, err
	}
	key := pay.PaymentKey
	if key == "" {
		key = paymentKey
	}
	res, err := p.traced(gw).Lookup(ctx, pg.LookupRequest{PaymentKey: key, OrderID: pay.OrderID, Prepared: prepared})
	p.report(pay.PG, err)
	if err != nil {
		return nil, err
	}
	if res.OrderID != "" && res.OrderID != pay.OrderID {
		return nil, saga.Permanent(fmt.Errorf("paygate: lookup of %s returned order %q", pay.ID, res.OrderID))
	}
	return res, nil
}

// prepared merges the checkout's prepare data with the adapter data recorded
// from the PG's answers, for Approve, Cancel and Lookup requests.
func (p *Paygate) prepared(ctx context.Context, pay *store.Payment) (map[string]string, error) {
	out := map[string]string{}
	c := knownCheckout(ctx, pay.OrderID)
	var err error
	if c == nil {
		c, err = p.db.CheckoutByOrder(ctx, pay.OrderID)
	}
	switch {
	case errors.Is(err, store.ErrNotFound):
	case err != nil:
		return nil, err
	default:
		var pd prepareData
		if len(c.PrepareData) > 0 {
			if err := json.Unmarshal(c.PrepareData, &pd); err != nil {
				return nil, fmt.Errorf("paygate: checkout %q: %w", c.OrderID, err)
			}
		}
		for k, v := range pd.Data {
			out[k] = v
		}
	}
	var d pgData
	if len(pay.PGData) > 0 {
		if err := json.Unmarshal(pay.PGData, &d); err != nil {
			return nil, fmt.Errorf("paygate: payment %s pg data: %w", pay.ID, err)
		}
	}
	for k, v := range d.Data {
		out[k] = v
	}
	return out, nil
}
