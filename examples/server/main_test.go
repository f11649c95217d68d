package main

import (
	"bytes"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Without PAYGATE_ADMIN_TOKEN the server makes a token, stores it for its
// owner only and logs where it is, never the token.
func TestAdminToken_GeneratedIntoTheDataDirAndOnlyItsPathLogged(t *testing.T) {
	t.Setenv("PAYGATE_ADMIN_TOKEN", "")
	dir := t.TempDir()
	var logs bytes.Buffer
	token, err := adminToken(slog.New(slog.NewTextHandler(&logs, nil)), dir)
	require.NoError(t, err)
	path := filepath.Join(dir, "admin-token")
	raw, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, token, strings.TrimSpace(string(raw)))
	info, err := os.Stat(path)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), info.Mode().Perm())
	assert.Contains(t, logs.String(), path, "the log says where the token is")
	assert.NotContains(t, logs.String(), token, "and never the token")

	t.Setenv("PAYGATE_ADMIN_TOKEN", "an-operator-token-of-mine")
	logs.Reset()
	token, err = adminToken(slog.New(slog.NewTextHandler(&logs, nil)), dir)
	require.NoError(t, err)
	assert.Equal(t, "an-operator-token-of-mine", token)
	assert.NotContains(t, logs.String(), token)

	t.Setenv("PAYGATE_ADMIN_TOKEN", "short")
	_, err = adminToken(slog.New(slog.NewTextHandler(&logs, nil)), dir)
	assert.Error(t, err)
}

func TestDataDir_BesideTheSQLiteDatabase(t *testing.T) {
	t.Setenv("PAYGATE_DATA_DIR", "")
	assert.Equal(t, "/srv/shop", dataDir("sqlite:/srv/shop/paygate.db"))
	assert.Equal(t, "./data", dataDir("mysql:root@tcp(db:3306)/shop"))
	t.Setenv("PAYGATE_DATA_DIR", "/var/lib/paygate")
	assert.Equal(t, "/var/lib/paygate", dataDir("sqlite:/srv/shop/paygate.db"))
}

func TestServerConfig_FromTheEnvironment(t *testing.T) {
	t.Setenv("PAYGATE_READ_TIMEOUT", "3s")
	t.Setenv("PAYGATE_IDLE_TIMEOUT", "")
	c, err := serverConfig()
	require.NoError(t, err)
	assert.Equal(t, 3*time.Second, c.ReadTimeout)
	assert.Zero(t, c.IdleTimeout, "unset: the default")
	t.Setenv("PAYGATE_WRITE_TIMEOUT", "soon")
	_, err = serverConfig()
	assert.Error(t, err)
	t.Setenv("PAYGATE_WRITE_TIMEOUT", "-1s")
	_, err = serverConfig()
	assert.Error(t, err)
}

// PAYGATE_INICIS_NOTI_SOURCES is a comma-separated list of prefixes; a
// malformed one is refused, an empty one is none (the default list stays).
func TestPrefixes_CommaSeparatedNotificationSources(t *testing.T) {
	got, err := prefixes(" 127.0.0.1/32, ::1/128 ,")
	require.NoError(t, err)
	assert.Equal(t, []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32"), netip.MustParsePrefix("::1/128")}, got)
	got, err = prefixes("")
	require.NoError(t, err)
	assert.Empty(t, got)
	_, err = prefixes("127.0.0.1")
	assert.Error(t, err, "an address without its length is not a prefix")
}
