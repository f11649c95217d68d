package paygate_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/paygate/paygate"
	"github.com/paygate/paygate/pg"
	"github.com/paygate/paygate/store"
	"github.com/paygate/paygate/store/storetest"
)

// Approvals that arrive while a claim waits on a lock are claimed together
// (in the lane a stalled group opens, or after it): each answers exactly
// as it would alone —
// a refused one (another amount) writes nothing and the others' claims
// commit, two approvals of one order in the queue still make one payment,
// and every order keeps the invariants.
func TestApprove_QueuedClaimsTogether_EachAnsweredAsAlone(t *testing.T) {
	t.Parallel()
	db := storetest.Open(t, store.MySQL)
	f := newFlow(t, db, newInicis(t))
	ctx := context.Background()
	id := func(s string) string { return fmt.Sprintf("grp-%s-%d", s, time.Now().UnixNano()) }
	first, refused, a, b, twice := id("first"), id("refused"), id("a"), id("b"), id("twice")
	reqs := map[string]paygate.ApproveRequest{}
	for _, o := range []string{first, refused, a, b, twice} {
		reqs[o] = f.checkout(o, 21000, "")
	}
	wrong := reqs[refused]
	wrong.Amount = pg.Won(1000)
	reqs[refused] = wrong

	// Hold the first order's checkout so that its claim, the group's
	// worker, waits while the others arrive.
	lock, err := db.SQL().BeginTx(ctx, nil)
	require.NoError(t, err)
	_, err = lock.ExecContext(ctx, "SELECT order_id FROM checkouts WHERE order_id = ? FOR UPDATE", first)
	require.NoError(t, err)

	type answer struct {
		res *paygate.ApproveResult
		err error
	}
	var mu sync.Mutex
	answers := map[string][]answer{}
	var wg sync.WaitGroup
	approve := func(order string) {
		wg.Go(func() {
			res, err := f.p.Approve(ctx, reqs[order])
			mu.Lock()
			answers[order] = append(answers[order], answer{res, err})
			mu.Unlock()
		})
	}
	approve(first)
	time.Sleep(100 * time.Millisecond) // the first claim waits on the lock
	for _, o := range []string{refused, a, b, twice, twice} {
		approve(o)
	}
	time.Sleep(200 * time.Millisecond) // the others are claimed meanwhile
	require.NoError(t, lock.Commit())
	wg.Wait()

	for _, o := range []string{first, a, b} {
		require.Len(t, answers[o], 1)
		require.NoError(t, answers[o][0].err, o)
		assert.Equal(t, pg.StatusApproved, answers[o][0].res.Status, o)
	}
	require.Len(t, answers[refused], 1)
	require.ErrorIs(t, answers[refused][0].err, paygate.ErrAmountMismatch)
	ps, err := db.PaymentsByOrder(ctx, refused)
	require.NoError(t, err)
	assert.Empty(t, ps, "a refused claim writes nothing")

	// One of the two approvals of one order made the payment; the other
	// was answered in progress or with that payment.
	require.Len(t, answers[twice], 2)
	var approved int
	for _, an := range answers[twice] {
		switch {
		case an.err == nil:
			approved++
		default:
			require.ErrorIs(t, an.err, paygate.ErrInProgress)
		}
	}
	require.GreaterOrEqual(t, approved, 1)
	ps, err = db.PaymentsByOrder(ctx, twice)
	require.NoError(t, err)
	require.Len(t, ps, 1, "one payment for the order approved twice at once")

	for _, o := range []string{first, a, b, twice} {
		ps, err := db.PaymentsByOrder(ctx, o)
		require.NoError(t, err)
		require.Len(t, ps, 1, o)
		f.settled(ps[0].ID)
		f.checkInvariants(o)
	}
}

// A group of claims decides each on the group's one read: a refusal beside
// a new claim leaves the claim be and writes nothing of its own; an order
// claimed before is answered with its payment; two claims of one order
// send the group to run alone (nothing of it is written); rows that collide
// only at the commit roll the whole group back. Both dialects.
func TestClaimTogether_EachClaimDecidedAsAlone(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		t.Parallel()
		f := newFlow(t, db, newInicis(t))
		ctx := context.Background()
		id := func(s string) string { return fmt.Sprintf("tog-%s-%d", s, time.Now().UnixNano()) }
		claimed, fresh, refused, other := id("claimed"), id("fresh"), id("refused"), id("other")
		reqs := map[string]paygate.ApproveRequest{}
		for _, o := range []string{claimed, fresh, refused, other} {
			reqs[o] = f.checkout(o, 33000, "")
		}
		res, err := f.p.Approve(ctx, reqs[claimed])
		require.NoError(t, err)
		wrong := reqs[refused]
		wrong.Amount = pg.Won(1)

		refusals, ids, err := paygate.ClaimTogether(ctx, f.p, reqs[claimed], reqs[fresh], wrong)
		require.NoError(t, err)
		assert.NoError(t, refusals[0])
		assert.Equal(t, res.PaymentID, ids[0], "answered with the order's payment")
		assert.NoError(t, refusals[1])
		require.NotEmpty(t, ids[1])
		require.ErrorIs(t, refusals[2], paygate.ErrAmountMismatch)
		assert.Empty(t, ids[2])
		ps, err := db.PaymentsByOrder(ctx, fresh)
		require.NoError(t, err)
		require.Len(t, ps, 1)
		assert.Equal(t, ids[1], ps[0].ID)
		assert.Equal(t, pg.StatusApproving, ps[0].Status, "claimed; the PG call follows the claim")
		ps, err = db.PaymentsByOrder(ctx, refused)
		require.NoError(t, err)
		assert.Empty(t, ps)

		// Two claims of one order: the group runs alone, nothing written.
		_, _, err = paygate.ClaimTogether(ctx, f.p, reqs[other], reqs[other])
		require.Error(t, err)
		ps, err = db.PaymentsByOrder(ctx, other)
		require.NoError(t, err)
		assert.Empty(t, ps)

		// Rows that collide only at the commit (two orders' claims naming
		// one PG key, which neither read found) roll the whole group back.
		third := id("third")
		reqs[third] = f.checkout(third, 33000, "")
		a, b := reqs[other], reqs[third]
		a.PaymentKey, b.PaymentKey = "pk-"+other, "pk-"+other
		_, _, err = paygate.ClaimTogether(ctx, f.p, a, b)
		require.ErrorIs(t, err, store.ErrDuplicate)
		for _, o := range []string{other, third} {
			ps, err = db.PaymentsByOrder(ctx, o)
			require.NoError(t, err)
			assert.Empty(t, ps, o)
		}
	})
}
