package pghttp

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/paygate/paygate/pg"
)

// MaxRetryAfter is the longest wait a call sits through before resending;
// a PG asking for more (Retry-After: 3600) gets the call returned to the
// caller as it stands, so the caller can schedule the work later.
const MaxRetryAfter = time.Minute

// DefaultRetryPolicy resends only what cannot charge or refund twice:
//
//   - a request that provably never reached the PG (a.Sent false), except a
//     TLS certificate failure, which would fail again the same way;
//   - a 408, 429 or 503 answer: the PG says it did not process the request;
//   - an idempotent call (Request.Idempotent, or GET/HEAD) that timed out
//     after sending, was reset or cut off, or got another 5xx except 501.
//
// It never resends once the context has ended.
func DefaultRetryPolicy(ctx context.Context, a Attempt) bool {
	if ctx.Err() != nil {
		return false
	}
	if a.Err != nil {
		if !a.Sent {
			return !isCertificateError(a.Err)
		}
		return a.Request != nil && a.Request.idempotent()
	}
	switch {
	case notProcessed(a.StatusCode):
		return true
	case a.StatusCode >= 500 && a.StatusCode != http.StatusNotImplemented:
		return a.Request != nil && a.Request.idempotent()
	default:
		return false
	}
}

// notProcessed reports the statuses by which a server says it did not
// process the request: 408 (it never got the whole request), 429, 503.
func notProcessed(status int) bool {
	return status == http.StatusRequestTimeout || status == http.StatusTooManyRequests || status == http.StatusServiceUnavailable
}

// DefaultBackoff waits what a 408, 429 or 503 asks for in Retry-After (seconds or
// an HTTP date), otherwise an exponential backoff from min doubling per
// attempt, capped at max, with jitter: a random wait in the upper half of
// the step, so clients that failed together do not resend together.
func DefaultBackoff(a Attempt, min, max time.Duration) time.Duration {
	if notProcessed(a.StatusCode) {
		if d, ok := RetryAfter(a.Header, time.Now()); ok {
			return d
		}
	}
	if min <= 0 {
		min = DefaultBackoffMin
	}
	if max < min {
		max = min
	}
	d := min
	for i := 1; i < a.Number && d < max; i++ {
		d *= 2
	}
	if d > max {
		d = max
	}
	half := d / 2
	return half + rand.N(half+1)
}

// RetryAfter parses a Retry-After header: delay seconds or an HTTP date
// (a date in the past means now).
func RetryAfter(h http.Header, now time.Time) (time.Duration, bool) {
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return 0, false
	}
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		if n < 0 || n > int64(24*time.Hour/time.Second) {
			return 0, false
		}
		return time.Duration(n) * time.Second, true
	}
	t, err := http.ParseTime(v)
	if err != nil {
		return 0, false
	}
	if d := t.Sub(now); d > 0 {
		return d, true
	}
	return 0, true
}

// DefaultClassifier: a request that never reached the PG is
// KindUnavailable (nothing happened, safe to try again); anything else that
// got no complete response is KindUnknown (the PG may have acted).
func DefaultClassifier(_ error, sent bool) pg.Kind {
	if !sent {
		return pg.KindUnavailable
	}
	return pg.KindUnknown
}

// notSent reports whether an attempt that failed with err provably never
// reached the PG. gotConn says a connection was handed to the request (the
// request may have been written from then on); traced says the transport
// reports connections, so "no connection" alone is proof. Without traces
// only a dial, DNS or TLS-handshake error is proof.
func notSent(err error, gotConn, traced bool) bool {
	if gotConn {
		return false
	}
	if traced {
		return true
	}
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) {
		return true
	}
	var opErr *net.OpError
	if errors.As(err, &opErr) && opErr.Op == "dial" {
		return true
	}
	if errors.Is(err, syscall.ECONNREFUSED) {
		return true
	}
	var recErr tls.RecordHeaderError
	return errors.As(err, &recErr) || isCertificateError(err)
}

// tracesConnections reports whether rt calls httptrace's GotConn for every
// connection it uses, as net/http's Transport does.
func tracesConnections(rt http.RoundTripper) bool {
	_, ok := rt.(*http.Transport)
	return ok
}

func isCertificateError(err error) bool {
	var (
		verr *tls.CertificateVerificationError
		uerr x509.UnknownAuthorityError
		herr x509.HostnameError
		cerr x509.CertificateInvalidError
	)
	return errors.As(err, &verr) || errors.As(err, &uerr) || errors.As(err, &herr) || errors.As(err, &cerr)
}
