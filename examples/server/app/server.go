package app

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// ServerConfig holds the HTTP server's timeouts. Zero fields take the
// defaults below.
type ServerConfig struct {
	// ReadHeaderTimeout bounds reading a request's header.
	ReadHeaderTimeout time.Duration
	// ReadTimeout bounds reading a whole request, body included: a body
	// trickled a byte at a time is cut off.
	ReadTimeout time.Duration
	// WriteTimeout bounds a request from the end of its header to the end
	// of its answer. It must outlast the slowest handler: an approval
	// waits for the PG (and its retries).
	WriteTimeout time.Duration
	// IdleTimeout bounds how long a keep-alive connection waits for its
	// next request.
	IdleTimeout time.Duration
}

// Defaults of ServerConfig.
const (
	DefaultReadHeaderTimeout = 5 * time.Second
	DefaultReadTimeout       = 15 * time.Second
	DefaultWriteTimeout      = 60 * time.Second
	DefaultIdleTimeout       = 60 * time.Second
)

func (c ServerConfig) withDefaults() ServerConfig {
	for _, f := range []struct {
		v   *time.Duration
		def time.Duration
	}{
		{&c.ReadHeaderTimeout, DefaultReadHeaderTimeout}, {&c.ReadTimeout, DefaultReadTimeout},
		{&c.WriteTimeout, DefaultWriteTimeout}, {&c.IdleTimeout, DefaultIdleTimeout},
	} {
		if *f.v <= 0 {
			*f.v = f.def
		}
	}
	return c
}

// Server is the app's HTTP/1.1 server: net/http with cfg's timeouts, and a
// guard against request smuggling. A request carrying both Content-Length
// and Transfer-Encoding is answered 400 and its connection closed (RFC 9112
// section 6.3): a proxy in front may have framed it by the other header,
// and what it took for the next request would otherwise be served. net/http
// accepts such a request, framing it by Transfer-Encoding, and removes
// Content-Length before a handler sees it, so the guard reads the raw
// request header off the connection. A chunked request's connection is
// closed after its answer, so only Content-Length framing needs following.
type Server struct {
	*http.Server
}

// NewServer returns the server for h (normally App.Handler) with cfg's
// timeouts. Serve it with Server.Serve, which installs the guard.
func NewServer(h http.Handler, cfg ServerConfig) *Server {
	cfg = cfg.withDefaults()
	return &Server{Server: &http.Server{
		Handler:           framingGuard(h),
		ReadHeaderTimeout: cfg.ReadHeaderTimeout,
		ReadTimeout:       cfg.ReadTimeout,
		WriteTimeout:      cfg.WriteTimeout,
		IdleTimeout:       cfg.IdleTimeout,
		ConnContext: func(ctx context.Context, c net.Conn) context.Context {
			if gc, ok := c.(*guardConn); ok {
				return context.WithValue(ctx, guardConnKey{}, gc)
			}
			return ctx
		},
	}}
}

// Serve accepts connections on ln and serves them until Shutdown or Close.
func (s *Server) Serve(ln net.Listener) error {
	return s.Server.Serve(guardListener{ln})
}

type guardConnKey struct{}

// framingGuard answers a request whose header had both Content-Length and
// Transfer-Encoding with 400 and closes its connection; a chunked request's
// connection is closed after its answer.
func framingGuard(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gc, _ := r.Context().Value(guardConnKey{}).(*guardConn)
		if gc == nil {
			next.ServeHTTP(w, r)
			return
		}
		f := gc.next()
		if f.chunked {
			w.Header().Set("Connection", "close")
		}
		if f.ambiguous {
			w.Header().Set("X-Content-Type-Options", "nosniff")
			writeError(w, http.StatusBadRequest, "AMBIGUOUS_FRAMING",
				"a request may not carry both Content-Length and Transfer-Encoding")
			return
		}
		next.ServeHTTP(w, r)
	})
}

type guardListener struct{ net.Listener }

func (l guardListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &guardConn{Conn: c}, nil
}

// framing is what the guard learned about one request's header.
type framing struct{ chunked, ambiguous bool }

// maxGuardHeader is past net/http's own limit (DefaultMaxHeaderBytes plus
// its slack), so a header that large is refused by net/http first.
const maxGuardHeader = http.DefaultMaxHeaderBytes + 8<<10

// guardConn watches the bytes net/http reads: it finds each request's
// header block, notes its framing headers and skips its Content-Length
// body to find the next one. net/http reads a connection from one
// goroutine at a time; handlers take the notes in request order.
type guardConn struct {
	net.Conn

	// Scanner state, touched only by Read.
	line      []byte
	inHeader  bool // a request line was seen; header lines follow
	hasCL     bool
	hasTE     bool
	clValue   string
	headerLen int
	skip      int64 // body bytes still to pass over
	off       bool  // stopped: the connection closes after this request

	mu    sync.Mutex
	notes []framing
}

func (c *guardConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 {
		c.scan(p[:n])
	}
	return n, err
}

// next returns the framing of the next request served on the connection.
func (c *guardConn) next() framing {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.notes) == 0 {
		return framing{}
	}
	f := c.notes[0]
	c.notes = c.notes[1:]
	return f
}

func (c *guardConn) note(f framing) {
	c.mu.Lock()
	c.notes = append(c.notes, f)
	c.mu.Unlock()
}

func (c *guardConn) scan(b []byte) {
	for len(b) > 0 && !c.off {
		if c.skip > 0 {
			k := min(int64(len(b)), c.skip)
			c.skip -= k
			b = b[k:]
			continue
		}
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			c.addLine(b)
			return
		}
		c.addLine(b[:i])
		b = b[i+1:]
		c.endLine()
	}
}

func (c *guardConn) addLine(b []byte) {
	c.headerLen += len(b)
	if c.headerLen > maxGuardHeader {
		c.off = true // net/http refuses the header and closes
		return
	}
	c.line = append(c.line, b...)
}

func (c *guardConn) endLine() {
	line := bytes.TrimSuffix(c.line, []byte("\r"))
	c.line = c.line[:0]
	c.headerLen++
	switch {
	case !c.inHeader && len(line) == 0:
		// A blank line before a request line: nothing yet.
	case !c.inHeader:
		c.inHeader = true
	case len(line) == 0:
		c.endHeader()
	default:
		name, value, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			return
		}
		switch {
		case bytes.EqualFold(bytes.TrimSpace(name), []byte("Content-Length")):
			c.hasCL = true
			c.clValue = string(bytes.TrimSpace(value))
		case bytes.EqualFold(bytes.TrimSpace(name), []byte("Transfer-Encoding")):
			c.hasTE = true
		}
	}
}

func (c *guardConn) endHeader() {
	f := framing{chunked: c.hasTE, ambiguous: c.hasCL && c.hasTE}
	c.note(f)
	cl := c.clValue
	hasCL := c.hasCL
	c.inHeader, c.hasCL, c.hasTE, c.clValue, c.headerLen = false, false, false, "", 0
	switch {
	case f.chunked:
		// The connection closes after this request's answer.
		c.off = true
	case hasCL:
		n, err := strconv.ParseInt(cl, 10, 64)
		if err != nil || n < 0 {
			c.off = true // net/http refuses it and closes
			return
		}
		c.skip = n
	}
}
