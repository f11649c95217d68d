package pg_test

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/paygate/paygate/pg"
)

func TestRegistry_ZeroValueRegistersAndGets(t *testing.T) {
	t.Parallel()
	var r pg.Registry
	assert.Empty(t, r.Names())
	_, err := r.Get("tosspay")
	assert.ErrorIs(t, err, pg.ErrNoGateway)

	toss := &fakeGateway{name: "tosspay"}
	require.NoError(t, r.Register(toss))
	got, err := r.Get("tosspay")
	require.NoError(t, err)
	assert.Same(t, toss, got)
}

func TestRegistry_Get_UnknownNameSaysWhich(t *testing.T) {
	t.Parallel()
	r, err := pg.NewRegistry(&fakeGateway{name: "tosspay"})
	require.NoError(t, err)
	for _, name := range []string{"kakaopay", "", "TOSSPAY", "tosspay "} {
		g, err := r.Get(name)
		assert.Nil(t, g)
		require.ErrorIs(t, err, pg.ErrNoGateway, "%q", name)
		assert.Contains(t, err.Error(), fmt.Sprintf("%q", name))
	}
}

func TestRegistry_Register_Refusals(t *testing.T) {
	t.Parallel()
	var r pg.Registry
	first := &fakeGateway{name: "tosspay"}
	require.NoError(t, r.Register(first))

	err := r.Register(&fakeGateway{name: "tosspay"})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "registered twice")
	got, err := r.Get("tosspay")
	require.NoError(t, err)
	assert.Same(t, first, got, "a refused duplicate must not replace the first")

	assert.Error(t, r.Register(nil))
	assert.Error(t, r.Register(&fakeGateway{name: ""}))
	assert.Equal(t, []string{"tosspay"}, r.Names(), "refusals change nothing")
}

func TestNewRegistry(t *testing.T) {
	t.Parallel()
	r, err := pg.NewRegistry()
	require.NoError(t, err)
	assert.Empty(t, r.Names())

	r, err = pg.NewRegistry(&fakeGateway{name: "a"}, &fakeGateway{name: "b"})
	require.NoError(t, err)
	assert.Equal(t, []string{"a", "b"}, r.Names())

	r, err = pg.NewRegistry(&fakeGateway{name: "a"}, &fakeGateway{name: "a"})
	assert.Error(t, err)
	assert.Nil(t, r)

	_, err = pg.NewRegistry(&fakeGateway{name: "a"}, nil)
	assert.Error(t, err)
}

func TestRegistry_Names_SortedCopy(t *testing.T) {
	t.Parallel()
	var r pg.Registry
	for _, n := range []string{"tosspay", "inicis", "kakaopay", "acme"} {
		require.NoError(t, r.Register(&fakeGateway{name: n}))
	}
	names := r.Names()
	assert.Equal(t, []string{"acme", "inicis", "kakaopay", "tosspay"}, names)
	names[0] = "changed"
	assert.Equal(t, []string{"acme", "inicis", "kakaopay", "tosspay"}, r.Names(), "Names must return a copy")
}

func TestRegistry_ConcurrentUse(t *testing.T) {
	t.Parallel()
	var r pg.Registry
	const writers, readers = 8, 8
	var wg sync.WaitGroup
	for i := range writers {
		wg.Go(func() {
			for j := range 20 {
				assert.NoError(t, r.Register(&fakeGateway{name: fmt.Sprintf("pg-%d-%d", i, j)}))
			}
		})
	}
	for range readers {
		wg.Go(func() {
			for range 50 {
				names := r.Names()
				for _, n := range names {
					_, err := r.Get(n)
					assert.NoError(t, err)
				}
			}
		})
	}
	// Many goroutines racing to register one name: exactly one wins.
	var wins atomic.Int32
	for range 16 {
		wg.Go(func() {
			if r.Register(&fakeGateway{name: "contested"}) == nil {
				wins.Add(1)
			}
		})
	}
	wg.Wait()
	assert.Equal(t, int32(1), wins.Load())
	assert.Len(t, r.Names(), writers*20+1)
}
