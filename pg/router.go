package pg

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"
)

// Router chooses the gateway for a new checkout. It is used once, at prepare
// time: an approval always goes to the PG the buyer authenticated with and is
// never re-routed, because the buyer's authentication is only valid there.
//
// Among the rules that match a request, the highest priority wins; rules of
// equal priority share the picks by weight. A gateway whose circuit is open
// (too many consecutive Unavailable errors reported through Report) is
// skipped until its cool-down has passed; then a single probe request is let
// through (half-open) and its outcome closes or re-opens the circuit.
type Router struct {
	reg   *Registry
	rules []Rule
	cfg   RouterConfig

	mu       sync.Mutex
	circuits map[string]*circuit
}

// Rule makes a gateway eligible for the requests it matches.
type Rule struct {
	PG       string
	Priority int // higher is preferred
	Weight   int // share among rules of equal priority; 0 means 1
	// Methods the rule applies to; empty means every method.
	Methods []Method
	// Currencies the rule applies to; empty means what the gateway's
	// capabilities accept.
	Currencies []Currency
	// MinAmount and MaxAmount bound the amount, both inclusive; unset means
	// no bound.
	MinAmount, MaxAmount Money
}

// RouterConfig tunes the circuit breaker and makes the router testable.
type RouterConfig struct {
	// FailureThreshold consecutive Unavailable errors open a circuit.
	// Default 5.
	FailureThreshold int
	// CoolDown is how long an open circuit stays open before a probe.
	// Default 30s.
	CoolDown time.Duration
	// Now is the clock; default time.Now.
	Now func() time.Time
	// IntN returns a uniform int in [0,n); default math/rand/v2.IntN.
	IntN func(n int) int
}

// RouteRequest describes the checkout being routed.
type RouteRequest struct {
	// PG, when set, names the gateway explicitly (the buyer picked it).
	PG     string
	Method Method
	Amount Money
}

// CircuitState is a gateway's breaker state.
type CircuitState string

const (
	CircuitClosed   CircuitState = "closed"
	CircuitOpen     CircuitState = "open"
	CircuitHalfOpen CircuitState = "half-open"
)

// Errors returned by Choose.
var (
	ErrNoRoute     = errors.New("pg: no gateway matches")
	ErrCircuitOpen = errors.New("pg: gateway circuit open")
)

type circuit struct {
	failures   int
	openedAt   time.Time
	open       bool
	probeSince time.Time // when the half-open probe was handed out; zero if none
}

// NewRouter validates rules against the registry.
func NewRouter(reg *Registry, rules []Rule, cfg RouterConfig) (*Router, error) {
	if reg == nil {
		return nil, errors.New("pg: router needs a registry")
	}
	for i, r := range rules {
		if _, err := reg.Get(r.PG); err != nil {
			return nil, fmt.Errorf("pg: rule %d: %w", i, err)
		}
		if r.Weight < 0 {
			return nil, fmt.Errorf("pg: rule %d: negative weight", i)
		}
		if r.MinAmount.IsSet() && r.MaxAmount.IsSet() {
			if c, err := r.MinAmount.Cmp(r.MaxAmount); err != nil || c > 0 {
				return nil, fmt.Errorf("pg: rule %d: bad amount range %s..%s", i, r.MinAmount, r.MaxAmount)
			}
		}
	}
	if cfg.FailureThreshold <= 0 {
		cfg.FailureThreshold = 5
	}
	if cfg.CoolDown <= 0 {
		cfg.CoolDown = 30 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.IntN == nil {
		cfg.IntN = rand.IntN
	}
	return &Router{reg: reg, rules: append([]Rule(nil), rules...), cfg: cfg, circuits: map[string]*circuit{}}, nil
}

// Choose picks the gateway for req.
func (r *Router) Choose(req RouteRequest) (Gateway, error) {
	if req.Amount.IsSet() && !req.Amount.IsPositive() {
		return nil, fmt.Errorf("%w: amount must be positive", ErrInvalidMoney)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.cfg.Now()

	if req.PG != "" {
		g, err := r.reg.Get(req.PG)
		if err != nil {
			return nil, err
		}
		if !r.fitsGateway(g, req) {
			return nil, fmt.Errorf("%w: %s does not accept %s by %q", ErrNoRoute, req.PG, req.Amount, req.Method)
		}
		if !r.allowLocked(req.PG, now) {
			return nil, fmt.Errorf("%w: %s", ErrCircuitOpen, req.PG)
		}
		r.takeProbeLocked(req.PG, now)
		return g, nil
	}

	type cand struct {
		g      Gateway
		weight int
	}
	var best []cand
	bestPrio, matched := 0, false
	for _, rule := range r.rules {
		g, err := r.reg.Get(rule.PG)
		if err != nil || !rule.matches(req) || !r.fitsGateway(g, req) {
			continue
		}
		matched = true
		if !r.allowLocked(rule.PG, now) {
			continue
		}
		w := rule.Weight
		if w == 0 {
			w = 1
		}
		switch {
		case len(best) == 0 || rule.Priority > bestPrio:
			best, bestPrio = []cand{{g, w}}, rule.Priority
		case rule.Priority == bestPrio:
			best = append(best, cand{g, w})
		}
	}
	if len(best) == 0 {
		if matched {
			return nil, fmt.Errorf("%w: every matching gateway is unavailable", ErrCircuitOpen)
		}
		return nil, fmt.Errorf("%w: %s by %q", ErrNoRoute, req.Amount, req.Method)
	}
	total := 0
	for _, c := range best {
		total += c.weight
	}
	n := r.cfg.IntN(total)
	for _, c := range best {
		if n < c.weight {
			r.takeProbeLocked(c.g.Name(), now)
			return c.g, nil
		}
		n -= c.weight
	}
	return best[len(best)-1].g, nil
}

// Report records the outcome of a call to the named gateway. Consecutive
// Unavailable errors count against the circuit; a success or any definite
// answer from the PG (a decline, a refusal) closes it and resets the count;
// an Unknown outcome (a timeout) says nothing certain and changes nothing.
func (r *Router) Report(name string, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	c := r.circuits[name]
	if c == nil {
		c = &circuit{}
		r.circuits[name] = c
	}
	switch kind := KindOf(err); {
	case err == nil:
		*c = circuit{}
	case kind == KindUnavailable:
		c.failures++
		halfOpenProbe := !c.probeSince.IsZero()
		if halfOpenProbe || c.failures >= r.cfg.FailureThreshold {
			c.open, c.openedAt, c.probeSince = true, r.cfg.Now(), time.Time{}
		}
	case kind == KindUnknown:
		// A timeout says nothing certain either way: the PG may be slow or
		// down. Leave the count and any probe as they are.
	default:
		// A decline or a refusal is a real answer: the PG is up, so the run
		// of consecutive Unavailable errors is broken.
		*c = circuit{}
	}
}

// State returns the named gateway's breaker state.
func (r *Router) State(name string) CircuitState {
	r.mu.Lock()
	defer r.mu.Unlock()
	c := r.circuits[name]
	if c == nil || !c.open {
		return CircuitClosed
	}
	if r.cfg.Now().Sub(c.openedAt) >= r.cfg.CoolDown {
		return CircuitHalfOpen
	}
	return CircuitOpen
}

// allowLocked reports whether a request may go to name now.
func (r *Router) allowLocked(name string, now time.Time) bool {
	c := r.circuits[name]
	if c == nil || !c.open {
		return true
	}
	if now.Sub(c.openedAt) < r.cfg.CoolDown {
		return false
	}
	// Half-open: one probe at a time; a probe that never reported back
	// frees the slot after another cool-down.
	return c.probeSince.IsZero() || now.Sub(c.probeSince) >= r.cfg.CoolDown
}

func (r *Router) takeProbeLocked(name string, now time.Time) {
	if c := r.circuits[name]; c != nil && c.open {
		c.probeSince = now
	}
}

func (r *Router) fitsGateway(g Gateway, req RouteRequest) bool {
	caps := g.Capabilities()
	if req.Amount.IsSet() {
		if !caps.SupportsCurrency(req.Amount.Currency()) {
			return false
		}
		// The minimum is in one currency and bounds only amounts in it.
		if caps.MinAmount.IsSet() && caps.MinAmount.Currency() == req.Amount.Currency() {
			if c, err := req.Amount.Cmp(caps.MinAmount); err != nil || c < 0 {
				return false
			}
		}
	}
	return caps.SupportsMethod(req.Method)
}

func (rule Rule) matches(req RouteRequest) bool {
	if len(rule.Methods) > 0 {
		ok := false
		for _, m := range rule.Methods {
			ok = ok || m == req.Method
		}
		if !ok {
			return false
		}
	}
	if !req.Amount.IsSet() {
		return len(rule.Currencies) == 0 && !rule.MinAmount.IsSet() && !rule.MaxAmount.IsSet()
	}
	if len(rule.Currencies) > 0 {
		ok := false
		for _, c := range rule.Currencies {
			ok = ok || c == req.Amount.Currency()
		}
		if !ok {
			return false
		}
	}
	if rule.MinAmount.IsSet() {
		if c, err := req.Amount.Cmp(rule.MinAmount); err != nil || c < 0 {
			return false
		}
	}
	if rule.MaxAmount.IsSet() {
		if c, err := req.Amount.Cmp(rule.MaxAmount); err != nil || c > 0 {
			return false
		}
	}
	return true
}
