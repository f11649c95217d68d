package paygate_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/paygate/paygate"
	"github.com/paygate/paygate/pg"
	"github.com/paygate/paygate/pg/pgtest"
	"github.com/paygate/paygate/store"
	"github.com/paygate/paygate/store/storetest"
)

// mobileWindows are the devices other than PC each sandbox PG has a
// payment window for.
var mobileWindows = map[string][]pg.Device{
	"tosspay":  {pg.DeviceMobile, pg.DeviceApp},
	"kakaopay": {pg.DeviceMobile, pg.DeviceApp},
	"inicis":   {pg.DeviceMobile, pg.DeviceApp},
}

// The flow's scenarios (decline, lost answer, order failure, refund) on
// checkouts made on a phone's browser and in an app, for every PG with a
// window there.
func TestMobileCheckout_FlowScenarios(t *testing.T) {
	eachPG(t, func(t *testing.T, f *flow) {
		devices := mobileWindows[f.pg.name]
		if len(devices) == 0 {
			t.Skipf("%s has no mobile window in this adapter", f.pg.name)
		}
		ctx := context.Background()
		for _, d := range devices {
			f.device = d
			id := func(s string) string { return s + "-" + string(d) }

			// Declined, then paid again from the same device.
			res, err := f.p.Approve(ctx, f.checkout(id("m-decline"), 9000, pgtest.FaultDecline))
			require.NoError(t, err)
			assert.Equal(t, pg.StatusFailed, res.Status, "%s", d)
			again, err := f.p.Approve(ctx, f.checkout(id("m-decline"), 9000, pgtest.FaultNone))
			require.NoError(t, err)
			assert.Equal(t, pg.StatusApproved, again.Status, "%s", d)
			f.settled(again.PaymentID)
			f.checkInvariants(id("m-decline"))

			// The approval's answer is lost: unknown, then approved by lookup.
			res, err = f.p.Approve(ctx, f.checkout(id("m-lost"), 12000, pgtest.FaultTimeout))
			require.NoError(t, err)
			assert.Equal(t, pg.StatusUnknown, res.Status, "%s", d)
			f.settled(res.PaymentID)
			assert.Contains(t, f.eventTypes(res.PaymentID), paygate.EventPaymentUnknown, "%s", d)
			assert.Equal(t, pg.StatusApproved, f.payment(res.PaymentID).Status, "%s", d)
			f.checkInvariants(id("m-lost"))

			// The order cannot be created: refunded once.
			f.shop.setPermanent(id("m-nostock"))
			res, err = f.p.Approve(ctx, f.checkout(id("m-nostock"), 30000, pgtest.FaultNone))
			require.NoError(t, err)
			f.settled(res.PaymentID)
			assert.Equal(t, pg.StatusCanceled, f.payment(res.PaymentID).Status, "%s", d)
			entry, _ := f.ledgerEntry(id("m-nostock"))
			assert.Equal(t, 1, entry.Cancels, "%s: refunded once at the PG", d)
			f.checkInvariants(id("m-nostock"))

			// A refund whose answer is lost is looked up and applied once.
			f.shop.setPermanent(id("m-refund-lost"))
			release := f.shop.hold(id("m-refund-lost"))
			res, err = f.p.Approve(ctx, f.checkout(id("m-refund-lost"), 16000, pgtest.FaultNone))
			require.NoError(t, err)
			f.failRefund(id("m-refund-lost"), pgtest.FaultTimeout)
			release()
			f.settled(res.PaymentID)
			assert.Equal(t, pg.StatusCanceled, f.payment(res.PaymentID).Status, "%s", d)
			entry, _ = f.ledgerEntry(id("m-refund-lost"))
			assert.Equal(t, 1, entry.Cancels, "%s", d)
			f.checkInvariants(id("m-refund-lost"))

			// The operator's refund of a kept mobile payment.
			res, err = f.p.Approve(ctx, f.checkout(id("m-refund"), 20000, pgtest.FaultNone))
			require.NoError(t, err)
			f.settled(res.PaymentID)
			_, err = f.p.Cancel(ctx, paygate.CancelRequest{PaymentID: res.PaymentID, Reason: "buyer changed their mind", IdempotencyKey: id("refund")})
			require.NoError(t, err)
			f.settled(res.PaymentID)
			assert.Equal(t, pg.StatusCanceled, f.payment(res.PaymentID).Status, "%s", d)
			f.checkInvariants(id("m-refund"))
		}
	})
}

// A checkout for an unknown device, or for a device the PG has no window
// for, is refused before anything is written.
func TestPrepare_Device_RefusedWithoutAWindow(t *testing.T) {
	eachPG(t, func(t *testing.T, f *flow) {
		ctx := context.Background()
		req := paygate.PrepareRequest{OrderID: "ord-tablet", OrderName: "test order", Amount: pg.Won(5000), PG: f.pg.name,
			Device:     "tablet",
			SuccessURL: "https://shop.example/pay/success", CancelURL: "https://shop.example/pay/cancel", FailURL: "https://shop.example/pay/fail"}
		_, err := f.p.Prepare(ctx, req)
		require.ErrorIs(t, err, paygate.ErrInvalid)
		_, err = f.db.CheckoutByOrder(ctx, "ord-tablet")
		require.ErrorIs(t, err, store.ErrNotFound, "nothing was written")

		for _, d := range []pg.Device{pg.DeviceMobile, pg.DeviceApp} {
			req.Device = d
			req.OrderID = "ord-" + string(d)
			has := false
			for _, w := range mobileWindows[f.pg.name] {
				has = has || w == d
			}
			c, err := f.p.Prepare(ctx, req)
			if has {
				require.NoError(t, err, "%s", d)
				switch f.pg.name {
				case "kakaopay":
					want := map[pg.Device]string{pg.DeviceMobile: "next_redirect_mobile_url", pg.DeviceApp: "next_redirect_app_url"}[d]
					assert.NotEmpty(t, c.Client[want], "%s: the window for the device", d)
					assert.NotContains(t, c.Client, "next_redirect_pc_url", "%s", d)
				case "inicis":
					assert.NotEmpty(t, c.Client["actionUrl"], "%s: the INIpay Mobile window", d)
					assert.Equal(t, req.OrderID, c.Client["P_OID"], "%s", d)
					assert.NotContains(t, c.Client, "signature", "%s: no standard-window form", d)
				}
				// The same order prepared again for another device is a
				// different attempt.
				other := req
				other.Device = pg.DevicePC
				_, err = f.p.Prepare(ctx, other)
				assert.ErrorIs(t, err, paygate.ErrConflict, "%s", d)
				continue
			}
			require.ErrorIs(t, err, paygate.ErrInvalid, "%s", d)
			_, err = f.db.CheckoutByOrder(ctx, req.OrderID)
			require.ErrorIs(t, err, store.ErrNotFound, "nothing was written")
		}
	})
}

// An Inicis mobile auth result whose P_STATUS is not "00" (the buyer
// canceled in the window) is a decline with Inicis's message: the payment
// fails, nothing is sent to Inicis, and the order can be paid again, as
// after a declined standard-window payment.
func TestMobileCheckout_Inicis_AuthFailureIsADecline(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newFlow(t, db, newInicis(t))
		f.device = pg.DeviceMobile
		ctx := context.Background()
		req := f.checkout("m-auth-fail", 8000, pgtest.FaultNone)
		canceled := paygate.ApproveRequest{PG: req.PG, OrderID: req.OrderID, Amount: req.Amount,
			Redirect: map[string]string{"P_STATUS": "01", "P_RMESG1": "사용자가 결제를 취소하였습니다.", "P_TID": req.Redirect["P_TID"], "P_REQ_URL": req.Redirect["P_REQ_URL"]}}
		res, err := f.p.Approve(ctx, canceled)
		require.NoError(t, err)
		assert.Equal(t, pg.StatusFailed, res.Status)
		assert.Equal(t, "01", res.FailureCode)
		assert.Equal(t, "사용자가 결제를 취소하였습니다.", res.FailureMessage)
		entry, _ := f.ledgerEntry("m-auth-fail")
		assert.Zero(t, entry.Approvals, "nothing was sent to Inicis")
		f.settled(res.PaymentID)
		assert.Equal(t, pg.StatusFailed, f.payment(res.PaymentID).Status)
		_, creates, _ := f.shop.state("m-auth-fail")
		assert.Zero(t, creates)

		// The buyer tries again in the window: paid.
		again, err := f.p.Approve(ctx, f.checkout("m-auth-fail", 8000, pgtest.FaultNone))
		require.NoError(t, err)
		assert.Equal(t, pg.StatusApproved, again.Status)
		f.settled(again.PaymentID)
		f.checkInvariants("m-auth-fail")
	})
}
