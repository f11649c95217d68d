package app

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/paygate/paygate/store"
)

// A buyer on a phone (and in an app) pays with every PG through the
// sandboxes: the checkout answers the window for the device, the sandbox
// plays it, and approve takes the redirect as on a PC (for Inicis, INIpay
// Mobile's P_* auth result). An unknown device is refused and nothing is
// written.
func TestCheckout_Device_MobileBuyersPay(t *testing.T) {
	a := newTestApp(t, store.SQLite, nil)
	for _, tc := range []struct {
		pg, device, window string
	}{
		{"tosspay", "mobile", ""},
		{"tosspay", "app", ""},
		{"kakaopay", "mobile", "next_redirect_mobile_url"},
		{"kakaopay", "app", "next_redirect_app_url"},
		{"inicis", "mobile", "P_CHKFAKE"},
		{"inicis", "app", "P_RESERVED"},
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

	for _, tc := range []struct{ pg, device string }{{"inicis", "tablet"}, {"kakaopay", "tablet"}} {
		orderID := "dev-refused-" + tc.pg + "-" + tc.device
		status, body := a.post(t, "/checkouts", map[string]any{"orderId": orderID, "amount": 15000, "pg": tc.pg, "orderName": "phone", "device": tc.device})
		assert.Equal(t, http.StatusBadRequest, status, "%s on %s: %v", tc.pg, tc.device, body)
		status, _ = a.post(t, "/sandbox/"+tc.pg+"/pay", map[string]any{"orderId": orderID, "amount": 15000, "device": tc.device})
		assert.Equal(t, http.StatusBadRequest, status)
		_, err := a.DB().CheckoutByOrder(t.Context(), orderID)
		assert.ErrorIs(t, err, store.ErrNotFound, "nothing was written for %s", orderID)
	}
}

// Inicis on a phone, end to end over HTTP as the README walks it: the
// checkout answers the P_* form and the window's address; the phone posts
// the form there (the sandbox's INIpay Mobile window, served by this
// server); approve takes the P_* auth result. A P_STATUS other than 00 is
// a decline with Inicis's message, and the order can still be paid; a
// mobile virtual account's deposit, notified by the sandbox to
// /webhooks/inicis with P_* fields, pays the order.
func TestCheckout_InicisMobile_EndToEnd(t *testing.T) {
	a := newTestApp(t, store.SQLite, nil)
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan error, 1)
	go func() { ran <- a.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		require.NoError(t, <-ran)
	})
	status, co := a.post(t, "/checkouts", map[string]any{"orderId": "im-1", "amount": 12000, "pg": "inicis", "orderName": "폰 주문", "device": "mobile"})
	require.Equal(t, http.StatusCreated, status, "%v", co)
	client := co["client"].(map[string]any)
	action := client["actionUrl"].(string)
	assert.Equal(t, a.url+"/sandbox/inicis/smart/payment/", action)
	form := url.Values{}
	for k, v := range client {
		if k != "actionUrl" {
			form.Set(k, v.(string))
		}
	}
	resp, err := http.PostForm(action, form)
	require.NoError(t, err)
	var window struct {
		Redirect map[string]string `json:"redirect"`
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&window))
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	auth := window.Redirect
	require.Equal(t, "00", auth["P_STATUS"])

	// The buyer canceled in the window: declined with Inicis's message.
	status, declined := a.post(t, "/payments/approve", map[string]any{"pg": "inicis", "orderId": "im-1", "amount": 12000,
		"P_STATUS": "01", "P_RMESG1": "사용자 취소", "P_TID": auth["P_TID"], "P_REQ_URL": auth["P_REQ_URL"]})
	require.Equal(t, http.StatusPaymentRequired, status, "%v", declined)
	assert.Equal(t, "FAILED", declined["status"])
	assert.Equal(t, map[string]any{"code": "01", "message": "사용자 취소"}, declined["error"])

	// A foreign P_REQ_URL is refused before anything is sent.
	status, ssrf := a.post(t, "/payments/approve", map[string]any{"pg": "inicis", "orderId": "im-1", "amount": 12000,
		"P_STATUS": "00", "P_TID": auth["P_TID"], "P_REQ_URL": "http://169.254.169.254/latest/meta-data"})
	assert.Less(t, status, 500, "%v", ssrf)
	assert.NotEqual(t, http.StatusOK, status, "%v", ssrf)

	// Paid on the next try, from the same window's result.
	status, co = a.post(t, "/checkouts", map[string]any{"orderId": "im-1", "amount": 12000, "pg": "inicis", "orderName": "폰 주문", "device": "mobile"})
	require.Equal(t, http.StatusCreated, status, "%v", co)
	status, redirect := a.post(t, "/sandbox/inicis/pay", map[string]any{"orderId": "im-1", "amount": 12000, "device": "mobile"})
	require.Equal(t, http.StatusOK, status, "%v", redirect)
	status, approved := a.post(t, "/payments/approve", map[string]any{"pg": "inicis", "orderId": "im-1", "amount": 12000,
		"P_STATUS": redirect["P_STATUS"], "P_TID": redirect["P_TID"], "P_REQ_URL": redirect["P_REQ_URL"], "P_RMESG1": redirect["P_RMESG1"]})
	require.Equal(t, http.StatusOK, status, "%v", approved)
	assert.Equal(t, "APPROVED", approved["status"])

	// A virtual account issued in the mobile window, paid by the buyer's
	// transfer: the sandbox notifies /webhooks/inicis with P_* fields.
	status, co = a.post(t, "/checkouts", map[string]any{"orderId": "im-va", "amount": 30000, "pg": "inicis", "orderName": "폰 가상계좌", "device": "app"})
	require.Equal(t, http.StatusCreated, status, "%v", co)
	raw, err := json.Marshal(map[string]any{"orderId": "im-va", "amount": 30000, "device": "app", "method": "VBank"})
	require.NoError(t, err)
	rec := a.serve(http.MethodPost, "/sandbox/inicis/_sandbox/pay", "127.0.0.1:5000", raw, "Content-Type", "application/json")
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	var played struct {
		Redirect map[string]string `json:"redirect"`
	}
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &played))
	body := map[string]any{"pg": "inicis", "orderId": "im-va", "amount": 30000, "redirect": played.Redirect}
	status, issued := a.post(t, "/payments/approve", body)
	require.Equal(t, http.StatusOK, status, "%v", issued)
	assert.Equal(t, "WAITING_FOR_DEPOSIT", issued["status"])
	rec = a.serve(http.MethodPost, "/sandbox/inicis/_sandbox/deposit", "127.0.0.1:5000", []byte(`{"orderId":"im-va"}`), "Content-Type", "application/json")
	require.Equal(t, http.StatusNoContent, rec.Code, "the shop answered the P_NOTI_URL notification OK: %s", rec.Body.String())
	deadline := time.Now().Add(20 * time.Second)
	for {
		o, err := a.orders.Get(context.Background(), "im-va")
		require.NoError(t, err)
		if o.Status == "PAID" || o.Status == "PREPARING_SHIPMENT" {
			break
		}
		if !time.Now().Before(deadline) {
			v, err := a.pay.Payment(context.Background(), issued["paymentId"].(string))
			require.NoError(t, err)
			t.Fatalf("the deposit pays the order; it is %s, the payment %s, events %+v", o.Status, v.Status, v.Events)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
