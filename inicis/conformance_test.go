package inicis_test

import (
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/paygate/paygate/inicis"
	"github.com/paygate/paygate/inicis/inicistest"
	"github.com/paygate/paygate/pg/pgtest"
)

func TestConformance(t *testing.T) {
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
		Skip: map[string]string{
			pgtest.CaseWebhook: "Inicis notifies only virtual-account deposits, and the suite pays by card; " +
				"deposit notifications are tested in TestVirtualAccount_* and TestParseWebhook_*",
		},
	})
}
