package idempotency

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseKey(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, in, want string
		bad            bool
	}{
		{name: "structured-field string", in: `"8e03978e-40d5-43e8-bc93-6894a57f9324"`, want: "8e03978e-40d5-43e8-bc93-6894a57f9324"},
		{name: "bare token", in: "8e03978e-40d5", want: "8e03978e-40d5"},
		{name: "surrounding blanks", in: " \t\"abc\" ", want: "abc"},
		{name: "quoted with space", in: `"a b"`, want: "a b"},
		{name: "quoted escapes", in: `"a\"b\\c"`, want: `a"b\c`},
		{name: "255 characters", in: strings.Repeat("k", 255), want: strings.Repeat("k", 255)},
		{name: "quoted 255 characters", in: `"` + strings.Repeat("k", 255) + `"`, want: strings.Repeat("k", 255)},
		{name: "empty", in: "", bad: true},
		{name: "blank", in: "   ", bad: true},
		{name: "empty quoted", in: `""`, bad: true},
		{name: "256 characters", in: strings.Repeat("k", 256), bad: true},
		{name: "quoted 256 characters", in: `"` + strings.Repeat("k", 256) + `"`, bad: true},
		{name: "non-ASCII", in: "키-1", bad: true},
		{name: "quoted non-ASCII", in: `"키"`, bad: true},
		{name: "control character", in: "a\x01b", bad: true},
		{name: "quoted control character", in: "\"a\x7fb\"", bad: true},
		{name: "bad escape", in: `"a\nb"`, bad: true},
		{name: "unterminated", in: `"abc`, bad: true},
		{name: "parameters after string", in: `"abc";x=1`, bad: true},
		{name: "bare with space", in: "a b", bad: true},
		{name: "bare with quote", in: `a"b`, bad: true},
		{name: "joined header lines", in: "a,b", bad: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseKey(tt.in)
			if tt.bad {
				require.ErrorIs(t, err, ErrInvalidKey)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestStoredScope_LongOrInvalidScopeBecomesDigest(t *testing.T) {
	t.Parallel()
	short := "tenant-1|POST /payments/approve"
	assert.Equal(t, short, storedScope(short))

	long := "tenant|POST /" + strings.Repeat("x", 300)
	got := storedScope(long)
	assert.True(t, strings.HasPrefix(got, "sha256:"))
	assert.Len(t, got, len("sha256:")+64)
	assert.NotEqual(t, got, storedScope(long+"y"), "different scopes must not share a row")

	assert.True(t, strings.HasPrefix(storedScope("t|GET /\xff"), "sha256:"), "invalid UTF-8 is stored as a digest")
}

func TestRequestFingerprint_SeparatesFields(t *testing.T) {
	t.Parallel()
	base := requestFingerprint("POST", "/a", []byte("b"))
	assert.Equal(t, base, requestFingerprint("POST", "/a", []byte("b")))
	assert.NotEqual(t, base, requestFingerprint("POST", "/ab", []byte("")), "moving bytes between fields changes it")
	assert.NotEqual(t, base, requestFingerprint("PUT", "/a", []byte("b")))
	assert.NotEqual(t, base, requestFingerprint("POST", "/a?x=1", []byte("b")))
	assert.Len(t, base, 64)
}

func TestNew_ChecksConfig(t *testing.T) {
	t.Parallel()
	_, err := New(Config{})
	require.Error(t, err, "a store is required")
	_, err = New(Config{Store: nopStore{}, Lease: 10, Heartbeat: 10})
	require.Error(t, err, "a heartbeat as long as the lease could let the lease run out")
	m, err := New(Config{Store: nopStore{}})
	require.NoError(t, err)
	assert.Equal(t, DefaultTTL, m.cfg.TTL)
	assert.Equal(t, DefaultLease/3, m.cfg.Heartbeat)
}

// nopStore satisfies Store for config tests that never touch it.
type nopStore struct{ Store }
