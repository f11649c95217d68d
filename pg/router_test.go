package pg_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/paygate/paygate/pg"
)

// testClock is the router's injected clock.
type testClock struct {
	mu  sync.Mutex
	now time.Time
}

func newTestClock() *testClock {
	return &testClock{now: time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC)}
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// seededIntN is a deterministic IntN; the router calls it under its lock.
func seededIntN(seed uint64) func(int) int {
	return rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15)).IntN
}

const (
	testThreshold = 3
	testCoolDown  = 30 * time.Second
)

var errUnavailable = &pg.Error{PG: "test", Op: "approve", Kind: pg.KindUnavailable, Code: "MAINTENANCE", HTTPStatus: 503}

func usd(s string) pg.Money { return pg.MustMoney(s, pg.USD) }

// testGateways are four PGs with different capabilities.
func testRegistry(t *testing.T) *pg.Registry {
	t.Helper()
	reg, err := pg.NewRegistry(
		&fakeGateway{name: "toss", caps: pg.Capabilities{
			Methods: []pg.Method{pg.MethodCard, pg.MethodTransfer, pg.MethodVirtualAccount, pg.MethodEasyPay},
		}},
		&fakeGateway{name: "kakao", caps: pg.Capabilities{
			Methods:   []pg.Method{pg.MethodEasyPay, pg.MethodMoney, pg.MethodCard},
			MinAmount: pg.Won(100),
		}},
		&fakeGateway{name: "inicis", caps: pg.Capabilities{
			Methods: []pg.Method{pg.MethodCard, pg.MethodTransfer, pg.MethodVirtualAccount, pg.MethodMobilePhone},
		}},
		&fakeGateway{name: "global", caps: pg.Capabilities{
			Methods:    []pg.Method{pg.MethodCard},
			Currencies: []pg.Currency{pg.KRW, pg.USD},
			MinAmount:  usd("1.00"),
		}},
	)
	require.NoError(t, err)
	return reg
}

func newTestRouter(t *testing.T, rules []pg.Rule, clock *testClock) *pg.Router {
	t.Helper()
	r, err := pg.NewRouter(testRegistry(t), rules, pg.RouterConfig{
		FailureThreshold: testThreshold,
		CoolDown:         testCoolDown,
		Now:              clock.Now,
		IntN:             seededIntN(1),
	})
	require.NoError(t, err)
	return r
}

// chosen returns the chosen gateway's name, or "" with the error.
func chosen(r *pg.Router, req pg.RouteRequest) (string, error) {
	g, err := r.Choose(req)
	if err != nil {
		return "", err
	}
	return g.Name(), nil
}

func card(m pg.Money) pg.RouteRequest { return pg.RouteRequest{Method: pg.MethodCard, Amount: m} }

func TestRouter_Choose_ByMethodAmountAndCurrency(t *testing.T) {
	t.Parallel()
	r := newTestRouter(t, []pg.Rule{
		{PG: "global", Priority: 30, Currencies: []pg.Currency{pg.USD}},
		{PG: "kakao", Priority: 20, Methods: []pg.Method{pg.MethodEasyPay, pg.MethodMoney}},
		{PG: "inicis", Priority: 10, Methods: []pg.Method{pg.MethodCard}, MinAmount: pg.Won(1_000_000)},
		{PG: "toss", Priority: 10, Methods: []pg.Method{pg.MethodCard}, MaxAmount: pg.Won(999_999)},
		{PG: "inicis", Priority: 10, Methods: []pg.Method{pg.MethodMobilePhone}},
		{PG: "toss", Priority: 0},
	}, newTestClock())

	tests := []struct {
		name    string
		req     pg.RouteRequest
		want    string
		wantErr error
	}{
		{"small card", card(pg.Won(50_000)), "toss", nil},
		{"card at the max bound", card(pg.Won(999_999)), "toss", nil},
		{"card at the min bound", card(pg.Won(1_000_000)), "inicis", nil},
		{"large card", card(pg.Won(5_000_000)), "inicis", nil},
		{"easy pay", pg.RouteRequest{Method: pg.MethodEasyPay, Amount: pg.Won(10_000)}, "kakao", nil},
		{"wallet money at the gateway minimum", pg.RouteRequest{Method: pg.MethodMoney, Amount: pg.Won(100)}, "kakao", nil},
		{"easy pay below kakao's minimum falls to the default", pg.RouteRequest{Method: pg.MethodEasyPay, Amount: pg.Won(99)}, "toss", nil},
		{"wallet money below the minimum has no gateway", pg.RouteRequest{Method: pg.MethodMoney, Amount: pg.Won(99)}, "", pg.ErrNoRoute},
		{"mobile phone", pg.RouteRequest{Method: pg.MethodMobilePhone, Amount: pg.Won(30_000)}, "inicis", nil},
		{"transfer by the default rule", pg.RouteRequest{Method: pg.MethodTransfer, Amount: pg.Won(30_000)}, "toss", nil},
		{"virtual account by the default rule", pg.RouteRequest{Method: pg.MethodVirtualAccount, Amount: pg.Won(30_000)}, "toss", nil},
		{"dollars", card(usd("10.00")), "global", nil},
		{"dollars at the gateway minimum", card(usd("1.00")), "global", nil},
		{"dollars below the gateway minimum", card(usd("0.99")), "", pg.ErrNoRoute},
		{"yen nobody takes", card(pg.MustMoney("1000", pg.JPY)), "", pg.ErrNoRoute},
		{"method nobody offers", pg.RouteRequest{Method: pg.MethodOther, Amount: pg.Won(1000)}, "", pg.ErrNoRoute},
		{"zero amount", card(pg.Won(0)), "", pg.ErrInvalidMoney},
	}
	for _, tt := range tests {
		got, err := chosen(r, tt.req)
		if tt.wantErr != nil {
			assert.ErrorIs(t, err, tt.wantErr, tt.name)
			continue
		}
		require.NoError(t, err, tt.name)
		assert.Equal(t, tt.want, got, tt.name)
	}
}

func TestRouter_Choose_RuleCurrencyNeedsGatewayCapability(t *testing.T) {
	t.Parallel()
	// The rule says USD, but toss only declares KRW: capabilities win.
	r := newTestRouter(t, []pg.Rule{
		{PG: "toss", Priority: 10, Currencies: []pg.Currency{pg.USD}},
		{PG: "global", Priority: 0},
	}, newTestClock())
	got, err := chosen(r, card(usd("25.00")))
	require.NoError(t, err)
	assert.Equal(t, "global", got)

	// A rule without currencies takes whatever the gateway declares.
	got, err = chosen(r, card(pg.Won(25_000)))
	require.NoError(t, err)
	assert.Equal(t, "global", got, "the USD-only rule must not match won")
}

// A gateway's MinAmount is in one currency; it bounds amounts in that
// currency and says nothing about the gateway's other currencies.
func TestRouter_Choose_GatewayMinimumAppliesToItsOwnCurrency(t *testing.T) {
	t.Parallel()
	r := newTestRouter(t, []pg.Rule{{PG: "global"}}, newTestClock())
	got, err := chosen(r, card(pg.Won(50_000)))
	require.NoError(t, err)
	assert.Equal(t, "global", got)

	got, err = chosen(r, pg.RouteRequest{PG: "global", Method: pg.MethodCard, Amount: pg.Won(50_000)})
	require.NoError(t, err)
	assert.Equal(t, "global", got)

	_, err = chosen(r, card(usd("0.50")))
	assert.ErrorIs(t, err, pg.ErrNoRoute)
}

func TestRouter_Choose_AmountUnsetMatchesOnlyUnboundedRules(t *testing.T) {
	t.Parallel()
	r := newTestRouter(t, []pg.Rule{
		{PG: "kakao", Priority: 20, Methods: []pg.Method{pg.MethodEasyPay}},
		{PG: "inicis", Priority: 10, Currencies: []pg.Currency{pg.KRW}},
		{PG: "global", Priority: 10, MaxAmount: pg.Won(1_000)},
		{PG: "toss", Priority: 0},
	}, newTestClock())

	got, err := chosen(r, pg.RouteRequest{Method: pg.MethodCard})
	require.NoError(t, err)
	assert.Equal(t, "toss", got)

	got, err = chosen(r, pg.RouteRequest{Method: pg.MethodEasyPay})
	require.NoError(t, err)
	assert.Equal(t, "kakao", got)
}

func TestRouter_Choose_ExplicitPG(t *testing.T) {
	t.Parallel()
	r := newTestRouter(t, []pg.Rule{{PG: "toss", Priority: 10}}, newTestClock())

	tests := []struct {
		name    string
		req     pg.RouteRequest
		want    string
		wantErr error
	}{
		{"named gateway even without a rule", pg.RouteRequest{PG: "kakao", Method: pg.MethodCard, Amount: pg.Won(5_000_000)}, "kakao", nil},
		{"named gateway without method or amount", pg.RouteRequest{PG: "inicis"}, "inicis", nil},
		{"unregistered name", pg.RouteRequest{PG: "nope", Method: pg.MethodCard, Amount: pg.Won(1000)}, "", pg.ErrNoGateway},
		{"method the gateway lacks", pg.RouteRequest{PG: "toss", Method: pg.MethodMoney, Amount: pg.Won(1000)}, "", pg.ErrNoRoute},
		{"currency the gateway lacks", pg.RouteRequest{PG: "toss", Method: pg.MethodCard, Amount: usd("10.00")}, "", pg.ErrNoRoute},
		{"below the gateway minimum", pg.RouteRequest{PG: "kakao", Method: pg.MethodCard, Amount: pg.Won(99)}, "", pg.ErrNoRoute},
		{"zero amount", pg.RouteRequest{PG: "toss", Method: pg.MethodCard, Amount: pg.Won(0)}, "", pg.ErrInvalidMoney},
	}
	for _, tt := range tests {
		got, err := chosen(r, tt.req)
		if tt.wantErr != nil {
			assert.ErrorIs(t, err, tt.wantErr, tt.name)
			continue
		}
		require.NoError(t, err, tt.name)
		assert.Equal(t, tt.want, got, tt.name)
	}
}

func openCircuit(t *testing.T, r *pg.Router, name string) {
	t.Helper()
	for range testThreshold {
		r.Report(name, errUnavailable)
	}
	require.Equal(t, pg.CircuitOpen, r.State(name))
}

func TestRouter_Priority_HigherWinsAndFallsBackWhenItsCircuitIsOpen(t *testing.T) {
	t.Parallel()
	clock := newTestClock()
	r := newTestRouter(t, []pg.Rule{
		{PG: "kakao", Priority: 1},
		{PG: "toss", Priority: 10},
		{PG: "inicis", Priority: 1},
	}, clock)
	req := card(pg.Won(20_000))

	for range 100 {
		got, err := chosen(r, req)
		require.NoError(t, err)
		require.Equal(t, "toss", got)
	}

	openCircuit(t, r, "toss")
	seen := map[string]int{}
	for range 200 {
		got, err := chosen(r, req)
		require.NoError(t, err)
		seen[got]++
	}
	assert.Zero(t, seen["toss"])
	assert.Positive(t, seen["kakao"], "equal priorities share the picks")
	assert.Positive(t, seen["inicis"], "equal priorities share the picks")

	openCircuit(t, r, "kakao")
	for range 20 {
		got, err := chosen(r, req)
		require.NoError(t, err)
		require.Equal(t, "inicis", got)
	}

	openCircuit(t, r, "inicis")
	_, err := chosen(r, req)
	assert.ErrorIs(t, err, pg.ErrCircuitOpen, "every matching gateway is open")
	assert.NotErrorIs(t, err, pg.ErrNoRoute)

	// After the cool-down the preferred gateway gets the probe.
	clock.Advance(testCoolDown)
	got, err := chosen(r, req)
	require.NoError(t, err)
	assert.Equal(t, "toss", got)
}

func TestRouter_Weights_ShareEqualPriorityPicks(t *testing.T) {
	t.Parallel()
	reg := testRegistry(t)
	r, err := pg.NewRouter(reg, []pg.Rule{
		{PG: "toss", Priority: 5, Weight: 3},
		{PG: "kakao", Priority: 5, Weight: 1},
		{PG: "inicis", Priority: 5, Weight: 0}, // counts as 1
		{PG: "global", Priority: 4, Weight: 100},
	}, pg.RouterConfig{IntN: seededIntN(20250301)})
	require.NoError(t, err)

	const picks = 10_000
	counts := map[string]int{}
	for range picks {
		got, err := chosen(r, card(pg.Won(20_000)))
		require.NoError(t, err)
		counts[got]++
	}
	want := map[string]float64{"toss": 0.6, "kakao": 0.2, "inicis": 0.2}
	for name, share := range want {
		expected := share * picks
		assert.InDelta(t, expected, float64(counts[name]), expected*0.05,
			"%s: %d picks, want %.0f ±5%%", name, counts[name], expected)
	}
	t.Logf("picks: %v", counts)
	assert.Zero(t, counts["global"], "a lower priority is never picked while a higher one is available")
}

func TestRouter_Weights_FollowIntN(t *testing.T) {
	t.Parallel()
	// IntN decides: its value walks the candidates in rule order by weight.
	for _, tt := range []struct {
		n    int
		want string
	}{{0, "toss"}, {1, "toss"}, {2, "kakao"}, {3, "kakao"}, {4, "kakao"}} {
		var asked int
		r, err := pg.NewRouter(testRegistry(t), []pg.Rule{
			{PG: "toss", Weight: 2},
			{PG: "kakao", Weight: 3},
		}, pg.RouterConfig{IntN: func(n int) int { asked = n; return tt.n }})
		require.NoError(t, err)
		got, err := chosen(r, card(pg.Won(1000)))
		require.NoError(t, err)
		assert.Equal(t, 5, asked, "IntN gets the total weight")
		assert.Equal(t, tt.want, got, "IntN=%d", tt.n)
	}
}

func TestRouter_Circuit_OpensAfterThresholdUnavailable(t *testing.T) {
	t.Parallel()
	r := newTestRouter(t, []pg.Rule{{PG: "toss"}}, newTestClock())
	assert.Equal(t, pg.CircuitClosed, r.State("toss"))

	for i := range testThreshold - 1 {
		r.Report("toss", errUnavailable)
		assert.Equal(t, pg.CircuitClosed, r.State("toss"), "after %d failures", i+1)
		_, err := chosen(r, card(pg.Won(1000)))
		require.NoError(t, err)
	}
	r.Report("toss", fmt.Errorf("tosspay: confirm: %w", errUnavailable))
	assert.Equal(t, pg.CircuitOpen, r.State("toss"))

	_, err := chosen(r, card(pg.Won(1000)))
	assert.ErrorIs(t, err, pg.ErrCircuitOpen)
	_, err = chosen(r, pg.RouteRequest{PG: "toss", Method: pg.MethodCard, Amount: pg.Won(1000)})
	assert.ErrorIs(t, err, pg.ErrCircuitOpen)
	assert.Contains(t, err.Error(), "toss")

	assert.Equal(t, pg.CircuitClosed, r.State("kakao"), "circuits are per gateway")
	got, err := chosen(r, pg.RouteRequest{PG: "kakao", Method: pg.MethodCard, Amount: pg.Won(1000)})
	require.NoError(t, err)
	assert.Equal(t, "kakao", got)
}

func TestRouter_Circuit_HalfOpenLetsOneProbe_SuccessCloses(t *testing.T) {
	t.Parallel()
	clock := newTestClock()
	r := newTestRouter(t, []pg.Rule{{PG: "toss"}}, clock)
	req := card(pg.Won(1000))
	openCircuit(t, r, "toss")

	clock.Advance(testCoolDown - time.Second)
	assert.Equal(t, pg.CircuitOpen, r.State("toss"))
	_, err := chosen(r, req)
	assert.ErrorIs(t, err, pg.ErrCircuitOpen)

	clock.Advance(time.Second)
	assert.Equal(t, pg.CircuitHalfOpen, r.State("toss"))
	got, err := chosen(r, req)
	require.NoError(t, err, "the probe")
	assert.Equal(t, "toss", got)

	// The probe is out: nobody else gets through, by rule or by name.
	_, err = chosen(r, req)
	assert.ErrorIs(t, err, pg.ErrCircuitOpen)
	_, err = chosen(r, pg.RouteRequest{PG: "toss", Method: pg.MethodCard, Amount: pg.Won(1000)})
	assert.ErrorIs(t, err, pg.ErrCircuitOpen)

	r.Report("toss", nil)
	assert.Equal(t, pg.CircuitClosed, r.State("toss"))
	for range 10 {
		_, err := chosen(r, req)
		require.NoError(t, err)
	}

	// Closed again with a fresh count: it takes the full threshold to reopen.
	for range testThreshold - 1 {
		r.Report("toss", errUnavailable)
	}
	assert.Equal(t, pg.CircuitClosed, r.State("toss"))
}

func TestRouter_Circuit_HalfOpenProbeUnavailable_Reopens(t *testing.T) {
	t.Parallel()
	clock := newTestClock()
	r := newTestRouter(t, []pg.Rule{{PG: "toss"}}, clock)
	req := card(pg.Won(1000))
	openCircuit(t, r, "toss")

	clock.Advance(testCoolDown)
	_, err := chosen(r, req)
	require.NoError(t, err, "the probe")
	r.Report("toss", errUnavailable) // a single failure suffices in half-open
	assert.Equal(t, pg.CircuitOpen, r.State("toss"))

	clock.Advance(testCoolDown - time.Second)
	_, err = chosen(r, req)
	assert.ErrorIs(t, err, pg.ErrCircuitOpen, "the cool-down restarts when the probe fails")

	clock.Advance(time.Second)
	assert.Equal(t, pg.CircuitHalfOpen, r.State("toss"))
	_, err = chosen(r, req)
	require.NoError(t, err, "the next probe")
	_, err = chosen(r, req)
	assert.ErrorIs(t, err, pg.ErrCircuitOpen)
}

func TestRouter_Circuit_HalfOpenProbeAnswered_Closes(t *testing.T) {
	t.Parallel()
	clock := newTestClock()
	r := newTestRouter(t, []pg.Rule{{PG: "toss"}}, clock)
	openCircuit(t, r, "toss")
	clock.Advance(testCoolDown)
	_, err := chosen(r, card(pg.Won(1000)))
	require.NoError(t, err)

	// A decline is a real answer from the PG: it is up.
	r.Report("toss", &pg.Error{PG: "toss", Op: "approve", Kind: pg.KindDeclined, Code: "REJECT_CARD_COMPANY"})
	assert.Equal(t, pg.CircuitClosed, r.State("toss"))
	_, err = chosen(r, card(pg.Won(1000)))
	require.NoError(t, err)
}

func TestRouter_Circuit_ProbeThatNeverReports_FreedAfterAnotherCoolDown(t *testing.T) {
	t.Parallel()
	clock := newTestClock()
	r := newTestRouter(t, []pg.Rule{{PG: "toss"}}, clock)
	req := card(pg.Won(1000))
	openCircuit(t, r, "toss")

	clock.Advance(testCoolDown)
	_, err := chosen(r, req)
	require.NoError(t, err, "the probe, whose caller never reports")

	clock.Advance(testCoolDown - time.Second)
	_, err = chosen(r, req)
	assert.ErrorIs(t, err, pg.ErrCircuitOpen)

	clock.Advance(time.Second)
	_, err = chosen(r, req)
	require.NoError(t, err, "a second probe once the first is a cool-down old")
	_, err = chosen(r, req)
	assert.ErrorIs(t, err, pg.ErrCircuitOpen, "still one probe at a time")
}

func TestRouter_Circuit_OnlyUnavailableCounts(t *testing.T) {
	t.Parallel()
	others := []error{
		&pg.Error{Kind: pg.KindDeclined},
		&pg.Error{Kind: pg.KindInvalid},
		&pg.Error{Kind: pg.KindUnknown},
		&pg.Error{Kind: pg.KindAlreadyDone},
		&pg.Error{Kind: pg.KindNotFound},
		fmt.Errorf("tosspay: approve: %w", &pg.Error{Kind: pg.KindDeclined}),
		context.DeadlineExceeded,
		context.Canceled,
		errors.New("connection reset by peer"),
	}
	for _, e := range others {
		r := newTestRouter(t, []pg.Rule{{PG: "toss"}}, newTestClock())
		for range testThreshold * 4 {
			r.Report("toss", e)
		}
		assert.Equal(t, pg.CircuitClosed, r.State("toss"), "%v", e)
		_, err := chosen(r, card(pg.Won(1000)))
		assert.NoError(t, err, "%v", e)
	}

	// Every form of Unavailable counts.
	for _, e := range []error{
		errUnavailable,
		pg.ErrUnavailable,
		fmt.Errorf("x: %w", pg.ErrUnavailable),
		&pg.Error{Kind: pg.KindForHTTPStatus(429)},
	} {
		r := newTestRouter(t, []pg.Rule{{PG: "toss"}}, newTestClock())
		for range testThreshold {
			r.Report("toss", e)
		}
		assert.Equal(t, pg.CircuitOpen, r.State("toss"), "%v", e)
	}
}

func TestRouter_Circuit_SuccessResetsTheCount(t *testing.T) {
	t.Parallel()
	r := newTestRouter(t, []pg.Rule{{PG: "toss"}}, newTestClock())
	for range testThreshold - 1 {
		r.Report("toss", errUnavailable)
	}
	r.Report("toss", nil)
	for range testThreshold - 1 {
		r.Report("toss", errUnavailable)
	}
	assert.Equal(t, pg.CircuitClosed, r.State("toss"))
	r.Report("toss", errUnavailable)
	assert.Equal(t, pg.CircuitOpen, r.State("toss"))
}

func TestRouter_Config_Defaults(t *testing.T) {
	t.Parallel()
	r, err := pg.NewRouter(testRegistry(t), []pg.Rule{{PG: "toss"}}, pg.RouterConfig{})
	require.NoError(t, err)
	for range 4 {
		r.Report("toss", errUnavailable)
	}
	assert.Equal(t, pg.CircuitClosed, r.State("toss"), "default threshold is 5")
	r.Report("toss", errUnavailable)
	assert.Equal(t, pg.CircuitOpen, r.State("toss"), "the default cool-down (30s) has not passed")
	assert.Equal(t, pg.CircuitClosed, r.State("never-reported"))
}

func TestNewRouter_Validation(t *testing.T) {
	t.Parallel()
	reg := testRegistry(t)
	tests := []struct {
		name     string
		reg      *pg.Registry
		rules    []pg.Rule
		wantErr  error  // checked with errors.Is when set
		contains string // checked when set
	}{
		{"nil registry", nil, nil, nil, "registry"},
		{"unregistered gateway", reg, []pg.Rule{{PG: "toss"}, {PG: "nope"}}, pg.ErrNoGateway, "rule 1"},
		{"empty gateway name", reg, []pg.Rule{{}}, pg.ErrNoGateway, "rule 0"},
		{"negative weight", reg, []pg.Rule{{PG: "toss", Weight: -1}}, nil, "negative weight"},
		{"min above max", reg, []pg.Rule{{PG: "toss", MinAmount: pg.Won(2000), MaxAmount: pg.Won(1000)}}, nil, "bad amount range"},
		{"min and max in two currencies", reg, []pg.Rule{{PG: "toss", MinAmount: pg.Won(1), MaxAmount: usd("100")}}, nil, "bad amount range"},
	}
	for _, tt := range tests {
		r, err := pg.NewRouter(tt.reg, tt.rules, pg.RouterConfig{})
		require.Error(t, err, tt.name)
		assert.Nil(t, r, tt.name)
		if tt.wantErr != nil {
			assert.ErrorIs(t, err, tt.wantErr, tt.name)
		}
		assert.Contains(t, err.Error(), tt.contains, tt.name)
	}

	for _, rules := range [][]pg.Rule{
		nil,
		{{PG: "toss", MinAmount: pg.Won(1000), MaxAmount: pg.Won(1000)}},
		{{PG: "toss", MinAmount: pg.Won(1000)}},
		{{PG: "toss", MaxAmount: pg.Won(1000)}},
	} {
		_, err := pg.NewRouter(reg, rules, pg.RouterConfig{})
		assert.NoError(t, err, "%+v", rules)
	}

	empty, err := pg.NewRouter(reg, nil, pg.RouterConfig{})
	require.NoError(t, err)
	_, err = empty.Choose(card(pg.Won(1000)))
	assert.ErrorIs(t, err, pg.ErrNoRoute, "no rules, no route")
}

func TestNewRouter_KeepsItsOwnCopyOfTheRules(t *testing.T) {
	t.Parallel()
	rules := []pg.Rule{{PG: "toss"}}
	r := newTestRouter(t, rules, newTestClock())
	rules[0].PG = "kakao"
	got, err := chosen(r, card(pg.Won(1000)))
	require.NoError(t, err)
	assert.Equal(t, "toss", got)
}

func TestRouter_ConcurrentChooseAndReport(t *testing.T) {
	t.Parallel()
	clock := newTestClock()
	r := newTestRouter(t, []pg.Rule{
		{PG: "toss", Priority: 1, Weight: 2},
		{PG: "inicis", Priority: 1},
		{PG: "kakao", Priority: 0},
	}, clock)

	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for j := range 200 {
				g, err := r.Choose(card(pg.Won(int64(1000 + j))))
				if err != nil {
					assert.ErrorIs(t, err, pg.ErrCircuitOpen)
					continue
				}
				switch {
				case (i+j)%7 == 0:
					r.Report(g.Name(), errUnavailable)
				case (i+j)%5 == 0:
					r.Report(g.Name(), &pg.Error{Kind: pg.KindDeclined})
				default:
					r.Report(g.Name(), nil)
				}
				_ = r.State(g.Name())
				if j%50 == 0 {
					clock.Advance(testCoolDown / 2)
				}
			}
		})
	}
	wg.Wait()
}

func TestRouter_Circuit_AnswerFromThePGBreaksTheRun_TimeoutDoesNot(t *testing.T) {
	t.Parallel()
	declined := &pg.Error{PG: "toss", Kind: pg.KindDeclined}
	timeout := &pg.Error{PG: "toss", Kind: pg.KindUnknown}

	r := newTestRouter(t, []pg.Rule{{PG: "toss"}}, newTestClock())
	for range testThreshold - 1 {
		r.Report("toss", errUnavailable)
	}
	r.Report("toss", declined)
	for range testThreshold - 1 {
		r.Report("toss", errUnavailable)
	}
	assert.Equal(t, pg.CircuitClosed, r.State("toss"), "a decline resets the run of Unavailable errors")

	r = newTestRouter(t, []pg.Rule{{PG: "toss"}}, newTestClock())
	for range testThreshold - 1 {
		r.Report("toss", errUnavailable)
	}
	r.Report("toss", timeout)
	r.Report("toss", errUnavailable)
	assert.Equal(t, pg.CircuitOpen, r.State("toss"), "a timeout neither counts nor resets")
}

func TestRouter_Circuit_HalfOpenProbeTimedOut_StaysHalfOpen(t *testing.T) {
	t.Parallel()
	clock := newTestClock()
	r := newTestRouter(t, []pg.Rule{{PG: "toss"}}, clock)
	openCircuit(t, r, "toss")
	clock.Advance(testCoolDown)
	_, err := chosen(r, card(pg.Won(1000)))
	require.NoError(t, err, "the probe")

	r.Report("toss", &pg.Error{PG: "toss", Kind: pg.KindUnknown})
	assert.Equal(t, pg.CircuitHalfOpen, r.State("toss"), "a timed-out probe proves nothing")
	_, err = chosen(r, card(pg.Won(1000)))
	assert.ErrorIs(t, err, pg.ErrCircuitOpen, "the probe slot stays taken until a cool-down passes")
}
