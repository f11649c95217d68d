package claimloop_test

import (
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/paygate/paygate/internal/claimloop"
)

func TestConfig_WithDefaults(t *testing.T) {
	d := claimloop.Config{}.WithDefaults(8, 0)
	assert.Equal(t, 30*time.Second, d.Lease)
	assert.Equal(t, time.Second, d.PollInterval)
	assert.Equal(t, 8, d.Concurrency)
	assert.Equal(t, 8, d.ClaimBatch, "a zero batch default follows Concurrency")
	assert.Equal(t, 5*time.Second, d.ClaimBackoff)
	assert.NotNil(t, d.Clock)
	assert.Same(t, slog.Default(), d.Logger)

	d = claimloop.Config{Concurrency: 2}.WithDefaults(4, 32)
	assert.Equal(t, 2, d.Concurrency, "set fields are kept")
	assert.Equal(t, 32, d.ClaimBatch)

	at := time.Date(2026, 3, 1, 18, 0, 0, 123456789, time.FixedZone("KST", 9*3600))
	d = claimloop.Config{Clock: fixed(at)}.WithDefaults(1, 1)
	assert.Equal(t, time.Date(2026, 3, 1, 9, 0, 0, 123456000, time.UTC), d.Now(), "UTC, to the microsecond")
}

type fixed time.Time

func (f fixed) Now() time.Time { return time.Time(f) }
