package pghttp

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/paygate/paygate/pg"
)

// countingServer serves h and counts the requests that reached it.
func countingServer(t *testing.T, h http.HandlerFunc) (*httptest.Server, *atomic.Int32) {
	t.Helper()
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		h(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv, &n
}

// fastClient resends quickly so tests do not sit in backoff.
func fastClient() *Client {
	c := New("testpg")
	c.BackoffMin, c.BackoffMax = time.Millisecond, 5*time.Millisecond
	c.HTTPClient = &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()}
	return c
}

func post(url string, idempotent bool) *Request {
	return &Request{Op: "approve", Method: http.MethodPost, URL: url, Body: []byte(`{"a":1}`), Idempotent: idempotent}
}

// resetAfterRequest reads the request, then drops the connection with an RST:
// the PG got the request and the client never gets an answer.
func resetAfterRequest(w http.ResponseWriter, r *http.Request) {
	_, _ = io.Copy(io.Discard, r.Body)
	conn, _, err := w.(http.Hijacker).Hijack()
	if err != nil {
		panic(err)
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = conn.Close()
}

// cutMidBody promises 100 bytes and sends 10.
func cutMidBody(w http.ResponseWriter, r *http.Request) {
	conn, buf, err := w.(http.Hijacker).Hijack()
	if err != nil {
		panic(err)
	}
	_, _ = buf.WriteString("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"status\":")
	_ = buf.Flush()
	_ = conn.Close()
}

// hang answers only when the client has given up. Reading the body first
// lets the server notice the client closing the connection.
func hang(_ http.ResponseWriter, r *http.Request) {
	_, _ = io.Copy(io.Discard, r.Body)
	select {
	case <-r.Context().Done():
	case <-time.After(time.Minute):
	}
}

func TestDo_TransportFailures_ClassifiedAndResentOnlyWhenSafe(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		handler    http.HandlerFunc
		req        func(url string) *Request
		wantKind   pg.Kind
		wantServed int32
	}{
		{"reset after request, not idempotent: sent once, unknown", resetAfterRequest, func(u string) *Request { return post(u, false) }, pg.KindUnknown, 1},
		{"reset after request, idempotent: resent, unknown", resetAfterRequest, func(u string) *Request { return post(u, true) }, pg.KindUnknown, 3},
		{"reset after request, GET: resent, unknown", resetAfterRequest, func(u string) *Request { return &Request{Method: http.MethodGet, URL: u} }, pg.KindUnknown, 3},
		{"cut mid body, not idempotent: sent once, unknown", cutMidBody, func(u string) *Request { return post(u, false) }, pg.KindUnknown, 1},
		{"cut mid body, idempotent: resent, unknown", cutMidBody, func(u string) *Request { return post(u, true) }, pg.KindUnknown, 3},
		{"slow server, not idempotent: sent once, unknown", hang, func(u string) *Request {
			r := post(u, false)
			r.Timeout = 150 * time.Millisecond
			return r
		}, pg.KindUnknown, 1},
		{"slow server, idempotent: resent, unknown", hang, func(u string) *Request {
			r := post(u, true)
			r.Timeout = 150 * time.Millisecond
			return r
		}, pg.KindUnknown, 3},
		{"body over the cap: unknown", func(w http.ResponseWriter, _ *http.Request) {
			_, _ = w.Write(bytes.Repeat([]byte("x"), 2048))
		}, func(u string) *Request {
			r := post(u, false)
			r.MaxResponseBytes = 1024
			return r
		}, pg.KindUnknown, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv, served := countingServer(t, tt.handler)
			resp, err := fastClient().Do(context.Background(), tt.req(srv.URL))
			require.Error(t, err)
			assert.Nil(t, resp)
			assert.Equal(t, tt.wantKind, pg.KindOf(err), "%v", err)
			var pe *pg.Error
			require.ErrorAs(t, err, &pe)
			assert.Equal(t, "testpg", pe.PG)
			assert.Equal(t, tt.wantServed, served.Load(), "requests that reached the server")
		})
	}
}

func TestDo_ConnectionRefused_UnavailableAndResentUpToMaxAttempts(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())

	for _, idempotent := range []bool{false, true} {
		t.Run(fmt.Sprintf("idempotent=%v", idempotent), func(t *testing.T) {
			t.Parallel()
			var dials atomic.Int32
			tr := http.DefaultTransport.(*http.Transport).Clone()
			dialer := &net.Dialer{}
			tr.DialContext = func(ctx context.Context, network, a string) (net.Conn, error) {
				dials.Add(1)
				return dialer.DialContext(ctx, network, a)
			}
			c := fastClient()
			c.HTTPClient = &http.Client{Transport: tr}
			_, err := c.Do(context.Background(), post("http://"+addr+"/v1/payments/confirm", idempotent))
			require.Error(t, err)
			assert.True(t, errors.Is(err, pg.ErrUnavailable), "%v", err)
			assert.True(t, errors.Is(err, syscall.ECONNREFUSED), "cause kept: %v", err)
			assert.Equal(t, int32(DefaultMaxAttempts), dials.Load())
		})
	}
}

func TestDo_DNSFailure_Unavailable(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c := fastClient()
	c.MaxAttempts = 1
	_, err := c.Do(ctx, post("http://paygate-no-such-host.invalid/v1/x", false))
	require.Error(t, err)
	assert.Equal(t, pg.KindUnavailable, pg.KindOf(err), "%v", err)
}

func TestDo_StatusAnswers_ResentOnlyWhenSafe(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		status     int
		req        func(url string) *Request
		wantServed int32
		wantKind   pg.Kind
	}{
		{"500 without idempotency flag: once", 500, func(u string) *Request { return post(u, false) }, 1, pg.KindUnknown},
		{"500 with idempotency flag: resent", 500, func(u string) *Request { return post(u, true) }, 3, pg.KindUnknown},
		{"502 on GET: resent", 502, func(u string) *Request { return &Request{Method: http.MethodGet, URL: u} }, 3, pg.KindUnknown},
		{"501 with idempotency flag: once", 501, func(u string) *Request { return post(u, true) }, 1, pg.KindUnknown},
		{"503 without idempotency flag: resent", 503, func(u string) *Request { return post(u, false) }, 3, pg.KindUnavailable},
		{"429 without idempotency flag: resent", 429, func(u string) *Request { return post(u, false) }, 3, pg.KindUnavailable},
		{"400: once", 400, func(u string) *Request { return post(u, true) }, 1, pg.KindInvalid},
		{"404: once, never read as no such payment", 404, func(u string) *Request { return post(u, true) }, 1, pg.KindInvalid},
		{"408 without idempotency flag: resent", 408, func(u string) *Request { return post(u, false) }, 3, pg.KindUnavailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv, served := countingServer(t, func(w http.ResponseWriter, _ *http.Request) {
				w.WriteHeader(tt.status)
				_, _ = w.Write([]byte(`{"code":"X","message":"m"}`))
			})
			resp, err := fastClient().Do(context.Background(), tt.req(srv.URL))
			require.NoError(t, err, "an HTTP answer is returned for the adapter to map")
			assert.Equal(t, tt.status, resp.StatusCode)
			assert.JSONEq(t, `{"code":"X","message":"m"}`, string(resp.Body))
			assert.Equal(t, int(tt.wantServed), resp.Attempts)
			assert.Equal(t, tt.wantServed, served.Load())
			se := resp.StatusError("testpg", "approve")
			assert.Equal(t, tt.wantKind, se.Kind)
			assert.Equal(t, tt.status, se.HTTPStatus)
		})
	}
}

func TestDo_429_HonoursRetryAfter(t *testing.T) {
	t.Parallel()
	var served atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if served.Add(1) == 1 {
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusTooManyRequests)
			return
		}
		_, _ = w.Write([]byte(`{"ok":true}`))
	}))
	defer srv.Close()
	start := time.Now()
	resp, err := fastClient().Do(context.Background(), post(srv.URL, false))
	require.NoError(t, err)
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, 2, resp.Attempts)
	assert.GreaterOrEqual(t, time.Since(start), 900*time.Millisecond, "waited what Retry-After asked, not the 5ms backoff")
}

func TestDo_RetryAfterPastDeadline_ReturnsTheAnswerWithoutWaiting(t *testing.T) {
	t.Parallel()
	for _, retryAfter := range []string{"30", "3600"} {
		t.Run(retryAfter, func(t *testing.T) {
			t.Parallel()
			srv, served := countingServer(t, func(w http.ResponseWriter, _ *http.Request) {
				w.Header().Set("Retry-After", retryAfter)
				w.WriteHeader(http.StatusServiceUnavailable)
			})
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			resp, err := fastClient().Do(ctx, post(srv.URL, true))
			require.NoError(t, err)
			assert.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
			assert.Equal(t, 1, resp.Attempts)
			assert.Equal(t, int32(1), served.Load())
			assert.NoError(t, ctx.Err(), "returned before the deadline")
		})
	}
}

func TestDo_CanceledBeforeSending_Unavailable(t *testing.T) {
	t.Parallel()
	srv, served := countingServer(t, func(w http.ResponseWriter, _ *http.Request) {})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := fastClient().Do(ctx, post(srv.URL, false))
	require.Error(t, err)
	assert.Equal(t, pg.KindUnavailable, pg.KindOf(err), "%v", err)
	assert.Equal(t, int32(0), served.Load())
}

func TestDo_SendsMethodHeadersAndBodyUnchangedOnEveryAttempt(t *testing.T) {
	t.Parallel()
	type seen struct {
		method, path, key, body string
	}
	got := make(chan seen, 3)
	srv, _ := countingServer(t, func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got <- seen{r.Method, r.URL.Path, r.Header.Get("Idempotency-Key"), string(b)}
		w.WriteHeader(http.StatusInternalServerError)
	})
	req := post(srv.URL+"/v1/payments/confirm", true)
	req.Header = http.Header{"Idempotency-Key": {"k-1"}}
	resp, err := fastClient().Do(context.Background(), req)
	require.NoError(t, err)
	assert.Equal(t, 3, resp.Attempts)
	close(got)
	for s := range got {
		assert.Equal(t, seen{"POST", "/v1/payments/confirm", "k-1", `{"a":1}`}, s)
	}
}

func TestDo_RedirectNotFollowed(t *testing.T) {
	t.Parallel()
	var elsewhere atomic.Int32
	other := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { elsewhere.Add(1) }))
	defer other.Close()
	srv, _ := countingServer(t, func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, other.URL, http.StatusTemporaryRedirect)
	})
	resp, err := fastClient().Do(context.Background(), post(srv.URL, true))
	require.NoError(t, err)
	assert.Equal(t, http.StatusTemporaryRedirect, resp.StatusCode)
	assert.Equal(t, int32(0), elsewhere.Load())
}

func TestDo_BadRequest_InvalidWithoutSending(t *testing.T) {
	t.Parallel()
	for _, req := range []*Request{nil, {Method: "POST"}, {URL: "http://x"}, {Method: "BAD METHOD", URL: "http://x"}} {
		_, err := fastClient().Do(context.Background(), req)
		require.Error(t, err)
		assert.Equal(t, pg.KindInvalid, pg.KindOf(err), "%v", err)
	}
}

func TestDo_NeverLogsSecrets(t *testing.T) {
	t.Parallel()
	const secret = "test_sk_zXLkKEypNArWmo50nX3lmeaxYG5R"
	const auth = "Basic dGVzdF9za196WExrS0V5cE5BcldtbzUwblgzbG1lYXhZRzVSOg=="
	srv, _ := countingServer(t, func(w http.ResponseWriter, r *http.Request) {
		// A PG echoing what it got, in a header and in the body.
		w.Header().Set("X-Echo", r.Header.Get("Authorization")+" "+r.URL.RawQuery)
		w.WriteHeader(http.StatusInternalServerError)
		_, _ = w.Write([]byte(secret))
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	refused := ln.Addr().String()
	require.NoError(t, ln.Close())

	var buf bytes.Buffer
	var mu = make(chan struct{}, 1)
	mu <- struct{}{}
	logger := slog.New(slog.NewJSONHandler(&lockedWriter{w: &buf, mu: mu}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	c := fastClient()
	c.Logger = logger
	c.Secrets = []string{secret, auth[len("Basic "):]}
	c.SensitiveHeaders = []string{"X-Merchant-Key"}
	header := http.Header{
		"Authorization":   {auth},
		"Secret_key":      {secret},
		"X-Merchant-Key":  {"mk-9f8e7d"},
		"Idempotency-Key": {"idem-1"},
	}
	for _, u := range []string{srv.URL + "/v1/x?key=" + secret, "http://" + refused + "/v1/x?key=" + secret} {
		req := post(u, true)
		req.Header = header
		req.Body = []byte(`{"secretKey":"` + secret + `"}`)
		_, _ = c.Do(context.Background(), req)
	}
	out := buf.String()
	require.NotEmpty(t, out)
	assert.NotContains(t, out, secret)
	assert.NotContains(t, out, auth[len("Basic "):])
	assert.NotContains(t, out, "mk-9f8e7d")
	assert.Contains(t, out, Redacted)
	assert.Contains(t, out, "idem-1", "non-secret headers stay readable")
	assert.Contains(t, out, "pg call resent")
	assert.Contains(t, out, "pg call failed")
}

func TestRedactHandler_ScrubsEveryAttributeKind(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	log := slog.New(RedactHandler(slog.NewTextHandler(&buf, nil), "s3cr3t-value"))
	log = log.With("pre", "with s3cr3t-value")
	log.Info("msg s3cr3t-value",
		"str", "a s3cr3t-value b",
		"err", errors.New("failed: s3cr3t-value"),
		slog.Group("g", "inner", "s3cr3t-value"),
		"hdr", http.Header{"Authorization": {"Basic abc"}, "X-Api-Key": {"k"}},
		"any", struct{ K string }{"s3cr3t-value"},
	)
	out := buf.String()
	assert.NotContains(t, out, "s3cr3t-value")
	assert.NotContains(t, out, "Basic abc")
	assert.Equal(t, 8, strings.Count(out, Redacted), out)
}

type lockedWriter struct {
	w  io.Writer
	mu chan struct{}
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	<-l.mu
	defer func() { l.mu <- struct{}{} }()
	return l.w.Write(p)
}
