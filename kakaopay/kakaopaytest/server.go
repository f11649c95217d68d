package kakaopaytest

import (
	"net/http"
	"net/http/httptest"
)

// Server is a Sandbox listening on a local port, like httptest.Server.
type Server struct {
	*Sandbox
	// URL is the base URL of the sandbox ("http://127.0.0.1:PORT"), to use
	// as the adapter's base URL.
	URL string
	srv *httptest.Server
}

// NewServer starts a sandbox on a local port. opts.BaseURL is replaced by
// the server's address. Close it when done.
func NewServer(opts Options) *Server {
	ts := httptest.NewUnstartedServer(nil)
	opts.BaseURL = "http://" + ts.Listener.Addr().String()
	sb := New(opts)
	ts.Config.Handler = sb
	ts.Start()
	return &Server{Sandbox: sb, URL: opts.BaseURL, srv: ts}
}

// Client returns an HTTP client configured for the server.
func (s *Server) Client() *http.Client { return s.srv.Client() }

// Close shuts the server down, waiting for requests in flight.
func (s *Server) Close() { s.srv.Close() }
