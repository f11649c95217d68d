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

// The same checkout request sent twice at once — or one whose commit
// landed while its answer was lost, so its transaction ran again and met
// its own row — answers the one checkout to both, never "being prepared by
// another request". (Found by the chaos harness killing the servers'
// connections: a checkout answered 409 IN_PROGRESS to the only request.)
// Toss: its checkout's parameters are the request's own, so two identical
// requests write the same checkout (KakaoPay and Inicis open or sign a
// session of their own per request, so a second request at the same moment
// is another checkout, and still IN_PROGRESS).
func TestPrepare_IdenticalRequestsAtOnce_BothAnsweredTheSameCheckout(t *testing.T) {
	for _, spg := range sandboxPGs {
		if spg.name != "tosspay" {
			continue
		}
		t.Run(spg.name, func(t *testing.T) {
			t.Parallel()
			storetest.Each(t, func(t *testing.T, db *store.DB) {
				f := newFlow(t, db, spg.make(t))
				for i := range 20 {
					req := paygate.PrepareRequest{OrderID: fmt.Sprintf("race-%s-%d", spg.name, i), OrderName: "test order",
						Amount: pg.Won(12000), PG: f.pg.name, SuccessURL: "https://shop.example/pay/success",
						CancelURL: "https://shop.example/pay/cancel", FailURL: "https://shop.example/pay/fail"}
					var wg sync.WaitGroup
					out := make([]*paygate.Checkout, 2)
					errs := make([]error, 2)
					for j := range 2 {
						wg.Go(func() { out[j], errs[j] = f.p.Prepare(context.Background(), req) })
					}
					wg.Wait()
					require.NoError(t, errs[0])
					require.NoError(t, errs[1])
					// One checkout: the same parameters, expiring at the
					// same moment (one of them as stored, to the µs).
					assert.WithinDuration(t, out[0].ExpiresAt, out[1].ExpiresAt, time.Microsecond)
					out[0].ExpiresAt = out[1].ExpiresAt
					assert.Equal(t, out[0], out[1])
				}
			})
		})
	}
}
