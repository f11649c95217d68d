package paygate_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/paygate/paygate"
	"github.com/paygate/paygate/pg"
	"github.com/paygate/paygate/pg/pgtest"
	"github.com/paygate/paygate/store"
	"github.com/paygate/paygate/store/storetest"
)

// slowPG is a PG whose lookups do not show an approval yet (it is still
// processing it) until shown is set.
type slowPG struct {
	pg.Gateway
	shown *atomic.Bool
}

func (g slowPG) Lookup(ctx context.Context, req pg.LookupRequest) (*pg.Payment, error) {
	if !g.shown.Load() {
		return nil, &pg.Error{PG: g.Name(), Op: "lookup", Kind: pg.KindNotFound, Code: "NOT_FOUND", Message: "no such payment yet"}
	}
	return g.Gateway.Lookup(ctx, req)
}

type slowPreparingPG struct {
	slowPG
	prep pg.Preparer
}

func (g slowPreparingPG) Prepare(ctx context.Context, req pg.PrepareRequest) (*pg.Prepared, error) {
	return g.prep.Prepare(ctx, req)
}

func slowed(gw pg.Gateway, shown *atomic.Bool) pg.Gateway {
	s := slowPG{Gateway: gw, shown: shown}
	if prep, ok := gw.(pg.Preparer); ok {
		return slowPreparingPG{slowPG: s, prep: prep}
	}
	return s
}

// An approval whose answer was lost and that lookups showed unapproved is
// written off after SettleDelay; when the PG then reports it captured, the
// capture is recorded as its own event and ledger sale, refunded at the PG
// automatically, and an alert is raised. It is never ignored, and never
// adopted as the order's payment.
func TestLateCapture_AfterWriteOff_RecordedAndRefunded(t *testing.T) {
	t.Run("notified", func(t *testing.T) { lateCaptureScenario(t, false) })
	t.Run("synced", func(t *testing.T) { lateCaptureScenario(t, true) })
}

// lateCaptureScenario reports the late capture as a notification would, or
// lets the periodic sync's lookup find it (KakaoPay and Inicis send no
// notification for it).
func lateCaptureScenario(t *testing.T, bySync bool) {
	for _, spg := range sandboxPGs {
		t.Run(spg.name, func(t *testing.T) {
			t.Parallel()
			storetest.Each(t, func(t *testing.T, db *store.DB) {
				ctx := context.Background()
				s := spg.make(t)
				real := s.gateway
				shown := &atomic.Bool{}
				s.gateway = slowed(s.gateway, shown)
				f := newFlow(t, db, s)

				res, err := f.p.Approve(ctx, f.checkout("ord-late", 17000, pgtest.FaultTimeout))
				require.NoError(t, err)
				require.Equal(t, pg.StatusUnknown, res.Status)
				f.settled(res.PaymentID)
				require.Equal(t, pg.StatusFailed, f.payment(res.PaymentID).Status, "written off after SettleDelay")
				f.eventually("the written-off payment to be on the lookup schedule", func() bool {
					_, err := f.db.SyncOf(ctx, res.PaymentID)
					return err == nil
				})
				alertsBefore := f.alerts.Load()

				// The PG's view, as a lookup (or the notification it sends)
				// reports it: captured.
				shown.Store(true)
				news, err := real.Lookup(ctx, pg.LookupRequest{OrderID: "ord-late", Prepared: checkoutData(t, f, "ord-late")})
				require.NoError(t, err)
				require.Equal(t, pg.StatusApproved, news.Status)
				for range 2 { // reported twice: one effect
					if bySync {
						_, err := f.p.SyncPayment(ctx, res.PaymentID)
						require.NoError(t, err)
						continue
					}
					require.NoError(t, f.db.InTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
						return f.p.ApplyWebhook(ctx, tx, pg.WebhookEvent{
							PG: f.pg.name, Type: pg.WebhookPaymentStatus, DedupKey: "late", OrderID: "ord-late",
							PaymentKey: news.PaymentKey, Status: news.Status, Amount: news.Amount, Payment: news,
						})
					}))
				}
				f.settled(res.PaymentID)

				v := f.payment(res.PaymentID)
				assert.Equal(t, pg.StatusFailed, v.Status, "the written-off payment is not adopted")
				assert.True(t, v.CanceledAmount.Equal(pg.Won(17000)), "refunded in full: %s", v.CanceledAmount)
				types := f.eventTypes(res.PaymentID)
				assert.Contains(t, types, paygate.EventPaymentLateCaptured)
				assert.Contains(t, types, paygate.EventPaymentRefunded)
				late := 0
				for _, typ := range types {
					if typ == paygate.EventPaymentLateCaptured {
						late++
					}
				}
				assert.Equal(t, 1, late, "the capture is recorded once")
				entry, _ := f.ledgerEntry("ord-late")
				assert.Equal(t, 1, entry.Cancels, "refunded once at the PG")
				assert.Greater(t, f.alerts.Load(), alertsBefore, "the operators are alerted")
				paidBy, creates, _ := f.shop.state("ord-late")
				assert.Empty(t, paidBy)
				assert.Zero(t, creates)
				f.checkInvariants("ord-late")
			})
		})
	}
}

// checkoutData is the PG session data of the order's checkout.
func checkoutData(t *testing.T, f *flow, orderID string) map[string]string {
	t.Helper()
	c, err := f.db.CheckoutByOrder(context.Background(), orderID)
	require.NoError(t, err)
	var pd struct {
		Data map[string]string `json:"data"`
	}
	if len(c.PrepareData) > 0 {
		require.NoError(t, json.Unmarshal(c.PrepareData, &pd))
	}
	return pd.Data
}

// A payment the PG declined for good is never put on the lookup schedule:
// nothing can be captured later.
func TestDeclined_NotScheduledForLookups(t *testing.T) {
	eachPG(t, func(t *testing.T, f *flow) {
		ctx := context.Background()
		res, err := f.p.Approve(ctx, f.checkout("ord-declined-sync", 4000, pgtest.FaultDecline))
		require.NoError(t, err)
		require.Equal(t, pg.StatusFailed, res.Status)
		f.settled(res.PaymentID)
		_, err = f.db.SyncOf(ctx, res.PaymentID)
		require.ErrorIs(t, err, store.ErrNotFound)
	})
}
