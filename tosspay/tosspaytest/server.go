package tosspaytest

import (
	"net/http/httptest"

	"github.com/paygate/paygate/pg/pgtest"
)

// Server is a sandbox listening on a loopback port, like httptest.Server.
type Server struct {
	*Sandbox
	// URL is the base URL to point the adapter at (tosspay.Config.BaseURL).
	URL string
	srv *httptest.Server
}

// NewServer starts a sandbox on 127.0.0.1 with a random port. When
// opts.BaseURL has a path (a prefix such as "/sandbox/tosspay"), the server
// serves under that prefix on its own address. Close it when done.
func NewServer(opts Options) *Server {
	s := New(opts)
	srv := httptest.NewServer(s)
	base := srv.URL + s.prefix
	s.setBaseURL(base)
	return &Server{Sandbox: s, URL: base, srv: srv}
}

// Close stops webhook deliveries, releases held responses and shuts the
// listener down.
func (s *Server) Close() {
	s.Sandbox.Close()
	s.srv.Close()
}

var _ pgtest.WebhookSandbox = (*Sandbox)(nil)
