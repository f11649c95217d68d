package saga

import (
	"context"
	"database/sql"
	"time"
)

// Store is the persistence a Runner needs. store/sagastore implements it on
// MySQL/MariaDB and SQLite; the methods are the runner's building blocks and
// carry no saga logic. Every method that takes a *sql.Tx writes or reads in
// it; a nil tx means "outside any transaction" for reads.
type Store interface {
	// InTx runs fn in a transaction, retrying the whole of fn on transient
	// database errors (deadlock, lock wait timeout, busy, dropped
	// connection). fn may therefore run more than once.
	InTx(ctx context.Context, fn func(ctx context.Context, tx *sql.Tx) error) error
	// InsertInstance inserts a new instance with its Version and its step
	// records (none when steps is empty). It returns an error wrapping
	// ErrDuplicate when (Definition, BusinessKey) exists.
	InsertInstance(ctx context.Context, tx *sql.Tx, in InstanceRecord, steps []StepRecord) error
	// UpdateInstance writes every mutable field of u.Record (state, step,
	// reason, resume state, run-at, lease, version, updated-at) and, when
	// u.Steps is not nil, replaces the instance's step records with
	// u.Steps, if, and only if, the stored version is u.PrevVersion, and
	// clears the stored Wakes. It reports whether it wrote. One field is
	// decided in the write, on the row as it is then: when the record gives
	// up the lease and is due later than its UpdatedAt (a retry after
	// backoff) but the stored Wakes is not zero (news arrived while the
	// lease was held), RunAt is written as UpdatedAt instead, so the
	// instance is due at once.
	UpdateInstance(ctx context.Context, tx *sql.Tx, u InstanceUpdate) (bool, error)
	// UpdateInstances is UpdateInstance for several instances (distinct
	// IDs) at once: each is written if, and only if, its stored version is
	// its PrevVersion. It returns how many it wrote; when that is fewer
	// than len(ups) the caller rolls tx back, as it cannot tell which.
	UpdateInstances(ctx context.Context, tx *sql.Tx, ups []InstanceUpdate) (int, error)
	// WakeInstance wakes the RUNNING or COMPENSATING instance of a
	// definition for a business key, deciding on the row as it is when the
	// write runs (under its lock), not on an earlier read: an instance no
	// runner leases that is due after now becomes due at now (its version
	// and updated-at change); a leased one has Wakes incremented and
	// nothing else changed, its version included, so the lease holder's
	// next write still lands and honours it (see UpdateInstance). It
	// reports whether it wrote; any other instance, or none, is left alone.
	WakeInstance(ctx context.Context, tx *sql.Tx, definition, businessKey string, now time.Time) (bool, error)
	// ExtendLease moves RunAt of a leased instance to until if its version
	// and lease token are still the given ones, without changing the
	// version. It reports whether it wrote.
	ExtendLease(ctx context.Context, tx *sql.Tx, id, token string, version int64, until time.Time) (bool, error)
	// ClaimInstances leases up to c.Limit due instances (RunAt <= c.Now) of
	// the given definitions, without waiting for or taking rows another
	// transaction holds: it sets their lease owner and token, RunAt to
	// c.LeaseUntil, clears Wakes and increments their version, and returns
	// them as written.
	ClaimInstances(ctx context.Context, tx *sql.Tx, c Claim) ([]InstanceRecord, error)
	// Instance returns one instance, or an error wrapping ErrNotFound.
	Instance(ctx context.Context, tx *sql.Tx, id string) (InstanceRecord, error)
	// InstanceByKey returns the instance of a definition for a business
	// key, or an error wrapping ErrNotFound.
	InstanceByKey(ctx context.Context, tx *sql.Tx, definition, businessKey string) (InstanceRecord, error)
	// Instances lists instances matching f, ordered by UpdatedAt then ID.
	Instances(ctx context.Context, f Filter) ([]InstanceRecord, error)
	// Steps returns the step records of the given instances, each
	// instance's in the order they were written.
	Steps(ctx context.Context, tx *sql.Tx, sagaIDs ...string) ([]StepRecord, error)
	// SetSteps replaces the step records of instances, each set whole,
	// without changing anything else of them (their version included).
	SetSteps(ctx context.Context, tx *sql.Tx, sets ...StepSet) error
}

// StepSet is every step record of one instance, for Store.SetSteps.
type StepSet struct {
	SagaID string
	Steps  []StepRecord
}

// InstanceRecord is the stored form of a saga instance.
type InstanceRecord struct {
	ID          string
	Definition  string
	BusinessKey string
	State       State
	// StepIndex is the step whose action runs next (RUNNING), or the
	// highest step that may still need compensating (COMPENSATING).
	StepIndex int
	Payload   []byte
	// Reason says why the saga compensates or needs attention; while a
	// RUNNING saga's step is retried, why its last attempt failed; once an
	// operator resolved it, the operator's note.
	Reason string
	// ResumeState is the state an operator's Retry returns a
	// NEEDS_ATTENTION saga to.
	ResumeState State
	// RunAt is when the instance is next due; while leased, when the lease
	// expires. Zero for instances no runner should pick up (terminal,
	// NEEDS_ATTENTION).
	RunAt      time.Time
	LeaseOwner string
	LeaseToken string
	// Version increases with every write but a wake-up counted on a leased
	// instance; writes are compare-and-set on it.
	Version int64
	// Wakes counts the wake-ups (Runner.Wake) that arrived while a runner
	// held the lease, since its claim or its last write. The lease
	// holder's write of a failed attempt makes the instance due at once
	// instead of after the backoff when it is not zero.
	Wakes     int
	CreatedAt time.Time
	UpdatedAt time.Time
	// TraceParent is the W3C traceparent of the span that started the
	// instance (empty when tracing was off): every step joins that trace.
	// Written once, by InsertInstance.
	TraceParent string
}

// StepRecord is the stored form of one half of one step of an instance.
type StepRecord struct {
	SagaID    string
	Step      string
	Op        Op
	Status    StepStatus
	Attempts  int
	Output    []byte
	LastError string
	UpdatedAt time.Time
}

// Claim says what ClaimInstances takes.
type Claim struct {
	Definitions []string
	Owner       string
	Token       string
	Now         time.Time
	LeaseUntil  time.Time
	Limit       int
}

// Filter selects instances for operator queries. Zero fields do not filter.
type Filter struct {
	Definition  string
	BusinessKey string
	States      []State
	// UpdatedBefore keeps instances not written since then.
	UpdatedBefore time.Time
	// CreatedBefore keeps instances created before then: with the
	// non-terminal states, the ones that have been unfinished for longer
	// than a duration.
	CreatedBefore time.Time
	// AfterID continues a listing after the last ID of the previous page
	// (the order is UpdatedAt, ID; pass AfterUpdatedAt too).
	AfterUpdatedAt time.Time
	AfterID        string
	// Limit defaults to 100 and is capped at 1000.
	Limit int
}

// InstanceUpdate is one instance's write for UpdateInstance(s): the record
// to write, the version it replaces and, when not nil, every step record
// of the instance, which replace the stored ones in the same write.
type InstanceUpdate struct {
	Record      InstanceRecord
	PrevVersion int64
	Steps       []StepRecord
}
