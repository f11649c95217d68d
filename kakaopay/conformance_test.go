package kakaopay_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/paygate/paygate/kakaopay"
	"github.com/paygate/paygate/kakaopay/kakaopaytest"
	"github.com/paygate/paygate/pg/pgtest"
)

func TestConformance(t *testing.T) {
	for _, legacy := range []bool{false, true} {
		name := "current"
		if legacy {
			name = "legacy"
		}
		t.Run(name, func(t *testing.T) {
			srv := kakaopaytest.NewServer(kakaopaytest.Options{})
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
}
