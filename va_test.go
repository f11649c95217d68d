package paygate_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/paygate/paygate"
	"github.com/paygate/paygate/inicis"
	"github.com/paygate/paygate/inicis/inicistest"
	"github.com/paygate/paygate/pg"
	"github.com/paygate/paygate/pg/pgtest"
	"github.com/paygate/paygate/saga"
	"github.com/paygate/paygate/store"
	"github.com/paygate/paygate/store/storetest"
	"github.com/paygate/paygate/store/webhookstore"
	"github.com/paygate/paygate/tosspay"
	"github.com/paygate/paygate/tosspay/tosspaytest"
	"github.com/paygate/paygate/webhook"
)

// vaPG is a PG that issues virtual accounts and notifies their deposits.
type vaPG struct {
	sandboxPG
	payVA   func(ctx context.Context, req pgtest.PayRequest) (pgtest.PayResult, error)
	deposit func(ctx context.Context, orderID string) error
}

// intakeServer serves the webhook intake once its handler is set, so a
// sandbox can be told its address before paygate exists.
type intakeServer struct {
	*httptest.Server
	h atomic.Value // http.Handler
}

func newIntakeServer(t *testing.T) *intakeServer {
	s := &intakeServer{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h, _ := s.h.Load().(http.Handler)
		if h == nil {
			http.Error(w, "not ready", http.StatusServiceUnavailable)
			return
		}
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *intakeServer) mount(t *testing.T, db *store.DB, f *flow) {
	reg, err := pg.NewRegistry(f.pg.gateway)
	require.NoError(t, err)
	in, err := webhook.New(webhook.Config{
		Registry: reg, Store: webhookstore.New(db), Effect: f.p.ApplyWebhook, Secret: f.p.WebhookSecret,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	require.NoError(t, err)
	mux := http.NewServeMux()
	mux.Handle("POST /webhooks/{pg}", in)
	s.h.Store(http.Handler(mux))
}

func vaPGs(t *testing.T, hooks string) []vaPG {
	toss := tosspaytest.NewServer(tosspaytest.Config{
		WebhookURL: hooks + "/webhooks/tosspay", WebhookSchedule: []time.Duration{50 * time.Millisecond, 100 * time.Millisecond, 200 * time.Millisecond},
	})
	t.Cleanup(toss.Close)
	tgw, err := tosspay.New(tosspay.Config{SecretKey: toss.SecretKey(), BaseURL: toss.URL, Timeout: time.Second})
	require.NoError(t, err)

	ini := inicistest.NewServer(inicistest.Config{WebhookURL: hooks + "/webhooks/inicis"})
	t.Cleanup(ini.Close)
	igw, err := inicis.New(ini.GatewayConfig())
	require.NoError(t, err)

	return []vaPG{
		{
			sandboxPG: sandboxPG{name: tgw.Name(), gateway: tgw, sandbox: toss},
			payVA:     toss.PayVirtualAccount,
			deposit:   toss.Deposit,
		},
		{
			sandboxPG: sandboxPG{name: igw.Name(), gateway: igw, sandbox: ini},
			payVA:     ini.PayVirtualAccount,
			deposit:   ini.Deposit,
		},
	}
}

// A virtual account: the approval issues it (WAITING_FOR_DEPOSIT, no
// order yet); the PG's deposit notification settles the payment and the
// saga carries on to the order and the ledger, once however often the
// notification arrives. On a phone too: Toss's one window, and INIpay
// Mobile, whose deposit is notified to P_NOTI_URL with P_* fields.
func TestVirtualAccount_DepositNotificationContinuesTheSaga(t *testing.T) {
	for _, tc := range []struct {
		name   string
		device pg.Device
	}{{"tosspay", ""}, {"inicis", ""}, {"tosspay", pg.DeviceMobile}, {"inicis", pg.DeviceMobile}, {"inicis", pg.DeviceApp}} {
		name, device := tc.name, tc.device
		t.Run(name+"/"+string(device.OrPC()), func(t *testing.T) {
			t.Parallel()
			storetest.Each(t, func(t *testing.T, db *store.DB) {
				hooks := newIntakeServer(t)
				var va vaPG
				for _, v := range vaPGs(t, hooks.URL) {
					if v.name == name {
						va = v
					}
				}
				f := newFlow(t, db, va.sandboxPG, func(c *paygate.Config) {
					// The deposit, not the resolve schedule, must settle it.
					c.ResolveRetry.InitialBackoff, c.ResolveRetry.MaxBackoff = time.Minute, time.Hour
				})
				hooks.mount(t, db, f)
				ctx := context.Background()

				const orderID = "order-va-0001"
				_, err := f.p.Prepare(ctx, paygate.PrepareRequest{OrderID: orderID, OrderName: "va", Amount: pg.Won(25000), PG: name,
					Method: pg.MethodVirtualAccount, Device: device, SuccessURL: "https://shop.example/return"})
				require.NoError(t, err)
				redirect, err := va.payVA(ctx, pgtest.PayRequest{OrderID: orderID, Amount: pg.Won(25000), Device: device})
				require.NoError(t, err)
				res, err := f.p.Approve(ctx, paygate.ApproveRequest{PG: name, OrderID: orderID, Amount: pg.Won(25000),
					PaymentKey: redirect.PaymentKey, Redirect: redirect.Redirect})
				require.NoError(t, err)
				require.Equal(t, pg.StatusWaitingForDeposit, res.Status)
				_, creates, _ := f.shop.state(orderID)
				assert.Zero(t, creates, "no order before the money arrives")

				require.NoError(t, va.deposit(ctx, orderID))
				f.eventually("the deposit to create the order", func() bool {
					paidBy, _, _ := f.shop.state(orderID)
					return paidBy == res.PaymentID
				})
				f.settled(res.PaymentID)
				assert.Equal(t, pg.StatusApproved, f.payment(res.PaymentID).Status)
				assert.Contains(t, f.eventTypes(res.PaymentID), paygate.EventWebhookReceived)
				_, creates, _ = f.shop.state(orderID)
				assert.Equal(t, 1, creates)
				if name == "inicis" {
					// Inicis delivers the same notice again (it did not
					// see the OK, say): answered OK, no second effect.
					require.NoError(t, va.deposit(ctx, orderID))
					f.settled(res.PaymentID)
					received := 0
					for _, typ := range f.eventTypes(res.PaymentID) {
						if typ == paygate.EventWebhookReceived {
							received++
						}
					}
					assert.Equal(t, 1, received, "one effect of a notice delivered twice")
					_, creates, _ = f.shop.state(orderID)
					assert.Equal(t, 1, creates)
				}
				f.checkInvariants(orderID)
			})
		})
	}
}

// A refund whose answer was lost is completed by the PG's notification
// before the saga looks it up: the payment records PAYMENT_REFUNDED (not a
// plain cancel), once, and the woken saga finishes the compensation.
func TestRefund_CompletedByNotificationFirst_RecordedAsRefundOnce(t *testing.T) {
	eachPGTweaked(t, func(c *paygate.Config) {
		c.RefundRetry.InitialBackoff, c.RefundRetry.MaxBackoff = time.Hour, time.Hour
	}, func(t *testing.T, f *flow) {
		ctx := context.Background()
		const orderID = "order-refund-race"
		f.shop.permanent[orderID] = true
		release := f.shop.hold(orderID)
		res, err := f.p.Approve(ctx, f.checkout(orderID, 14000, pgtest.FaultNone))
		require.NoError(t, err)
		// Twice: Toss's adapter resends a lost cancel once under the same
		// Idempotency-Key; both answers must be lost for the outcome to
		// stay unknown.
		f.failRefund(orderID, pgtest.FaultTimeout)
		f.failRefund(orderID, pgtest.FaultTimeout)
		release()

		var cancelID string
		f.eventually("the refund's answer to be lost", func() bool {
			v := f.payment(res.PaymentID)
			if len(v.Cancels) == 1 && v.Cancels[0].Status == "UNKNOWN" {
				cancelID = v.Cancels[0].CancelID
				return true
			}
			return false
		})
		// The cancel is marked UNKNOWN before the runner records the
		// attempt and lets go of the saga; a notification applied while the
		// runner still holds it cannot wake it (Wake leaves leased sagas
		// alone), and the saga would wait out its hour-long backoff.
		f.eventually("the runner to schedule the refund's next attempt", func() bool {
			in, err := f.p.Runner().GetByKey(ctx, "payment", res.PaymentID)
			require.NoError(t, err)
			return in.LeaseToken == "" && in.State == saga.Compensating
		})
		pay, err := f.db.PaymentByID(ctx, res.PaymentID)
		require.NoError(t, err)
		news, err := f.pg.gateway.Lookup(ctx, pg.LookupRequest{PaymentKey: pay.PaymentKey, OrderID: orderID, Prepared: preparedOf(t, f, orderID)})
		require.NoError(t, err)
		require.Equal(t, pg.StatusCanceled, news.Status, "the PG refunded")
		require.NoError(t, f.db.InTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
			return f.p.ApplyWebhook(ctx, tx, pg.WebhookEvent{PG: f.pg.name, Type: pg.WebhookPaymentStatus, DedupKey: "race",
				PaymentKey: news.PaymentKey, OrderID: orderID, Status: news.Status, Amount: news.Amount, Payment: news})
		}))

		f.settled(res.PaymentID)
		v := f.payment(res.PaymentID)
		assert.Equal(t, pg.StatusCanceled, v.Status)
		require.Len(t, v.Cancels, 1)
		assert.Equal(t, cancelID, v.Cancels[0].CancelID)
		types := f.eventTypes(res.PaymentID)
		count := func(typ string) (n int) {
			for _, e := range types {
				if e == typ {
					n++
				}
			}
			return n
		}
		assert.Equal(t, 1, count(paygate.EventPaymentRefunded))
		assert.Zero(t, count(paygate.EventPaymentCanceled))
		_, _, rollbacks := f.shop.state(orderID)
		assert.Positive(t, rollbacks, "the woken compensation rolled the order back")
		f.checkInvariants(orderID)
	})
}

// preparedOf is the PG data the checkout stored, for a test's own Lookup.
func preparedOf(t *testing.T, f *flow, orderID string) map[string]string {
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
