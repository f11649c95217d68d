package app

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A PG runs as a sandbox served by the server, as a sandbox in a process of
// its own, or live; order-failure scripting is offered in both sandbox
// modes and never live.
func TestSetup_SandboxHereElsewhereOrLive(t *testing.T) {
	const public = "http://127.0.0.1:8080"
	cases := []struct {
		name        string
		settings    PGSettings
		served      bool
		sandboxMode bool
	}{
		{"sandbox served here", PGSettings{}, true, true},
		{"sandbox in its own process", PGSettings{Sandbox: "http://127.0.0.1:9101/x"}, false, true},
		{"live", PGSettings{BaseURL: "https://pg.example", SecretKey: "k", CID: "C", MID: "M", SignKey: "s", APIKey: "0123456789abcdef", APIIV: "0123456789abcdef", ClientIP: "10.0.0.1"}, false, false},
	}
	for _, c := range cases {
		for name, setup := range map[string]func(string, PGSettings) (gatewaySetup, error){"tosspay": setupToss, "kakaopay": setupKakaoPay, "inicis": setupInicis} {
			t.Run(c.name+"/"+name, func(t *testing.T) {
				s, err := setup(public, c.settings)
				require.NoError(t, err)
				assert.Equal(t, name, s.name)
				assert.Equal(t, c.served, s.sandbox != nil, "sandbox served by this server")
				assert.Equal(t, c.sandboxMode, s.sandboxMode)
			})
		}
	}
}
