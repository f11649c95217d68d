package paygate

import (
	"context"
	"database/sql"
)

// OnClaimGroup calls fn with the number of claims in every group of
// approvals' claims that runs together. Call it before p takes approvals.
func OnClaimGroup(p *Paygate, fn func(n int)) {
	together := p.claims.Together
	p.claims.Together = func(ctx context.Context, tx *sql.Tx, as []*approveClaim) error {
		fn(len(as))
		return together(ctx, tx, as)
	}
}
