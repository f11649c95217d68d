package app

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/paygate/paygate/store"
)

// A buyer on a phone (and in an app) pays with Toss and KakaoPay through
// the sandboxes: the checkout answers the window for the device, the
// sandbox plays it, and approve takes the redirect as on a PC. Inicis's
// adapter has no mobile window, so its mobile checkout is refused and
// nothing is written; an unknown device is refused too.
func TestCheckout_Device_MobileBuyersPay(t *testing.T) {
	a := newTestApp(t, store.SQLite, nil)
	for _, tc := range []struct {
		pg, device, window string
	}{
		{"tosspay", "mobile", ""},
		{"tosspay", "app", ""},
		{"kakaopay", "mobile", "next_redirect_mobile_url"},
		{"kakaopay", "app", "next_redirect_app_url"},
	} {
		t.Run(tc.pg+"/"+tc.device, func(t *testing.T) {
			orderID := "dev-" + tc.pg + "-" + tc.device
			status, co := a.post(t, "/checkouts", map[string]any{"orderId": orderID, "amount": 15000, "pg": tc.pg, "orderName": "phone", "device": tc.device})
			require.Equal(t, http.StatusCreated, status, "%v", co)
			assert.Equal(t, tc.device, co["device"])
			client := co["client"].(map[string]any)
			if tc.window != "" {
				assert.NotEmpty(t, client[tc.window])
				assert.NotContains(t, client, "next_redirect_pc_url")
			}
			status, redirect := a.post(t, "/sandbox/"+tc.pg+"/pay", map[string]any{"orderId": orderID, "amount": 15000, "device": tc.device})
			require.Equal(t, http.StatusOK, status, "%v", redirect)
			body := map[string]any{"pg": tc.pg, "orderId": orderID, "amount": 15000}
			for k, v := range redirect {
				body[k] = v
			}
			status, approved := a.post(t, "/payments/approve", body)
			require.Equal(t, http.StatusOK, status, "%v", approved)
			assert.Equal(t, "APPROVED", approved["status"])
		})
	}

	for _, tc := range []struct{ pg, device string }{{"inicis", "mobile"}, {"inicis", "app"}, {"kakaopay", "tablet"}} {
		orderID := "dev-refused-" + tc.pg + "-" + tc.device
		status, body := a.post(t, "/checkouts", map[string]any{"orderId": orderID, "amount": 15000, "pg": tc.pg, "orderName": "phone", "device": tc.device})
		assert.Equal(t, http.StatusBadRequest, status, "%s on %s: %v", tc.pg, tc.device, body)
		status, _ = a.post(t, "/sandbox/"+tc.pg+"/pay", map[string]any{"orderId": orderID, "amount": 15000, "device": tc.device})
		assert.Equal(t, http.StatusBadRequest, status)
		_, err := a.DB().CheckoutByOrder(t.Context(), orderID)
		assert.ErrorIs(t, err, store.ErrNotFound, "nothing was written for %s", orderID)
	}
}
