package claimloop_test

import (
	"context"
	"io"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

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

// A Pool takes reservations only while a Loop runs on it and has a slot
// free; the loop counts reserved slots as busy, and Run returns only after
// the work run in a reserved slot has ended, with stop closed for it.
func TestPool_ReservationsShareTheLoopsSlots(t *testing.T) {
	pool := claimloop.NewPool(2)
	_, ok := pool.Reserve()
	assert.False(t, ok, "no loop runs on the pool")

	var claims atomic.Int32
	maxFree := atomic.Int32{}
	maxFree.Store(-1)
	loop := claimloop.Loop[int]{
		Name:   "test",
		Config: claimloop.Config{PollInterval: time.Millisecond, Concurrency: 2, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}.WithDefaults(2, 0),
		Signal: claimloop.NewSignal(),
		Claim: func(ctx context.Context, free int) ([]int, bool, error) {
			claims.Add(1)
			maxFree.Store(int32(free))
			return nil, false, nil
		},
		Work: func(context.Context, int, <-chan struct{}) {},
		Pool: pool,
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- loop.Run(ctx) }()

	var first *claimloop.Reservation
	require.Eventually(t, func() bool {
		var ok bool
		first, ok = pool.Reserve()
		return ok
	}, 10*time.Second, time.Millisecond, "the running loop takes reservations")
	second, ok := pool.Reserve()
	require.True(t, ok)
	_, ok = pool.Reserve()
	assert.False(t, ok, "both slots are taken")
	second.Cancel()
	second.Cancel() // a second Cancel gives nothing back twice
	third, ok := pool.Reserve()
	require.True(t, ok, "a cancelled reservation frees its slot")
	third.Cancel()

	// While first is held the loop claims with one slot free at most.
	seen := claims.Load()
	require.Eventually(t, func() bool { return claims.Load() > seen+2 }, 10*time.Second, time.Millisecond)
	assert.LessOrEqual(t, maxFree.Load(), int32(1))

	started, release := make(chan struct{}), make(chan struct{})
	var sawStop atomic.Bool
	first.Go(func(ctx context.Context, stop <-chan struct{}) {
		close(started)
		<-stop
		sawStop.Store(true)
		<-release
	})
	<-started
	cancel()
	select {
	case <-done:
		t.Fatal("Run returned while reserved work was running")
	case <-time.After(100 * time.Millisecond):
	}
	close(release)
	require.NoError(t, <-done)
	assert.True(t, sawStop.Load(), "the reserved work saw stop closed")
	_, ok = pool.Reserve()
	assert.False(t, ok, "a stopped loop takes no reservations")
}

// A slot freed after a claim that found less than it could take does not
// make the loop claim again (only a wake-up or the poll does); a slot freed
// after a claim that took all it could does, since more work probably
// waits for it.
func TestLoop_AFreedSlotMakesAClaimOnlyWhenWorkMayWait(t *testing.T) {
	for _, tc := range []struct {
		name       string
		full       bool
		wantClaims int32
	}{
		{"the claim found less than it could take", false, 1},
		{"the claim took all it could", true, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var claims atomic.Int32
			release := make(chan struct{})
			finished := make(chan struct{}, 2)
			loop := claimloop.Loop[int]{
				Name: "test",
				// The poll never comes within the test.
				Config: claimloop.Config{PollInterval: time.Hour, Concurrency: 2, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}.WithDefaults(2, 0),
				Signal: claimloop.NewSignal(),
				Claim: func(ctx context.Context, free int) ([]int, bool, error) {
					if claims.Add(1) > 1 {
						return nil, false, nil
					}
					if tc.full {
						return make([]int, free), true, nil
					}
					return []int{0}, false, nil
				},
				Work: func(context.Context, int, <-chan struct{}) {
					<-release
					finished <- struct{}{}
				},
			}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- loop.Run(ctx) }()
			defer func() {
				cancel()
				require.NoError(t, <-done)
			}()

			require.Eventually(t, func() bool { return claims.Load() == 1 }, 10*time.Second, time.Millisecond)
			release <- struct{}{} // one unit ends and frees its slot
			<-finished
			if tc.wantClaims == 1 {
				time.Sleep(200 * time.Millisecond)
			} else {
				require.Eventually(t, func() bool { return claims.Load() == tc.wantClaims }, 10*time.Second, time.Millisecond)
			}
			assert.Equal(t, tc.wantClaims, claims.Load())
			close(release)
		})
	}
}
