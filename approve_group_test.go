package paygate_test

import (
	"context"
	"database/sql"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/paygate/paygate"
	"github.com/paygate/paygate/pg"
	"github.com/paygate/paygate/pg/pgtest"
	"github.com/paygate/paygate/store"
	"github.com/paygate/paygate/store/storetest"
)

// Approvals that arrive while every claim worker is busy are claimed in
// groups, and each still gets the answer it would have got alone: a new
// order approved once; a wrong amount or an order never prepared refused
// with nothing written; identical requests at once answered with one
// payment or told it is in progress; every order with exactly one payment.
// The workers are held by a transaction the test keeps open over every
// checkout (MySQL) or the one writer (SQLite) until every request is in.
func TestApprove_ClaimsInGroups_EachAnsweredAsAlone(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		t.Parallel()
		f := newFlow(t, db, newTossPay(t))
		var biggest atomic.Int64
		paygate.OnClaimGroup(f.p, func(n int) {
			for {
				b := biggest.Load()
				if int64(n) <= b || biggest.CompareAndSwap(b, int64(n)) {
					return
				}
			}
		})
		ctx := context.Background()

		type call struct {
			kind string // new, twice, amount, none
			req  paygate.ApproveRequest
		}
		var calls []call
		for i := range 12 {
			calls = append(calls, call{"new", f.checkout(fmt.Sprintf("ord-grp-new-%d", i), int64(10_000+100*i), pgtest.FaultNone)})
		}
		for i := range 4 {
			req := f.checkout(fmt.Sprintf("ord-grp-twice-%d", i), 20_000, pgtest.FaultNone)
			calls = append(calls, call{"twice", req}, call{"twice", req})
		}
		for i := range 3 {
			req := f.checkout(fmt.Sprintf("ord-grp-amount-%d", i), 30_000, pgtest.FaultNone)
			req.Amount = pg.Won(3_000)
			calls = append(calls, call{"amount", req})
		}
		for i := range 3 {
			calls = append(calls, call{"none", paygate.ApproveRequest{PG: f.pg.name, OrderID: fmt.Sprintf("ord-grp-none-%d", i), Amount: pg.Won(5_000)}})
		}

		held, release := make(chan struct{}), make(chan struct{})
		holder := make(chan error, 1)
		go func() {
			holder <- db.InTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
				if db.Dialect() == store.MySQL {
					rows, err := tx.QueryContext(ctx, `SELECT order_id FROM checkouts WHERE order_id LIKE 'ord-grp-%' FOR UPDATE`)
					if err != nil {
						return err
					}
					if err := rows.Close(); err != nil {
						return err
					}
				}
				close(held)
				<-release
				return nil
			})
		}()
		<-held
		results := make([]*paygate.ApproveResult, len(calls))
		errs := make([]error, len(calls))
		var wg sync.WaitGroup
		for i, c := range calls {
			wg.Go(func() { results[i], errs[i] = f.p.Approve(ctx, c.req) })
		}
		// Every request submitted meanwhile: the claim workers wait (for
		// the locks, a connection or the writer) and the rest queue.
		time.Sleep(300 * time.Millisecond)
		close(release)
		require.NoError(t, <-holder)
		wg.Wait()

		byOrder := map[string][]int{}
		for i, c := range calls {
			byOrder[c.req.OrderID] = append(byOrder[c.req.OrderID], i)
		}
		for order, idx := range byOrder {
			kind := calls[idx[0]].kind
			ps, err := db.PaymentsByOrder(ctx, order)
			require.NoError(t, err)
			switch kind {
			case "new":
				require.NoError(t, errs[idx[0]], order)
				assert.Equal(t, pg.StatusApproved, results[idx[0]].Status, order)
				assert.Len(t, ps, 1, order)
			case "twice":
				var paid string
				for _, i := range idx {
					if errs[i] != nil {
						assert.ErrorIs(t, errs[i], paygate.ErrInProgress, order)
						continue
					}
					assert.Equal(t, pg.StatusApproved, results[i].Status, order)
					if paid != "" {
						assert.Equal(t, paid, results[i].PaymentID, "%s: one payment answers both", order)
					}
					paid = results[i].PaymentID
				}
				assert.NotEmpty(t, paid, "%s: one of the two approved", order)
				assert.Len(t, ps, 1, order)
			case "amount":
				assert.ErrorIs(t, errs[idx[0]], paygate.ErrAmountMismatch, order)
				assert.Empty(t, ps, order)
			case "none":
				assert.ErrorIs(t, errs[idx[0]], paygate.ErrNotFound, order)
				assert.Empty(t, ps, order)
			}
		}
		assert.Greater(t, biggest.Load(), int64(1), "claims ran in a group")
		for order, idx := range byOrder {
			if k := calls[idx[0]].kind; k == "new" || k == "twice" {
				ps, err := db.PaymentsByOrder(ctx, order)
				require.NoError(t, err)
				f.settled(ps[0].ID)
				f.checkInvariants(order)
			}
		}
	})
}
