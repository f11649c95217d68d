package app

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/paygate/paygate/store"
)

// startServer serves h with cfg on a loopback port and returns its address.
func startServer(t *testing.T, h http.Handler, cfg ServerConfig) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv := NewServer(h, cfg)
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	t.Cleanup(func() {
		require.NoError(t, srv.Close())
		assert.ErrorIs(t, <-done, http.ErrServerClosed)
	})
	return ln.Addr().String()
}

// safety bounds a test's wait for the server; the server's own timeouts
// are far shorter, so reaching it means the server never acted.
const safety = 20 * time.Second

func dial(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	require.NoError(t, c.SetDeadline(time.Now().Add(safety)))
	return c
}

// closedByServer reads until the server closes the connection and reports
// whether it did (rather than the test's safety deadline passing).
func closedByServer(c net.Conn) bool {
	_, err := io.Copy(io.Discard, c)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return false
	}
	return true // EOF (err == nil) or a reset
}

// lengthHandler answers how many body bytes it read.
var lengthHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	n, err := io.Copy(io.Discard, r.Body)
	if err != nil {
		http.Error(w, "unreadable", http.StatusBadRequest)
		return
	}
	fmt.Fprintf(w, "%d", n)
})

// A request with both Content-Length and Transfer-Encoding is refused and
// its connection closed, also when it follows a good request on a
// keep-alive connection; what was smuggled after it is never served.
func TestServer_ContentLengthAndTransferEncoding_RefusedAndClosed(t *testing.T) {
	a := newTestApp(t, store.SQLite, nil)
	addr := startServer(t, a.Handler(), ServerConfig{})
	smuggled := "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"

	for name, prefix := range map[string]string{
		"first request": "",
		"after a good one on the same connection": "POST /checkouts HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}",
		"after a bodiless one":                    "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n",
	} {
		t.Run(name, func(t *testing.T) {
			c := dial(t, addr)
			body := `{"orderId":"smuggle-1"}`
			_, err := fmt.Fprintf(c, "%sPOST /checkouts HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"+
				"Content-Length: %d\r\nTransfer-Encoding: chunked\r\n\r\n%x\r\n%s\r\n0\r\n\r\n%s",
				prefix, len(body), len(body), body, smuggled)
			require.NoError(t, err)
			br := bufio.NewReader(c)
			if prefix != "" {
				resp, err := http.ReadResponse(br, nil)
				require.NoError(t, err)
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				assert.NotContains(t, string(b), "AMBIGUOUS_FRAMING", "the good request is served")
				assert.False(t, resp.Close)
			}
			resp, err := http.ReadResponse(br, nil)
			require.NoError(t, err)
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			assert.Equal(t, http.StatusBadRequest, resp.StatusCode)
			assert.Contains(t, string(b), `"AMBIGUOUS_FRAMING"`)
			assert.True(t, resp.Close, "the answer closes the connection")
			_, err = http.ReadResponse(br, nil)
			assert.Error(t, err, "the smuggled request got no answer")
			assert.True(t, closedByServer(c))
		})
	}
	var n int
	require.NoError(t, a.DB().SQL().QueryRow("SELECT COUNT(*) FROM example_orders").Scan(&n))
	assert.Zero(t, n, "nothing was stored")
}

// A chunked request alone is served, and its connection closed after the
// answer; Content-Length requests keep the connection alive.
func TestServer_ChunkedServedThenClosed_ContentLengthKeptAlive(t *testing.T) {
	addr := startServer(t, lengthHandler, ServerConfig{})
	c := dial(t, addr)
	br := bufio.NewReader(c)
	for i := range 3 {
		_, err := fmt.Fprintf(c, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello")
		require.NoError(t, err)
		resp, err := http.ReadResponse(br, nil)
		require.NoError(t, err)
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		assert.Equal(t, "5", string(b), "request %d", i)
		assert.False(t, resp.Close, "kept alive")
	}
	_, err := fmt.Fprintf(c, "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n")
	require.NoError(t, err)
	resp, err := http.ReadResponse(br, nil)
	require.NoError(t, err)
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.Equal(t, "3", string(b))
	assert.True(t, resp.Close)
	assert.True(t, closedByServer(c))
}

// A body trickled a byte at a time, a header that never ends and an idle
// keep-alive connection are all cut by the server.
func TestServer_SlowClientsAreCut(t *testing.T) {
	cfg := ServerConfig{ReadHeaderTimeout: 200 * time.Millisecond, ReadTimeout: 400 * time.Millisecond,
		WriteTimeout: 2 * time.Second, IdleTimeout: 300 * time.Millisecond}
	addr := startServer(t, lengthHandler, cfg)

	t.Run("trickled body", func(t *testing.T) {
		c := dial(t, addr)
		_, err := fmt.Fprintf(c, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n")
		require.NoError(t, err)
		cut := make(chan bool, 1)
		go func() { cut <- closedByServer(c) }()
		// One byte every 50ms would take 50s; the server gives up first.
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for sent := 0; sent < 1000; sent++ {
			select {
			case closed := <-cut:
				assert.True(t, closed, "the server cut the connection")
				assert.Less(t, sent, 1000)
				return
			case <-tick.C:
			}
			if _, err := c.Write([]byte("x")); err != nil {
				return // the server closed it: a write fails
			}
		}
		t.Fatal("the server read the whole trickled body")
	})

	t.Run("header that never ends", func(t *testing.T) {
		c := dial(t, addr)
		_, err := fmt.Fprintf(c, "GET / HTTP/1.1\r\nHost: x\r\nX-Slow: ")
		require.NoError(t, err)
		assert.True(t, closedByServer(c))
	})

	t.Run("idle keep-alive connection", func(t *testing.T) {
		c := dial(t, addr)
		_, err := fmt.Fprintf(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
		require.NoError(t, err)
		br := bufio.NewReader(c)
		resp, err := http.ReadResponse(br, nil)
		require.NoError(t, err)
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		require.False(t, resp.Close, "a keep-alive connection")
		_, err = br.ReadByte()
		require.Error(t, err)
		assert.False(t, isTimeout(err), "closed by the server, not by the test's deadline: %v", err)
	})
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout() || errors.Is(err, os.ErrDeadlineExceeded)
}

func TestServerConfig_Defaults(t *testing.T) {
	s := NewServer(http.NotFoundHandler(), ServerConfig{ReadTimeout: time.Second})
	assert.Equal(t, DefaultReadHeaderTimeout, s.ReadHeaderTimeout)
	assert.Equal(t, time.Second, s.ReadTimeout)
	assert.Equal(t, DefaultWriteTimeout, s.WriteTimeout)
	assert.Equal(t, DefaultIdleTimeout, s.IdleTimeout)
}
