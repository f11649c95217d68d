// Package idempotency makes a request safe to send twice: an Idempotency-Key
// HTTP middleware (the IETF httpapi "Idempotency-Key" draft with Stripe's
// semantics) and Do, the same guarantee for queue consumers and jobs.
//
// The smallest use, with the key store of store/idemstore:
//
//	keys, _ := idempotency.New(idempotency.Config{
//		Store: idemstore.NewKeys(db),
//		Scope: func(r *http.Request) string { return r.Header.Get("X-Tenant") },
//	})
//	mux.Handle("POST /payments/approve", keys.Require(approveHandler))
//	go keys.RunReaper(ctx, time.Minute)
//
// # What a request gets
//
// A key is scoped by Config.Scope (tenant, API key), the method and the route,
// and bound to a SHA-256 fingerprint of the request's method, path and query,
// and body.
//
//   - First request: the key is claimed by a unique insert, the handler runs,
//     and its status, selected headers (Config.StoredHeaders) and body are
//     stored.
//   - Repeat after completion: the stored response, body byte for byte, with
//     "Idempotent-Replayed: true". The handler does not run.
//   - Repeat while the first is still running: 409 IDEMPOTENCY_KEY_IN_USE
//     with Retry-After; the first completes normally.
//   - Same key, different request: 422 IDEMPOTENCY_KEY_REUSED; nothing
//     changes.
//   - No key on a Require route: 400 IDEMPOTENCY_KEY_MISSING. A key that is
//     empty, longer than 255 characters or not printable ASCII: 400
//     IDEMPOTENCY_KEY_INVALID. A body over Config.MaxBodyBytes: 413. In all
//     three cases nothing is stored.
//   - The key store unreachable: 503 IDEMPOTENCY_UNAVAILABLE with
//     Retry-After, and the handler does not run. (idemstore reads and
//     writes a key again after a transient failure, such as a killed
//     connection, before it gives up.)
//
// Errors are JSON, {"success":false,"error":{"code":…,"message":…}}.
//
// # Leases: what happens when the process dies
//
// A claim carries a lease (Config.Lease, 1 minute by default). The running
// request renews it every Config.Heartbeat, so a live request keeps its key
// however long the handler takes; the lease is not a deadline on the handler.
// If the process dies mid-request nobody renews it, and once it has run out the
// next request with the key takes the claim over and runs the handler. A
// holder that cannot renew before its lease runs out (the database is
// unreachable for a whole lease) has its handler's context canceled with
// cause ErrLeaseLost, and every later write of a holder is a compare-and-set
// on its claim token, so a holder that lost its claim can store nothing: its
// CompleteTx fails and takes its business transaction down with it. A forward
// clock jump longer than the lease can make a running request's key look
// abandoned until its next renewal; the token check is what keeps a second
// run from storing a second outcome then.
//
// # 5xx and panics release the key
//
// A response the handler answers with 5xx (and 408 and 429, and the
// refusals 400, 401, 403, 413, 415 and 422 of a request that did not run;
// see Config.KeepStatus) is sent to the client but not stored: the key is
// released so the client's retry runs the handler again. A panic is
// recovered, logged with its stack, answered with 500 INTERNAL_ERROR and also
// releases the key; it never reaches the server (only http.ErrAbortHandler,
// a handler's deliberate abort, is re-raised after the release, for net/http
// to handle quietly). The reason: a 5xx says the
// server failed, not that the request was answered, and storing it would turn
// a transient failure (the database restarting, a bad deploy) into the
// permanent answer for that key for 24 hours, defeating automatic recovery.
// Handlers whose work must not run twice do not rely on the stored response
// for that: their business writes carry their own unique keys (the order's
// payment mapping), or they complete the key in their own transaction with
// Handle.CompleteTx, after which the stored response stands whatever the
// handler answers later.
//
// # Completing in the caller's transaction
//
// FromContext(ctx).CompleteTx(ctx, tx, status, header, body) stores the
// response in the handler's own database transaction, so the key is
// completed if and only if the business change commits (store.InTx composes
// with it). Do's fn uses CompleteResultTx the same way.
//
// # Expiry
//
// A completed key answers repeats for Config.TTL (24 hours by default) after
// completion; after that the key is fresh again. Reap (or RunReaper) deletes
// expired rows in batches of Config.ReapBatch, each a short statement of its
// own, and never deletes a key whose holder still has a live lease.
//
// All times come from Config.Now, so tests can move the clock.
package idempotency
