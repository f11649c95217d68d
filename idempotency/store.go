package idempotency

import (
	"context"
	"database/sql"
	"errors"
	"net/http"
	"time"
)

// State is where a key's row is in its life.
type State string

const (
	// StateInFlight: a holder (named by the row's token) is running the
	// request and keeps the lease ahead of the clock.
	StateInFlight State = "in_flight"
	// StateCompleted: the response is stored and answers every repeat until
	// the row expires.
	StateCompleted State = "completed"
)

// Response is what a completed key answers with. For Do, Status is 0,
// Header is nil and Body is the stored result.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
}

// Record is one key's row.
type Record struct {
	// Scope is the caller's scope; for HTTP requests it includes the method
	// and route. At most 255 bytes of valid UTF-8.
	Scope string
	// Key is the client's idempotency key: 1–255 printable ASCII characters.
	Key string
	// Fingerprint is the hex SHA-256 of the request the key was first used
	// with.
	Fingerprint string
	State       State
	// Token names the holder of the claim; every write of a holder is a
	// compare-and-set on it, so a holder that lost its lease cannot write.
	Token       string
	LeaseUntil  time.Time
	ExpiresAt   time.Time
	CreatedAt   time.Time
	CompletedAt time.Time // zero while in flight
	Response    Response  // set when State is StateCompleted
}

// Completion stores a response under a key its holder still holds.
type Completion struct {
	Scope, Key, Token string
	Response          Response
	CompletedAt       time.Time
	// ExpiresAt is when the stored response stops answering repeats.
	ExpiresAt time.Time
}

// Errors a Store returns for the manager to branch on.
var (
	// ErrExists is returned (possibly wrapped) by Store.Insert when the
	// (scope, key) row exists already.
	ErrExists = errors.New("idempotency: key exists")
	// ErrNotFound is returned (possibly wrapped) by Store.Get when there is
	// no row.
	ErrNotFound = errors.New("idempotency: key not found")
)

// Store persists keys. store/idemstore implements it on MySQL and SQLite.
//
// Every method that changes a row is a single compare-and-set: it reports
// false, not an error, when the row is not in the state the call expects.
// Implementations may retry a write after a transient database error; the
// manager copes with a retried write that had in fact landed (F25) by reading
// the row back and recognising its own token.
type Store interface {
	// Insert claims rec.Scope/rec.Key by inserting rec. It returns an error
	// wrapping ErrExists when the row exists, and never overwrites it.
	Insert(ctx context.Context, rec Record) error
	// Get reads a row; ErrNotFound (wrapped) when there is none.
	Get(ctx context.Context, scope, key string) (Record, error)
	// TakeOver replaces the row of rec.Scope/rec.Key by rec if it still
	// carries prevToken and is abandoned at now: in flight with its lease
	// run out (lease_until <= now), or completed and expired (expires_at <=
	// now). It reports whether it replaced the row.
	TakeOver(ctx context.Context, prevToken string, now time.Time, rec Record) (bool, error)
	// Extend moves the lease of an in-flight row held by token to
	// leaseUntil, and reports whether the row was still held.
	Extend(ctx context.Context, scope, key, token string, leaseUntil time.Time) (bool, error)
	// Complete stores c.Response in the in-flight row held by c.Token and
	// marks it completed; it reports whether the row was still held.
	Complete(ctx context.Context, c Completion) (bool, error)
	// CompleteTx is Complete inside the caller's transaction, so the
	// response is stored if and only if the caller's business change
	// commits.
	CompleteTx(ctx context.Context, tx *sql.Tx, c Completion) (bool, error)
	// Release deletes the in-flight row held by token, so the key can be
	// used again at once; it reports whether the row was still held.
	Release(ctx context.Context, scope, key, token string) (bool, error)
	// DeleteExpired deletes at most limit rows that expired at or before
	// now and are not held by a live lease, and returns how many it
	// deleted. Each call is one short statement or transaction.
	DeleteExpired(ctx context.Context, now time.Time, limit int) (int, error)
}
