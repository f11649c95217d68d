package app

import (
	"bufio"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"net"
	"net/http"
	"net/netip"
	"strings"

	"github.com/paygate/paygate/pg/pgtest"
)

// Headers every answer carries. HTML pages also get a Content-Security-Policy
// (defaultPageCSP unless the page set its own) and may not be framed.
const (
	// defaultPageCSP is the policy of a page without scripts or styles of
	// its own (the sandbox PGs' windows): nothing loads, forms post only
	// here, and no other site may frame it.
	defaultPageCSP = "default-src 'none'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)

// headerWriter adds the security headers to an answer just before its
// header is sent. It passes Flush and Hijack through (the sandbox PGs drop
// connections to play lost answers).
type headerWriter struct {
	http.ResponseWriter
	wrote bool
}

func secureHeaders(w http.ResponseWriter) *headerWriter { return &headerWriter{ResponseWriter: w} }

func (w *headerWriter) addHeaders() {
	if w.wrote {
		return
	}
	w.wrote = true
	h := w.Header()
	h.Set("X-Content-Type-Options", "nosniff")
	if strings.HasPrefix(strings.ToLower(h.Get("Content-Type")), "text/html") {
		if h.Get("Content-Security-Policy") == "" {
			h.Set("Content-Security-Policy", defaultPageCSP)
		}
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "no-referrer")
	}
}

func (w *headerWriter) WriteHeader(status int) {
	w.addHeaders()
	w.ResponseWriter.WriteHeader(status)
}

func (w *headerWriter) Write(b []byte) (int, error) {
	if !w.wrote {
		if w.Header().Get("Content-Type") == "" {
			// What net/http would sniff, decided here so the page
			// headers follow it.
			w.Header().Set("Content-Type", http.DetectContentType(b))
		}
		w.addHeaders()
	}
	return w.ResponseWriter.Write(b)
}

// finish adds the headers to an answer whose handler wrote nothing.
func (w *headerWriter) finish() {
	if !w.wrote {
		w.WriteHeader(http.StatusOK)
	}
}

func (w *headerWriter) Flush() {
	w.addHeaders()
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (w *headerWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	w.wrote = true // nothing more goes through this writer
	if h, ok := w.ResponseWriter.(http.Hijacker); ok {
		return h.Hijack()
	}
	return nil, nil, errors.New("the connection cannot be taken over")
}

func (w *headerWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// newNonce returns a fresh CSP nonce for one page, in the URL alphabet so
// no HTML escaping touches it.
func newNonce() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on supported platforms
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// sandboxGuard serves a sandbox PG mounted at /sandbox/{name}/: what the PG
// itself serves (its API, which takes this start's random keys, and the
// buyer's payment window) to anyone, and the sandbox's test controls
// (under pgtest.ControlPrefix: playing the buyer at the sandbox itself,
// deposits, scripted faults, its ledger) only to a client connected from a
// loopback address. The peer address of the connection decides, never a
// header a client or proxy can set.
func sandboxGuard(name string, sb http.Handler) http.Handler {
	prefix := "/sandbox/" + name
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if pgtest.IsControlPath(strings.TrimPrefix(r.URL.Path, prefix)) && !loopbackPeer(r) {
			writeError(w, http.StatusNotFound, "NOT_FOUND", "no such endpoint")
			return
		}
		sb.ServeHTTP(w, r)
	})
}

// loopbackPeer reports whether the request's connection comes from this
// machine.
func loopbackPeer(r *http.Request) bool {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return false
	}
	addr, err := netip.ParseAddr(host)
	return err == nil && addr.Unmap().IsLoopback()
}
