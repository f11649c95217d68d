package pghttp

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptrace"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-retryablehttp"

	"github.com/paygate/paygate/pg"
)

// Defaults used where a Client or Request field is left zero.
const (
	// DefaultTimeout bounds one attempt of an ordinary PG call.
	DefaultTimeout = 10 * time.Second
	// ReportTimeout is the per-attempt timeout for report APIs (Toss
	// transactions and settlements may take up to 60 s).
	ReportTimeout = 60 * time.Second
	// DefaultMaxAttempts bounds the attempts of one call, the first included.
	DefaultMaxAttempts = 3
	// DefaultBackoffMin and DefaultBackoffMax bound the exponential backoff.
	DefaultBackoffMin = 100 * time.Millisecond
	DefaultBackoffMax = 5 * time.Second
	// DefaultMaxResponseBytes caps a response body; a larger one fails the
	// call with KindUnknown (the PG answered, we could not read the answer).
	DefaultMaxResponseBytes int64 = 8 << 20
)

// Client sends requests to one PG. Set its fields before the first Do and
// leave them alone afterwards; a Client is safe for concurrent use.
type Client struct {
	// PG names the adapter in errors and logs ("tosspay").
	PG string
	// HTTPClient sends each attempt; nil means a pooled client with no
	// overall timeout (per-attempt timeouts come from Timeout). Tests and
	// sandboxes plug their transport in here.
	HTTPClient *http.Client
	// Logger receives request logs through a redacting handler; nil means
	// no logging.
	Logger *slog.Logger
	// Secrets are values (keys, tokens, encoded Authorization values) that
	// must never appear in a log line.
	Secrets []string
	// SensitiveHeaders adds header names logged as "[REDACTED]" to the
	// built-in ones (Authorization, Proxy-Authorization, Cookie, Set-Cookie
	// and every name containing "secret", "token", "signature",
	// "password" or "api-key").
	SensitiveHeaders []string
	// Timeout bounds each attempt when the request sets none
	// (DefaultTimeout).
	Timeout time.Duration
	// MaxAttempts bounds the attempts of one call (DefaultMaxAttempts); 1
	// disables resending.
	MaxAttempts int
	// BackoffMin and BackoffMax bound the waits between attempts.
	BackoffMin, BackoffMax time.Duration
	// MaxResponseBytes caps a response body (DefaultMaxResponseBytes).
	MaxResponseBytes int64
	// CheckRetry decides whether an attempt is sent again
	// (DefaultRetryPolicy).
	CheckRetry RetryPolicy
	// Backoff says how long to wait before the next attempt
	// (DefaultBackoff).
	Backoff Backoff
	// Classify gives the kind of a failed attempt that got no response
	// (DefaultClassifier).
	Classify Classifier

	once     sync.Once
	logger   *slog.Logger
	redactor *redactor
}

// New returns a Client for the named PG with every default.
func New(pgName string) *Client { return &Client{PG: pgName} }

// Request is one PG call.
type Request struct {
	// Op names the call in errors and logs ("approve", "cancel").
	Op     string
	Method string
	// URL is absolute; the adapter joins its base URL and path.
	URL    string
	Header http.Header
	Body   []byte
	// Idempotent marks a call that carries an idempotency key the PG
	// honours: resending it returns the first result, so it is resent after
	// a timeout, a reset or a 5xx. GET and HEAD are treated as idempotent
	// whatever this says.
	Idempotent bool
	// Timeout bounds each attempt (Client.Timeout when zero).
	Timeout time.Duration
	// MaxResponseBytes caps this call's response body
	// (Client.MaxResponseBytes when zero).
	MaxResponseBytes int64
}

// idempotent reports whether resending the request after it may have been
// processed is safe.
func (r *Request) idempotent() bool {
	return r.Idempotent || r.Method == http.MethodGet || r.Method == http.MethodHead
}

// Response is the PG's answer with its body read in full.
type Response struct {
	StatusCode int
	Header     http.Header
	Body       []byte
	// Attempts is how many times the request was sent.
	Attempts int
}

// StatusError is the fallback error for a response whose body the adapter
// could not map: kind from pg.KindForHTTPStatus, the status as message.
func (r *Response) StatusError(pgName, op string) *pg.Error {
	return &pg.Error{
		PG: pgName, Op: op, Kind: pg.KindForHTTPStatus(r.StatusCode),
		HTTPStatus: r.StatusCode, Message: http.StatusText(r.StatusCode),
	}
}

// Attempt is the outcome of sending a request once, as the retry policy and
// the backoff see it.
type Attempt struct {
	Request *Request
	// Number counts attempts from 1.
	Number int
	// StatusCode, Header and Body are set when a response arrived.
	StatusCode int
	Header     http.Header
	Body       []byte
	// Err is set when no complete response arrived.
	Err error
	// Sent is false only when the request provably never reached the PG
	// (see DefaultClassifier); then nothing can have happened there.
	Sent bool
}

// RetryPolicy decides whether to send the request of a again. It is called
// after every attempt but the last allowed one; returning true schedules
// another attempt after the Backoff wait, unless that wait would pass the
// context's deadline.
type RetryPolicy func(ctx context.Context, a Attempt) bool

// Backoff returns the wait before the attempt after a.
type Backoff func(a Attempt, min, max time.Duration) time.Duration

// Classifier returns the kind of an attempt that got no complete response.
type Classifier func(err error, sent bool) pg.Kind

func (c *Client) init() {
	c.once.Do(func() {
		c.redactor = newRedactor(c.Secrets, c.SensitiveHeaders)
		if c.Logger != nil {
			c.logger = slog.New(&redactingHandler{next: c.Logger.Handler(), r: c.redactor})
		}
	})
}

func (c *Client) httpClient() *http.Client {
	if c.HTTPClient != nil {
		return c.HTTPClient
	}
	return defaultHTTPClient
}

var defaultHTTPClient = &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()}

// Do sends req under the retry policy and returns the PG's response, or a
// *pg.Error (KindUnavailable or KindUnknown) when no complete response came
// back. A response with an error status is returned as is, with a nil
// error: the adapter maps its body.
func (c *Client) Do(ctx context.Context, req *Request) (*Response, error) {
	c.init()
	if req == nil || req.Method == "" || req.URL == "" {
		return nil, &pg.Error{PG: c.PG, Op: opOf(req), Kind: pg.KindInvalid, Message: "pghttp: request needs a method and a URL"}
	}
	rreq, err := retryablehttp.NewRequestWithContext(ctx, req.Method, req.URL, bodyOf(req))
	if err != nil {
		return nil, &pg.Error{PG: c.PG, Op: req.Op, Kind: pg.KindInvalid, Message: "pghttp: bad request", Err: c.redactor.err(err)}
	}
	for k, vs := range req.Header {
		rreq.Header[k] = append([]string(nil), vs...)
	}

	call := &callState{c: c, req: req, started: time.Now()}
	base := c.httpClient()
	hc := *base
	hc.Transport = &attemptTransport{base: transportOf(base), call: call}
	// A PG API does not redirect; following one would resend a payment
	// request to another address. The 3xx is returned to the adapter.
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

	rc := &retryablehttp.Client{
		HTTPClient:   &hc,
		RetryMax:     c.maxAttempts() - 1,
		RetryWaitMin: c.backoffMin(),
		RetryWaitMax: c.backoffMax(),
		CheckRetry:   call.checkRetry,
		Backoff:      call.backoff,
		ErrorHandler: retryablehttp.PassthroughErrorHandler,
	}
	resp, doErr := rc.Do(rreq)

	last := call.last
	if last == nil {
		// Nothing was attempted: the context ended before the first send.
		return nil, &pg.Error{PG: c.PG, Op: req.Op, Kind: pg.KindUnavailable, Message: "request not sent", Err: c.redactor.err(doErr)}
	}
	if resp != nil && resp.Body != nil {
		resp.Body.Close()
	}
	if last.Err != nil {
		kind := c.classifier()(last.Err, last.Sent)
		e := &pg.Error{PG: c.PG, Op: req.Op, Kind: kind, Err: c.redactor.err(last.Err)}
		if kind == pg.KindUnknown {
			e.Message = "no complete response; the PG may have acted"
		} else {
			e.Message = "request did not reach the PG"
		}
		c.log(ctx, slog.LevelWarn, "pg call failed", req, last, slog.String("kind", kind.String()))
		return nil, fmt.Errorf("%s %s after %d attempt(s): %w", req.Method, c.redactor.str(req.URL), last.Number, e)
	}
	return &Response{StatusCode: last.StatusCode, Header: last.Header, Body: last.Body, Attempts: last.Number}, nil
}

func opOf(req *Request) string {
	if req == nil {
		return ""
	}
	return req.Op
}

func bodyOf(req *Request) any {
	if req.Body == nil {
		return nil
	}
	return req.Body
}

func transportOf(hc *http.Client) http.RoundTripper {
	if hc.Transport != nil {
		return hc.Transport
	}
	return http.DefaultTransport
}

func (c *Client) maxAttempts() int {
	if c.MaxAttempts > 0 {
		return c.MaxAttempts
	}
	return DefaultMaxAttempts
}

func (c *Client) backoffMin() time.Duration {
	if c.BackoffMin > 0 {
		return c.BackoffMin
	}
	return DefaultBackoffMin
}

func (c *Client) backoffMax() time.Duration {
	if c.BackoffMax > 0 {
		return c.BackoffMax
	}
	return DefaultBackoffMax
}

func (c *Client) classifier() Classifier {
	if c.Classify != nil {
		return c.Classify
	}
	return DefaultClassifier
}

// callState follows one Do call across its attempts. retryablehttp runs the
// attempts one after another, so the fields need no lock.
type callState struct {
	c       *Client
	req     *Request
	started time.Time
	n       int
	last    *Attempt
	wait    time.Duration
}

// attemptTransport gives each attempt its own timeout, notes whether the
// request reached the PG, and reads the whole body (capped) so that a
// response cut off mid-body is an attempt error the policy sees.
type attemptTransport struct {
	base http.RoundTripper
	call *callState
}

func (t *attemptTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	call := t.call
	call.n++
	a := &Attempt{Request: call.req, Number: call.n, Sent: true}
	call.last = a

	timeout := call.req.Timeout
	if timeout <= 0 {
		timeout = call.c.Timeout
	}
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	ctx, cancel := context.WithTimeout(r.Context(), timeout)
	defer cancel()
	var gotConn atomic.Bool
	ctx = httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{
		GotConn: func(httptrace.GotConnInfo) { gotConn.Store(true) },
	})
	start := time.Now()
	resp, err := t.base.RoundTrip(r.WithContext(ctx))
	if err != nil {
		a.Err = err
		a.Sent = !notSent(err, gotConn.Load(), tracesConnections(t.base))
		call.c.log(r.Context(), slog.LevelDebug, "pg attempt failed", call.req, a, slog.Duration("took", time.Since(start)))
		return nil, err
	}
	limit := call.req.MaxResponseBytes
	if limit <= 0 {
		limit = call.c.MaxResponseBytes
	}
	if limit <= 0 {
		limit = DefaultMaxResponseBytes
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	resp.Body.Close()
	if err == nil && int64(len(body)) > limit {
		err = fmt.Errorf("%w: more than %d bytes", ErrResponseTooLarge, limit)
	}
	if err != nil {
		a.Err = fmt.Errorf("reading response (HTTP %d): %w", resp.StatusCode, err)
		call.c.log(r.Context(), slog.LevelDebug, "pg attempt failed", call.req, a, slog.Duration("took", time.Since(start)))
		return nil, a.Err
	}
	a.StatusCode, a.Header, a.Body = resp.StatusCode, resp.Header, body
	resp.Body = io.NopCloser(bytes.NewReader(body))
	call.c.log(r.Context(), slog.LevelDebug, "pg attempt", call.req, a, slog.Duration("took", time.Since(start)))
	return resp, nil
}

// CloseIdleConnections lets retryablehttp drop broken pooled connections.
func (t *attemptTransport) CloseIdleConnections() {
	if ci, ok := t.base.(interface{ CloseIdleConnections() }); ok {
		ci.CloseIdleConnections()
	}
}

// ErrResponseTooLarge is wrapped by the error of a call whose response body
// passed the size cap.
var ErrResponseTooLarge = errors.New("pghttp: response body too large")

// checkRetry adapts the Client's RetryPolicy to retryablehttp. It also stops
// when the wait before the next attempt would pass the context's deadline,
// so the last real outcome is returned rather than a bare deadline error.
func (s *callState) checkRetry(ctx context.Context, _ *http.Response, _ error) (bool, error) {
	a := s.last
	if a == nil || ctx.Err() != nil {
		return false, nil
	}
	if a.Number >= s.c.maxAttempts() {
		return false, nil
	}
	policy := s.c.CheckRetry
	if policy == nil {
		policy = DefaultRetryPolicy
	}
	if !policy(ctx, *a) {
		return false, nil
	}
	bo := s.c.Backoff
	if bo == nil {
		bo = DefaultBackoff
	}
	s.wait = bo(*a, s.c.backoffMin(), s.c.backoffMax())
	if s.wait > MaxRetryAfter {
		s.c.log(ctx, slog.LevelWarn, "pg call not resent: asked to wait too long", s.req, a, slog.Duration("wait", s.wait))
		return false, nil
	}
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) <= s.wait {
		s.c.log(ctx, slog.LevelWarn, "pg call not resent: deadline before next attempt", s.req, a, slog.Duration("wait", s.wait))
		return false, nil
	}
	s.c.log(ctx, slog.LevelWarn, "pg call resent", s.req, a, slog.Duration("wait", s.wait))
	return true, nil
}

func (s *callState) backoff(_, _ time.Duration, _ int, _ *http.Response) time.Duration {
	return s.wait
}

func (c *Client) log(ctx context.Context, level slog.Level, msg string, req *Request, a *Attempt, extra ...slog.Attr) {
	if c.logger == nil || !c.logger.Enabled(ctx, level) {
		return
	}
	attrs := []slog.Attr{
		slog.String("pg", c.PG), slog.String("op", req.Op),
		slog.String("method", req.Method), slog.String("url", req.URL),
		slog.Any("header", headerValue{h: req.Header, r: c.redactor}),
		slog.Int("attempt", a.Number),
	}
	if a.Err != nil {
		attrs = append(attrs, slog.String("error", a.Err.Error()), slog.Bool("sent", a.Sent))
	} else {
		attrs = append(attrs, slog.Int("status", a.StatusCode))
	}
	attrs = append(attrs, extra...)
	c.logger.LogAttrs(ctx, level, msg, attrs...)
}

// LogValue keeps Secrets out of logs.
func (c *Client) LogValue() slog.Value {
	return slog.GroupValue(slog.String("pg", c.PG), slog.Int("secrets", len(c.Secrets)))
}

// String keeps Secrets out of fmt output.
func (c *Client) String() string { return "pghttp.Client(" + c.PG + ")" }

// GoString keeps Secrets out of %#v.
func (c *Client) GoString() string { return c.String() }
