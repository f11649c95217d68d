package inicis_test

import (
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/paygate/paygate/inicis"
	"github.com/paygate/paygate/inicis/inicistest"
	"github.com/paygate/paygate/pg"
	"github.com/paygate/paygate/pg/pgtest"
)

func TestConformance(t *testing.T) {
	// The standard (PC) window, and INIpay Mobile on a phone's browser and
	// in an app: another window and another approval, the same INIAPI
	// refunds and inquiries.
	for _, device := range []pg.Device{pg.DevicePC, pg.DeviceMobile, pg.DeviceApp} {
		t.Run("device="+string(device), func(t *testing.T) {
			srv := inicistest.NewServer(inicistest.Config{})
			t.Cleanup(srv.Close)
			cfg := srv.GatewayConfig()
			cfg.Timeout = time.Second
			cfg.Logger = slog.New(slog.DiscardHandler)
			gw, err := inicis.New(cfg)
			require.NoError(t, err)
			pgtest.Run(t, pgtest.Harness{
				Gateway: gw,
				Sandbox: srv.Sandbox,
				Device:  device,
				Skip: map[string]string{
					pgtest.CaseWebhook: "Inicis notifies deposits and mobile card results but no cancels, which the case " +
						"needs; notifications are tested in TestVirtualAccount_*, TestParseWebhook_* and TestMobile*",
				},
			})
		})
	}
}
