package kakaopay_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/paygate/paygate/kakaopay"
	"github.com/paygate/paygate/kakaopay/kakaopaytest"
	"github.com/paygate/paygate/pg"
	"github.com/paygate/paygate/pg/pgtest"
)

func TestConformance(t *testing.T) {
	for _, tc := range []struct {
		name      string
		legacy    bool
		noAmounts bool
	}{
		{"current", false, false},
		{"legacy", true, false},
		// Order lookups whose payment_action_details lack amount, as some
		// live answers do.
		{"current, actions without amount", false, true},
	} {
		legacy := tc.legacy
		t.Run(tc.name, func(t *testing.T) {
			srv := kakaopaytest.NewServer(kakaopaytest.Options{OmitActionAmounts: tc.noAmounts})
			t.Cleanup(srv.Close)
			key := kakaopaytest.DefaultSecretKey
			if legacy {
				key = kakaopaytest.DefaultAdminKey
			}
			gw, err := kakaopay.New(kakaopay.Config{
				CID: kakaopaytest.TestCID, SecretKey: key, Legacy: legacy, BaseURL: srv.URL,
				Timeout: time.Second, // lost answers are cut connections; this bounds anything else
			})
			require.NoError(t, err)
			pgtest.Run(t, pgtest.Harness{Gateway: gw, Sandbox: srv.Sandbox})
		})
	}
	// Checkouts on a phone's browser and in an app: another window, the
	// same approval.
	for _, device := range []pg.Device{pg.DeviceMobile, pg.DeviceApp} {
		t.Run("device="+string(device), func(t *testing.T) {
			srv := kakaopaytest.NewServer(kakaopaytest.Options{})
			t.Cleanup(srv.Close)
			gw, err := kakaopay.New(kakaopay.Config{
				CID: kakaopaytest.TestCID, SecretKey: kakaopaytest.DefaultSecretKey, BaseURL: srv.URL,
				Timeout: time.Second,
			})
			require.NoError(t, err)
			pgtest.Run(t, pgtest.Harness{Gateway: gw, Sandbox: srv.Sandbox, Device: device})
		})
	}
}
