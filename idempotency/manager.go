package idempotency

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"go.opentelemetry.io/otel/metric"

	"github.com/paygate/paygate/internal/telemetry"
)

// Errors the manager returns; the middleware maps them onto HTTP answers.
var (
	// ErrInFlight: a request with the same key is still running (409).
	ErrInFlight = errors.New("idempotency: a request with this key is in progress")
	// ErrKeyReused: the key was used with a different request (422).
	ErrKeyReused = errors.New("idempotency: key reused with a different request")
	// ErrLeaseLost: the claim was taken over after its lease ran out (the
	// holder could not reach the database for a whole lease, or the clock
	// jumped); the holder's completion is refused, and a caller completing
	// in its own transaction must roll it back.
	ErrLeaseLost = errors.New("idempotency: claim lost; the key is held by another request")
	// ErrPanic is wrapped by Do's error when fn panicked.
	ErrPanic = errors.New("idempotency: panic")
	// ErrNoHandle is returned by the methods of a nil *Handle: the context
	// did not come from the middleware or Do.
	ErrNoHandle = errors.New("idempotency: no claimed key in this context")
)

// Defaults of Config.
const (
	DefaultTTL          = 24 * time.Hour
	DefaultLease        = time.Minute
	DefaultMaxBodyBytes = 1 << 20
	DefaultReapBatch    = 500
	defaultStoreTimeout = 10 * time.Second
	claimAttempts       = 4
)

// DefaultStoredHeaders are the response headers stored with a key and sent on
// every replay. Headers that belong to one client or one moment (Set-Cookie,
// Date) are deliberately not among them.
var DefaultStoredHeaders = []string{
	"Content-Type", "Content-Language", "Content-Disposition", "Location", "ETag", "Cache-Control",
}

// Config configures a Manager. Store is required; everything else has a
// default.
type Config struct {
	Store Store
	// Scope names whose keys a request's key lives among (tenant, API key,
	// account); two scopes never see each other's keys. Default: one shared
	// scope.
	Scope func(r *http.Request) string
	// Route names the endpoint; keys are scoped by method and route as well.
	// Default: the ServeMux pattern that matched (r.Pattern), or the path
	// when there is none.
	Route func(r *http.Request) string
	// TTL is how long a completed key answers repeats (24 h by default).
	// Expired keys are usable again and are deleted by Reap.
	TTL time.Duration
	// Lease is how long a claim stays exclusive without being renewed (1
	// minute by default). The holder renews it every Heartbeat while the
	// handler runs, so a live request never loses its key however long it
	// takes; a crashed process's key becomes usable once Lease has passed.
	Lease time.Duration
	// Heartbeat is how often a running request renews its lease; default
	// Lease/3. It must be shorter than Lease.
	Heartbeat time.Duration
	// MaxBodyBytes caps the request body read for the fingerprint; larger
	// bodies get 413 and nothing is stored. Default 1 MiB.
	MaxBodyBytes int64
	// MaxResponseBytes caps the response body stored; a larger response is
	// sent but not stored (the key is released and the event logged).
	// Default 1 MiB.
	MaxResponseBytes int
	// StoredHeaders lists the response headers stored and replayed; default
	// DefaultStoredHeaders.
	StoredHeaders []string
	// KeepStatus decides whether a response with this status is stored.
	// Default: DefaultKeepStatus, everything below 500 except refusals
	// (400, 401, 403, 413, 415, 422) and 408 and 429. A response that is
	// not stored releases the key so the client's retry runs the handler
	// again (see the package documentation for why).
	KeepStatus func(status int) bool
	// ReapBatch is how many expired rows one delete statement removes;
	// default 500.
	ReapBatch int
	// Now is the clock; default time.Now.
	Now func() time.Time
	// Logger receives store failures, lost leases and recovered panics;
	// default slog.Default(). Keys are logged, request bodies never.
	Logger *slog.Logger
	// MeterProvider receives the paygate.idempotency.requests counter (by
	// outcome: first, replayed, in_flight, key_reused); nil means the
	// global provider.
	MeterProvider metric.MeterProvider
}

// Manager hands out claims on keys. It is safe for concurrent use.
type Manager struct {
	cfg    Config
	stored map[string]bool
	done   *completedCache
	tel    *telemetry.Idempotency
}

// New checks cfg and fills its defaults.
func New(cfg Config) (*Manager, error) {
	if cfg.Store == nil {
		return nil, errors.New("idempotency: Config.Store is required")
	}
	if cfg.TTL < 0 || cfg.Lease < 0 || cfg.Heartbeat < 0 || cfg.MaxBodyBytes < 0 || cfg.MaxResponseBytes < 0 || cfg.ReapBatch < 0 {
		return nil, errors.New("idempotency: negative durations and limits are not allowed")
	}
	if cfg.Scope == nil {
		cfg.Scope = func(*http.Request) string { return "" }
	}
	if cfg.Route == nil {
		cfg.Route = defaultRoute
	}
	if cfg.TTL == 0 {
		cfg.TTL = DefaultTTL
	}
	if cfg.Lease == 0 {
		cfg.Lease = DefaultLease
	}
	if cfg.Heartbeat == 0 {
		cfg.Heartbeat = cfg.Lease / 3
	}
	if cfg.Heartbeat >= cfg.Lease {
		return nil, fmt.Errorf("idempotency: Heartbeat %v must be shorter than Lease %v", cfg.Heartbeat, cfg.Lease)
	}
	if cfg.MaxBodyBytes == 0 {
		cfg.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if cfg.MaxResponseBytes == 0 {
		cfg.MaxResponseBytes = DefaultMaxBodyBytes
	}
	if cfg.StoredHeaders == nil {
		cfg.StoredHeaders = DefaultStoredHeaders
	}
	if cfg.KeepStatus == nil {
		cfg.KeepStatus = DefaultKeepStatus
	}
	if cfg.ReapBatch == 0 {
		cfg.ReapBatch = DefaultReapBatch
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	stored := make(map[string]bool, len(cfg.StoredHeaders))
	for _, h := range cfg.StoredHeaders {
		stored[http.CanonicalHeaderKey(h)] = true
	}
	return &Manager{cfg: cfg, stored: stored, done: newCompletedCache(), tel: telemetry.NewIdempotency(cfg.MeterProvider)}, nil
}

// DefaultKeepStatus stores every response below 500 except those that refuse
// the request before it ran, which are not the key's answer (Stripe's rule:
// a request that failed validation saves no result): 400 Bad Request, 401
// Unauthorized, 403 Forbidden, 413 Content Too Large, 415 Unsupported Media
// Type and 422 Unprocessable Content; and 408 Request Timeout and 429 Too
// Many Requests, which say "not now" rather than answering the request. The
// key is released, so the client's corrected request with it runs.
func DefaultKeepStatus(status int) bool {
	switch status {
	case http.StatusBadRequest, http.StatusUnauthorized, http.StatusForbidden, http.StatusRequestEntityTooLarge,
		http.StatusUnsupportedMediaType, http.StatusUnprocessableEntity,
		http.StatusRequestTimeout, http.StatusTooManyRequests:
		return false
	}
	return status < 500
}

// defaultRoute is the matched ServeMux pattern without its method (the scope
// carries the request's method already), or the path.
func defaultRoute(r *http.Request) string {
	if r.Pattern == "" {
		return r.URL.Path
	}
	if method, rest, ok := strings.Cut(r.Pattern, " "); ok && method != "" && !strings.Contains(method, "/") {
		return strings.TrimLeft(rest, " \t")
	}
	return r.Pattern
}

func newToken() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on supported platforms
	return hex.EncodeToString(b[:])
}

// storeCtx detaches store writes that must land whatever happens to the
// caller's context (the client hung up, the handler's deadline passed) and
// bounds them.
func storeCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), defaultStoreTimeout)
}

// claim takes the key or says why not. On success exactly one of the returned
// handle and record is set: the handle when this caller must run the request,
// the record when a completed response answers it.
func (m *Manager) claim(ctx context.Context, scope, key, fp string) (*Handle, *Record, error) {
	h, rec, err := m.claimKey(ctx, scope, key, fp)
	outcome := ""
	switch {
	case h != nil:
		outcome = "first"
	case rec != nil:
		outcome = "replayed"
	case errors.Is(err, ErrInFlight):
		outcome = "in_flight"
	case errors.Is(err, ErrKeyReused):
		outcome = "key_reused"
	}
	if outcome != "" {
		m.tel.Requests.Add(ctx, 1, metric.WithAttributes(telemetry.Outcome.String(outcome)))
	}
	return h, rec, err
}

func (m *Manager) claimKey(ctx context.Context, scope, key, fp string) (*Handle, *Record, error) {
	if cur, ok := m.done.get(scope, key, m.cfg.Now()); ok {
		if cur.Fingerprint != fp {
			return nil, nil, ErrKeyReused
		}
		return nil, &cur, nil
	}
	token := newToken()
	for range claimAttempts {
		now := m.cfg.Now()
		rec := Record{
			Scope: scope, Key: key, Fingerprint: fp, State: StateInFlight, Token: token,
			LeaseUntil: now.Add(m.cfg.Lease), ExpiresAt: now.Add(m.cfg.TTL), CreatedAt: now,
		}
		err := m.cfg.Store.Insert(ctx, rec)
		if err == nil {
			return m.newHandle(rec), nil, nil
		}
		if !errors.Is(err, ErrExists) {
			// F25: the insert may have committed although we saw an
			// error; our own token in the row says it did.
			if cur, gerr := m.cfg.Store.Get(ctx, scope, key); gerr == nil && cur.Token == token && cur.State == StateInFlight {
				return m.newHandle(cur), nil, nil
			}
			return nil, nil, fmt.Errorf("idempotency: claim key %q: %w", key, err)
		}
		cur, err := m.cfg.Store.Get(ctx, scope, key)
		if errors.Is(err, ErrNotFound) {
			continue // released or reaped since our insert: try again
		}
		if err != nil {
			return nil, nil, fmt.Errorf("idempotency: read key %q: %w", key, err)
		}
		if cur.Token == token {
			return m.newHandle(cur), nil, nil
		}
		now = m.cfg.Now()
		switch {
		case cur.State == StateCompleted && now.Before(cur.ExpiresAt):
			m.done.put(cur)
			if cur.Fingerprint != fp {
				return nil, nil, ErrKeyReused
			}
			return nil, &cur, nil
		case cur.State == StateInFlight && now.Before(cur.LeaseUntil):
			if cur.Fingerprint != fp {
				return nil, nil, ErrKeyReused
			}
			return nil, nil, ErrInFlight
		case cur.State == StateInFlight && cur.Fingerprint != fp && now.Before(cur.ExpiresAt):
			// Abandoned, but by a different request: the key still
			// belongs to that one until it expires.
			return nil, nil, ErrKeyReused
		}
		// Abandoned by a crashed holder, or expired: take it over.
		rec.LeaseUntil, rec.ExpiresAt, rec.CreatedAt = now.Add(m.cfg.Lease), now.Add(m.cfg.TTL), now
		ok, err := m.cfg.Store.TakeOver(ctx, cur.Token, now, rec)
		if err != nil {
			if got, gerr := m.cfg.Store.Get(ctx, scope, key); gerr == nil && got.Token == token && got.State == StateInFlight {
				return m.newHandle(got), nil, nil
			}
			return nil, nil, fmt.Errorf("idempotency: take over key %q: %w", key, err)
		}
		if ok {
			if cur.State == StateInFlight {
				m.cfg.Logger.Warn("idempotency: took over a key whose holder stopped renewing its lease",
					"scope", scope, "key", key, "leaseUntil", cur.LeaseUntil)
			}
			return m.newHandle(rec), nil, nil
		}
		// Someone else changed the row between our read and our write:
		// look again.
	}
	return nil, nil, ErrInFlight
}

// outcome says how finish ended.
type outcome int

const (
	// recorded: our completion or release landed; the answer is ours.
	recorded outcome = iota
	// storedByHolder: the key was completed with our token before finish
	// ran, in the handler's own transaction (CompleteTx) or by a write that
	// landed although we saw an error; that stored response is the answer.
	storedByHolder
	// lost: the key was taken over while we ran; nothing of ours is stored.
	lost
	// unrecorded: the store failed; the key frees itself when its lease
	// runs out.
	unrecorded
)

// finish records the outcome of a run the handle holds: resp when keep, a
// release otherwise. It returns the response the key answers with from now
// on (resp, or the one stored by the holder's own transaction, which wins
// because it committed with the business change) and how it ended.
func (m *Manager) finish(ctx context.Context, h *Handle, resp Response, keep bool) (Response, outcome) {
	ctx, cancel := storeCtx(ctx)
	defer cancel()
	var ok bool
	var err error
	if keep {
		now := m.cfg.Now()
		ok, err = m.cfg.Store.Complete(ctx, Completion{
			Scope: h.scope, Key: h.key, Token: h.token, Response: resp,
			CompletedAt: now, ExpiresAt: now.Add(m.cfg.TTL),
		})
	} else {
		ok, err = m.cfg.Store.Release(ctx, h.scope, h.key, h.token)
	}
	if ok && err == nil {
		return resp, recorded
	}
	cur, gerr := m.cfg.Store.Get(ctx, h.scope, h.key)
	switch {
	case gerr == nil && cur.Token == h.token && cur.State == StateCompleted:
		return cur.Response, storedByHolder
	case gerr == nil && cur.Token == h.token:
		m.cfg.Logger.Error("idempotency: could not record the outcome; the key frees itself when its lease ends",
			"scope", h.scope, "key", h.key, "err", err)
		return resp, unrecorded
	case errors.Is(gerr, ErrNotFound) && !keep:
		return resp, recorded // our delete landed although we saw an error
	case gerr != nil && !errors.Is(gerr, ErrNotFound):
		m.cfg.Logger.Error("idempotency: could not record the outcome",
			"scope", h.scope, "key", h.key, "err", errors.Join(err, gerr))
		return resp, unrecorded
	}
	m.cfg.Logger.Warn("idempotency: the key was taken over while its request ran; this outcome is not stored",
		"scope", h.scope, "key", h.key)
	return resp, lost
}

// Result is what Do returns.
type Result struct {
	// Value is fn's result, or the stored one on a replay.
	Value []byte
	// Replayed is true when Value came from the store and fn did not run.
	Replayed bool
}

// Do runs fn at most once per (scope, key) for non-HTTP callers such as
// queue consumers and jobs, with the middleware's guarantees:
//
//   - the first call claims the key by a unique insert, runs fn and stores
//     its value;
//   - a later call with the same fingerprint returns the stored value with
//     Replayed set, without running fn;
//   - a call while the first still runs returns ErrInFlight (retry later);
//   - a call with a different fingerprint returns ErrKeyReused;
//   - if fn returns an error or panics, nothing is stored and the key is
//     released, so a redelivery runs fn again; the error is returned
//     (wrapping ErrPanic for a panic). To store a failure as the final
//     outcome, return it as the value with a nil error.
//
// fingerprint identifies the work (e.g. the message body); it is hashed, so
// any length will do. fn's context carries the claim: fn can store its value
// in its own transaction with FromContext(ctx).CompleteResultTx, so the value
// is stored if and only if its business change commits. The context is
// canceled with cause ErrLeaseLost if the claim is lost.
//
// Do must not be called inside a database transaction of the same store.
func (m *Manager) Do(ctx context.Context, scope, key string, fingerprint []byte, fn func(ctx context.Context) ([]byte, error)) (Result, error) {
	if err := checkKey(key); err != nil {
		return Result{}, err
	}
	if err := checkScope(scope); err != nil {
		return Result{}, err
	}
	h, rec, err := m.claim(ctx, scope, key, digest(fingerprint))
	if err != nil {
		return Result{}, err
	}
	if rec != nil {
		return Result{Value: rec.Response.Body, Replayed: true}, nil
	}
	runCtx, cancel := context.WithCancelCause(withHandle(ctx, h))
	defer cancel(nil)
	stop := h.keepAlive(ctx, cancel)
	value, err := runGuarded(runCtx, fn)
	stop()
	if err != nil {
		if final, how := m.finish(ctx, h, Response{}, false); how == storedByHolder {
			// fn stored a value in its own transaction before failing:
			// that committed value is the outcome.
			return Result{Value: final.Body}, nil
		}
		return Result{}, err
	}
	final, how := m.finish(ctx, h, Response{Body: value}, true)
	if how == lost {
		return Result{}, ErrLeaseLost
	}
	return Result{Value: final.Body}, nil
}

func runGuarded(ctx context.Context, fn func(ctx context.Context) ([]byte, error)) (value []byte, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("%w: %v", ErrPanic, p)
		}
	}()
	return fn(ctx)
}

// Reap deletes expired keys in batches of Config.ReapBatch rows, each batch
// its own short statement so no lock is held for long, until none is left or
// ctx ends. It returns how many rows it deleted. A key whose holder still has
// a live lease is never deleted.
func (m *Manager) Reap(ctx context.Context) (int, error) {
	total := 0
	for {
		n, err := m.cfg.Store.DeleteExpired(ctx, m.cfg.Now(), m.cfg.ReapBatch)
		total += n
		if err != nil {
			return total, fmt.Errorf("idempotency: reap: %w", err)
		}
		if n < m.cfg.ReapBatch {
			return total, nil
		}
		if err := ctx.Err(); err != nil {
			return total, err
		}
	}
}

// RunReaper calls Reap every interval until ctx ends, logging failures, and
// returns ctx's error. Run it in one goroutine per process (several
// processes may run it at once; they only delete expired rows).
func (m *Manager) RunReaper(ctx context.Context, every time.Duration) error {
	if every <= 0 {
		return errors.New("idempotency: reaper interval must be positive")
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		if n, err := m.Reap(ctx); err != nil && ctx.Err() == nil {
			m.cfg.Logger.Error("idempotency: reap expired keys", "err", err, "deleted", n)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}
