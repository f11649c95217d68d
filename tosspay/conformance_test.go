package tosspay_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/paygate/paygate/pg"
	"github.com/paygate/paygate/pg/pgtest"
	"github.com/paygate/paygate/tosspay"
	"github.com/paygate/paygate/tosspay/tosspaytest"
)

func TestConformance(t *testing.T) {
	// The current API version, and version 1.4, whose bodies name
	// institutions instead of coding them.
	for _, version := range []string{"", tosspaytest.APIVersion14} {
		name := "2022-11-16"
		if version != "" {
			name = version
		}
		t.Run(name, func(t *testing.T) {
			srv := tosspaytest.NewServer(tosspaytest.Options{HoldMax: 10 * time.Second, APIVersion: version})
			t.Cleanup(srv.Close)
			gw, err := tosspay.New(tosspay.Config{
				SecretKey: srv.SecretKey(), BaseURL: srv.URL,
				Timeout:     300 * time.Millisecond,
				MaxAttempts: 3, BackoffMin: 10 * time.Millisecond, BackoffMax: 50 * time.Millisecond,
			})
			require.NoError(t, err)
			pgtest.Run(t, pgtest.Harness{Gateway: gw, Sandbox: srv.Sandbox})
		})
	}
	// Toss's SDK opens one window on every device: a phone's checkout is
	// paid and approved as a PC one.
	t.Run("device=mobile", func(t *testing.T) {
		srv := tosspaytest.NewServer(tosspaytest.Options{HoldMax: 10 * time.Second})
		t.Cleanup(srv.Close)
		gw, err := tosspay.New(tosspay.Config{
			SecretKey: srv.SecretKey(), BaseURL: srv.URL,
			Timeout:     300 * time.Millisecond,
			MaxAttempts: 3, BackoffMin: 10 * time.Millisecond, BackoffMax: 50 * time.Millisecond,
		})
		require.NoError(t, err)
		pgtest.Run(t, pgtest.Harness{Gateway: gw, Sandbox: srv.Sandbox, Device: pg.DeviceMobile})
	})
}
