package pg

import (
	"errors"
	"fmt"
	"sort"
	"sync"
)

// ErrNoGateway is returned for a name no gateway was registered under.
var ErrNoGateway = errors.New("pg: no such gateway")

// Registry holds gateways by name. The zero Registry is ready to use and is
// safe for concurrent use. There is deliberately no package-level registry:
// a host app builds one, so two apps (or tests) in one process never share
// adapters by accident.
type Registry struct {
	mu       sync.RWMutex
	gateways map[string]Gateway
}

// NewRegistry returns a registry holding gws.
func NewRegistry(gws ...Gateway) (*Registry, error) {
	r := &Registry{}
	for _, g := range gws {
		if err := r.Register(g); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// Register adds g under g.Name(). A name may be registered once.
func (r *Registry) Register(g Gateway) error {
	if g == nil {
		return errors.New("pg: register nil gateway")
	}
	name := g.Name()
	if name == "" {
		return errors.New("pg: register gateway with empty name")
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.gateways == nil {
		r.gateways = map[string]Gateway{}
	}
	if _, dup := r.gateways[name]; dup {
		return fmt.Errorf("pg: gateway %q registered twice", name)
	}
	r.gateways[name] = g
	return nil
}

// Get returns the gateway registered under name.
func (r *Registry) Get(name string) (Gateway, error) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	g, ok := r.gateways[name]
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrNoGateway, name)
	}
	return g, nil
}

// Names lists the registered names, sorted.
func (r *Registry) Names() []string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	names := make([]string, 0, len(r.gateways))
	for n := range r.gateways {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}
