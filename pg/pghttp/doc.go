// Package pghttp is the one HTTP client setup every PG adapter shares: the
// retry policy that knows what is safe to send again, per-call timeouts, a
// response size cap, the classification of every transport failure into a
// *pg.Error kind, and logging with secrets redacted.
//
// # When a request is sent again
//
// A request is resent only when resending cannot charge or refund twice:
//
//   - The request provably never reached the PG: the connection was
//     refused, the host name did not resolve, dialing or the TLS handshake
//     failed, or the call timed out before a connection was obtained. (A
//     TLS certificate failure is not resent: it will fail the same way.)
//   - The PG answered 408 Request Timeout, 429 Too Many Requests or 503
//     Service Unavailable: it says it did not process the request. The wait
//     honours Retry-After.
//   - The call is marked Request.Idempotent (the PG honours the idempotency
//     key it carries, e.g. Toss Idempotency-Key, so a resend returns the
//     first result instead of acting twice) or is a read (GET, HEAD), and
//     it timed out after the request was sent, the connection was reset or
//     the response was cut off, or the PG answered another 5xx (except 501).
//
// Everything else is returned after one attempt: any other 4xx, a 5xx on a
// call that is not idempotent (it may have happened; the caller must look it
// up), a reset or timeout after sending a non-idempotent call.
//
// Resends wait a capped exponential backoff with jitter (Client.Backoff),
// are bounded by Client.MaxAttempts, and stop when the next wait would pass
// the context's deadline: the last outcome is then returned, classified.
//
// # What a failure means
//
// Do returns the PG's HTTP response, whatever its status, with the body read
// in full (up to the size cap): mapping a PG's error body onto pg kinds is
// the adapter's job, and StatusError is the fallback through
// pg.KindForHTTPStatus. A call that got no complete response fails with a
// *pg.Error whose Kind is:
//
//   - pg.KindUnavailable when the request provably did not reach the PG
//     (connection refused, DNS failure, dial or TLS handshake error, no
//     connection before the deadline);
//   - pg.KindUnknown otherwise: a timeout after the request was sent, a
//     connection reset, a response cut off mid-body, a response larger than
//     the cap. The PG may have acted; look the payment up.
//
// # Timeouts and logs
//
// Each attempt has its own timeout: Request.Timeout, else Client.Timeout
// (DefaultTimeout, 10 s); report APIs use ReportTimeout (60 s). The
// context's deadline bounds the whole call including waits.
//
// Every attempt is logged to Client.Logger at debug level, resends and
// failures at warn level. Authorization and other credential headers are
// logged as "[REDACTED]", and every value in Client.Secrets is replaced by
// "[REDACTED]" in every log line, whatever attribute it hides in.
//
// The smallest use:
//
//	c := pghttp.New("tosspay")
//	c.Secrets = []string{secretKey}
//	resp, err := c.Do(ctx, &pghttp.Request{
//		Op:         "approve",
//		Method:     http.MethodPost,
//		URL:        "https://api.tosspayments.com/v1/payments/confirm",
//		Header:     http.Header{"Authorization": {auth}, "Idempotency-Key": {key}},
//		Body:       body,
//		Idempotent: true,
//	})
//	if err != nil {
//		return err // *pg.Error: Unavailable or Unknown
//	}
//	if resp.StatusCode != http.StatusOK {
//		return mapErrorBody(resp) // the adapter's mapping; resp.StatusError as fallback
//	}
package pghttp
