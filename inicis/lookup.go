package inicis

import (
	"context"

	"github.com/paygate/paygate/pg"
)

// Lookup asks INIAPI v2 inquiry for the payment, by tid when known (the
// request's key or the stored "tid"), otherwise by our order id. A tid or
// order id in the answer that is not the one asked for, or another merchant's
// record, is refused rather than trusted.
func (g *Gateway) Lookup(ctx context.Context, req pg.LookupRequest) (*pg.Payment, error) {
	const op = "lookup"
	data := inquiryData{TID: tidOf(req.PaymentKey, req.Prepared)}
	if data.TID != "" {
		if err := checkTID(op, data.TID); err != nil {
			return nil, err
		}
	} else {
		if req.OrderID == "" {
			return nil, invalid(op, "payment key (tid) or order id is required")
		}
		if err := checkOID(op, req.OrderID); err != nil {
			return nil, err
		}
		data.OID = req.OrderID
	}
	f, err := g.callAPI(ctx, op, typeInquiry, apiInquiry, data)
	if err != nil {
		return nil, err
	}
	p, err := parseInquiry(f)
	if err != nil {
		return nil, err
	}
	switch {
	case data.TID != "" && p.PaymentKey != data.TID:
		return nil, invalid(op, "inquiry answered for tid %q, asked %q", p.PaymentKey, data.TID)
	case req.OrderID != "" && p.OrderID != "" && p.OrderID != req.OrderID:
		return nil, invalid(op, "inquiry answered for order %q, asked %q", p.OrderID, req.OrderID)
	case p.Data["mid"] != "" && p.Data["mid"] != g.cfg.MID:
		return nil, invalid(op, "inquiry answered for merchant %q", p.Data["mid"])
	}
	return p, nil
}
