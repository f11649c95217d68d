package paygate

import (
	"context"
	"database/sql"
)

// ClaimTogether runs the claims of reqs as one group of the approve group
// (each request's claim decided on the group's one locking read, their
// writes committed together), for tests that must know a group formed.
// It returns the group's error and, when the group committed, each
// request's refusal (nil for a claimed order or one answered with its
// payment) and the payment that answers it.
func ClaimTogether(ctx context.Context, p *Paygate, reqs ...ApproveRequest) (refused []error, paymentIDs []string, err error) {
	cs := make([]*approveClaim, len(reqs))
	for i, r := range reqs {
		cs[i] = &approveClaim{ctx: ctx, req: r}
	}
	err = p.db.InTx(ctx, func(ctx context.Context, tx *sql.Tx) error { return p.claimTogether(ctx, tx, cs) })
	if err != nil {
		return nil, nil, err
	}
	for _, c := range cs {
		refused = append(refused, c.refused)
		switch {
		case c.pay != nil:
			paymentIDs = append(paymentIDs, c.pay.ID)
		case c.existing != nil:
			paymentIDs = append(paymentIDs, c.existing.ID)
		default:
			paymentIDs = append(paymentIDs, "")
		}
	}
	return refused, paymentIDs, nil
}
