package sagastore

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/paygate/paygate/saga"
	"github.com/paygate/paygate/store"
)

const instanceCols = `id, definition, business_key, state, step_index, payload, reason, resume_state,
run_at, lease_owner, lease_token, version, wakes, created_at, updated_at, trace_parent`

type scanner interface{ Scan(dest ...any) error }

func scanInstance(sc scanner) (saga.InstanceRecord, error) {
	var r saga.InstanceRecord
	var state, resume string
	var runAt sql.NullTime
	err := sc.Scan(&r.ID, &r.Definition, &r.BusinessKey, &state, &r.StepIndex, &r.Payload, &r.Reason, &resume,
		&runAt, &r.LeaseOwner, &r.LeaseToken, &r.Version, &r.Wakes, &r.CreatedAt, &r.UpdatedAt, &r.TraceParent)
	r.State, r.ResumeState = saga.State(state), saga.State(resume)
	r.RunAt = fromNull(runAt)
	r.CreatedAt, r.UpdatedAt = r.CreatedAt.UTC(), r.UpdatedAt.UTC()
	return r, err
}

func queryInstances(ctx context.Context, q store.Querier, query string, args ...any) ([]saga.InstanceRecord, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []saga.InstanceRecord
	for rows.Next() {
		r, err := scanInstance(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// InsertInstance implements saga.Store. In a context whose writes are
// deferred (DB.WithDeferred) the insert waits for the Flush, which reports
// a taken key as store.ErrDuplicate for the whole transaction.
func (s *Store) InsertInstance(ctx context.Context, tx *sql.Tx, in saga.InstanceRecord, steps []saga.StepRecord) error {
	encoded, err := encodeSteps(steps)
	if err != nil {
		return fmt.Errorf("sagastore: insert instance %s %q: %w", in.Definition, in.BusinessKey, err)
	}
	_, err = store.ExecOrDefer(ctx, tx, `INSERT INTO saga_instances (`+instanceCols+`, steps)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		in.ID, in.Definition, in.BusinessKey, string(in.State), in.StepIndex, in.Payload, clip(in.Reason), string(in.ResumeState),
		dbTime(in.RunAt), in.LeaseOwner, in.LeaseToken, in.Version, in.Wakes, dbTime(in.CreatedAt), dbTime(in.UpdatedAt), in.TraceParent,
		encoded)
	if store.IsUniqueViolation(err) {
		return fmt.Errorf("sagastore: insert instance %s %q: %w", in.Definition, in.BusinessKey, saga.ErrDuplicate)
	}
	if err != nil {
		return fmt.Errorf("sagastore: insert instance %s %q: %w", in.Definition, in.BusinessKey, err)
	}
	return nil
}

// UpdateInstance implements saga.Store, as UpdateInstances of one.
func (s *Store) UpdateInstance(ctx context.Context, tx *sql.Tx, u saga.InstanceUpdate) (bool, error) {
	n, err := s.UpdateInstances(ctx, tx, []saga.InstanceUpdate{u})
	return n == 1, err
}

// UpdateInstances implements saga.Store: one statement for them all, each
// column chosen by id. The run-at is decided in the statement, on the row
// as it is under its lock: a wake-up that committed before it is seen, and
// one that commits after it finds the instance released and makes it due
// itself (WakeInstance). MySQL assigns left to right, so wakes is cleared
// after run_at read it.
func (s *Store) UpdateInstances(ctx context.Context, tx *sql.Tx, ups []saga.InstanceUpdate) (int, error) {
	if len(ups) == 0 {
		return 0, nil
	}
	var b strings.Builder
	var args []any
	// column sets name to expr for each instance, by id; values gives the
	// arguments of expr's placeholders.
	column := func(name, expr string, values func(in saga.InstanceRecord) []any) {
		if b.Len() > 0 {
			b.WriteString(",\n")
		}
		b.WriteString(name + " = CASE id")
		for _, u := range ups {
			b.WriteString(" WHEN ? THEN " + expr)
			args = append(append(args, u.Record.ID), values(u.Record)...)
		}
		b.WriteString(" END")
	}
	column("state", "?", func(in saga.InstanceRecord) []any { return []any{string(in.State)} })
	column("step_index", "?", func(in saga.InstanceRecord) []any { return []any{in.StepIndex} })
	column("reason", "?", func(in saga.InstanceRecord) []any { return []any{clip(in.Reason)} })
	column("resume_state", "?", func(in saga.InstanceRecord) []any { return []any{string(in.ResumeState)} })
	column("run_at", "(CASE WHEN ? = 1 AND wakes > 0 THEN ? ELSE ? END)", func(in saga.InstanceRecord) []any {
		waits := in.LeaseToken == "" && in.RunAt.After(in.UpdatedAt)
		return []any{boolInt(waits), dbTime(in.UpdatedAt), dbTime(in.RunAt)}
	})
	column("lease_owner", "?", func(in saga.InstanceRecord) []any { return []any{in.LeaseOwner} })
	column("lease_token", "?", func(in saga.InstanceRecord) []any { return []any{in.LeaseToken} })
	column("version", "?", func(in saga.InstanceRecord) []any { return []any{in.Version} })
	column("updated_at", "?", func(in saga.InstanceRecord) []any { return []any{dbTime(in.UpdatedAt)} })
	if err := setSteps(&b, &args, ups); err != nil {
		return 0, fmt.Errorf("sagastore: update instances: %w", err)
	}
	where := make([]string, len(ups))
	for i, u := range ups {
		where[i] = "(id = ? AND version = ?)"
		args = append(args, u.Record.ID, u.PrevVersion)
	}
	what := fmt.Sprintf("%d instances", len(ups))
	if len(ups) == 1 {
		what = "instance " + ups[0].Record.ID
	}
	res, err := tx.ExecContext(ctx, "UPDATE saga_instances SET\n"+b.String()+",\nwakes = 0\nWHERE "+strings.Join(where, " OR "), args...)
	if err != nil {
		return 0, fmt.Errorf("sagastore: update %s: %w", what, err)
	}
	n, err := rowsAffected(res)
	if err != nil {
		return 0, fmt.Errorf("sagastore: update %s: %w", what, err)
	}
	return int(n), nil
}

// WakeInstance implements saga.Store. One statement decides on the row as
// it is under its lock, never on an earlier read that a runner's write may
// have overtaken.
func (s *Store) WakeInstance(ctx context.Context, tx *sql.Tx, definition, businessKey string, now time.Time) (bool, error) {
	at := dbTime(now)
	res, err := tx.ExecContext(ctx, `UPDATE saga_instances
SET version = CASE WHEN lease_token = '' THEN version + 1 ELSE version END,
    updated_at = CASE WHEN lease_token = '' THEN ? ELSE updated_at END,
    wakes = CASE WHEN lease_token <> '' THEN wakes + 1 ELSE wakes END,
    run_at = CASE WHEN lease_token = '' THEN ? ELSE run_at END
WHERE definition = ? AND business_key = ? AND state IN (?, ?)
  AND (lease_token <> '' OR run_at > ?)`,
		at, at, definition, businessKey, string(saga.Running), string(saga.Compensating), at)
	if err != nil {
		return false, fmt.Errorf("sagastore: wake instance %s %q: %w", definition, businessKey, err)
	}
	n, err := rowsAffected(res)
	if err != nil {
		return false, fmt.Errorf("sagastore: wake instance %s %q: %w", definition, businessKey, err)
	}
	return n == 1, nil
}

// ExtendLease implements saga.Store.
func (s *Store) ExtendLease(ctx context.Context, tx *sql.Tx, id, token string, version int64, until time.Time) (bool, error) {
	res, err := tx.ExecContext(ctx, `UPDATE saga_instances SET run_at = ?
WHERE id = ? AND version = ? AND lease_token = ? AND lease_token <> ''`, dbTime(until), id, version, token)
	if err != nil {
		return false, fmt.Errorf("sagastore: extend lease of %s: %w", id, err)
	}
	n, err := rowsAffected(res)
	if err != nil {
		return false, fmt.Errorf("sagastore: extend lease of %s: %w", id, err)
	}
	return n == 1, nil
}

// ClaimInstances implements saga.Store.
func (s *Store) ClaimInstances(ctx context.Context, tx *sql.Tx, c saga.Claim) ([]saga.InstanceRecord, error) {
	if len(c.Definitions) == 0 || c.Limit <= 0 {
		return nil, nil
	}
	args := append([]any{dbTime(c.Now)}, anys(c.Definitions)...)
	args = append(args, c.Limit)
	recs, err := queryInstances(ctx, tx, `SELECT `+instanceCols+` FROM saga_instances
WHERE run_at <= ? AND definition IN (`+placeholders(len(c.Definitions))+`)
ORDER BY run_at LIMIT ?`+s.forUpdateSkipLocked(), args...)
	if err != nil {
		return nil, fmt.Errorf("sagastore: claim instances: %w", err)
	}
	if len(recs) == 0 {
		return nil, nil
	}
	ids := make([]any, len(recs))
	for i, r := range recs {
		ids[i] = r.ID
	}
	until := dbTime(c.LeaseUntil)
	res, err := tx.ExecContext(ctx, `UPDATE saga_instances
SET lease_owner = ?, lease_token = ?, run_at = ?, version = version + 1, wakes = 0
WHERE id IN (`+placeholders(len(ids))+`)`, append([]any{c.Owner, c.Token, until}, ids...)...)
	if err != nil {
		return nil, fmt.Errorf("sagastore: claim instances: %w", err)
	}
	if n, err := rowsAffected(res); err != nil || n != int64(len(ids)) {
		return nil, fmt.Errorf("sagastore: claim instances: leased %d of %d rows (%v)", n, len(ids), err)
	}
	for i := range recs {
		recs[i].LeaseOwner = c.Owner
		recs[i].LeaseToken = c.Token
		recs[i].RunAt = c.LeaseUntil.UTC().Truncate(time.Microsecond)
		recs[i].Version++
		recs[i].Wakes = 0
	}
	return recs, nil
}

// Instance implements saga.Store.
func (s *Store) Instance(ctx context.Context, tx *sql.Tx, id string) (saga.InstanceRecord, error) {
	r, err := scanInstance(s.q(tx).QueryRowContext(ctx, `SELECT `+instanceCols+` FROM saga_instances WHERE id = ?`, id))
	if isNoRows(err) {
		return r, notFound("instance "+id, saga.ErrNotFound)
	}
	if err != nil {
		return r, fmt.Errorf("sagastore: instance %s: %w", id, err)
	}
	return r, nil
}

// InstanceByKey implements saga.Store.
func (s *Store) InstanceByKey(ctx context.Context, tx *sql.Tx, definition, businessKey string) (saga.InstanceRecord, error) {
	r, err := scanInstance(s.q(tx).QueryRowContext(ctx, `SELECT `+instanceCols+` FROM saga_instances
WHERE definition = ? AND business_key = ?`, definition, businessKey))
	if isNoRows(err) {
		return r, notFound(fmt.Sprintf("instance %s %q", definition, businessKey), saga.ErrNotFound)
	}
	if err != nil {
		return r, fmt.Errorf("sagastore: instance %s %q: %w", definition, businessKey, err)
	}
	return r, nil
}

// Filter limits.
const (
	defaultLimit = 100
	maxLimit     = 1000
)

func limit(n int) int {
	switch {
	case n <= 0:
		return defaultLimit
	case n > maxLimit:
		return maxLimit
	}
	return n
}

// Instances implements saga.Store.
func (s *Store) Instances(ctx context.Context, f saga.Filter) ([]saga.InstanceRecord, error) {
	var where []string
	var args []any
	if f.Definition != "" {
		where = append(where, "definition = ?")
		args = append(args, f.Definition)
	}
	if f.BusinessKey != "" {
		where = append(where, "business_key = ?")
		args = append(args, f.BusinessKey)
	}
	if len(f.States) > 0 {
		where = append(where, "state IN ("+placeholders(len(f.States))+")")
		for _, st := range f.States {
			args = append(args, string(st))
		}
	}
	if !f.UpdatedBefore.IsZero() {
		where = append(where, "updated_at < ?")
		args = append(args, dbTime(f.UpdatedBefore))
	}
	if !f.CreatedBefore.IsZero() {
		where = append(where, "created_at < ?")
		args = append(args, dbTime(f.CreatedBefore))
	}
	if f.AfterID != "" {
		where = append(where, "(updated_at > ? OR (updated_at = ? AND id > ?))")
		args = append(args, dbTime(f.AfterUpdatedAt), dbTime(f.AfterUpdatedAt), f.AfterID)
	}
	query := `SELECT ` + instanceCols + ` FROM saga_instances`
	if len(where) > 0 {
		query += " WHERE " + strings.Join(where, " AND ")
	}
	query += " ORDER BY updated_at, id LIMIT ?"
	args = append(args, limit(f.Limit))
	recs, err := queryInstances(ctx, s.db.SQL(), query, args...)
	if err != nil {
		return nil, fmt.Errorf("sagastore: list instances: %w", err)
	}
	return recs, nil
}

const stepCols = `saga_id, step, op, status, attempts, output, last_error, updated_at`

// Steps implements saga.Store. An instance's records are in its row (the
// steps column); an instance last written before that column existed has
// NULL there, and its records are still the rows of saga_steps.
func (s *Store) Steps(ctx context.Context, tx *sql.Tx, sagaIDs ...string) ([]saga.StepRecord, error) {
	if len(sagaIDs) == 0 {
		return nil, nil
	}
	rows, err := s.q(tx).QueryContext(ctx, `SELECT id, steps FROM saga_instances
WHERE id IN (`+placeholders(len(sagaIDs))+`)`, anys(sagaIDs)...)
	if err != nil {
		return nil, fmt.Errorf("sagastore: steps: %w", err)
	}
	defer rows.Close()
	var out []saga.StepRecord
	var legacy []string
	for rows.Next() {
		var id string
		var encoded []byte
		if err := rows.Scan(&id, &encoded); err != nil {
			return nil, fmt.Errorf("sagastore: steps: %w", err)
		}
		if encoded == nil {
			legacy = append(legacy, id)
			continue
		}
		steps, err := decodeSteps(id, encoded)
		if err != nil {
			return nil, fmt.Errorf("sagastore: steps of %s: %w", id, err)
		}
		out = append(out, steps...)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sagastore: steps: %w", err)
	}
	rows.Close()
	if len(legacy) == 0 {
		return out, nil
	}
	old, err := s.legacySteps(ctx, tx, legacy)
	if err != nil {
		return nil, err
	}
	return append(out, old...), nil
}

// legacySteps reads the saga_steps rows of instances whose records are not
// in their row.
func (s *Store) legacySteps(ctx context.Context, tx *sql.Tx, sagaIDs []string) ([]saga.StepRecord, error) {
	rows, err := s.q(tx).QueryContext(ctx, `SELECT `+stepCols+` FROM saga_steps
WHERE saga_id IN (`+placeholders(len(sagaIDs))+`) ORDER BY saga_id, updated_at, step, op`, anys(sagaIDs)...)
	if err != nil {
		return nil, fmt.Errorf("sagastore: steps: %w", err)
	}
	defer rows.Close()
	var out []saga.StepRecord
	for rows.Next() {
		var r saga.StepRecord
		var op, status string
		if err := rows.Scan(&r.SagaID, &r.Step, &op, &status, &r.Attempts, &r.Output, &r.LastError, &r.UpdatedAt); err != nil {
			return nil, fmt.Errorf("sagastore: steps: %w", err)
		}
		r.Op, r.Status = saga.Op(op), saga.StepStatus(status)
		r.UpdatedAt = r.UpdatedAt.UTC()
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sagastore: steps: %w", err)
	}
	return out, nil
}

// SetSteps implements saga.Store: one statement for every set.
func (s *Store) SetSteps(ctx context.Context, tx *sql.Tx, sets ...saga.StepSet) error {
	if len(sets) == 0 {
		return nil
	}
	var b strings.Builder
	args := make([]any, 0, 3*len(sets))
	b.WriteString("UPDATE saga_instances SET steps = CASE id")
	for _, set := range sets {
		encoded, err := encodeSteps(set.Steps)
		if err != nil {
			return fmt.Errorf("sagastore: set steps of %s: %w", set.SagaID, err)
		}
		b.WriteString(" WHEN ? THEN ?")
		args = append(args, set.SagaID, encoded)
	}
	b.WriteString(" END WHERE id IN (" + placeholders(len(sets)) + ")")
	for _, set := range sets {
		args = append(args, set.SagaID)
	}
	if _, err := tx.ExecContext(ctx, b.String(), args...); err != nil {
		return fmt.Errorf("sagastore: set steps of %s: %w", sets[0].SagaID, err)
	}
	return nil
}

// setSteps adds the steps column to an UPDATE of ups: each update's
// records where it carries them, the stored ones where it does not.
func setSteps(b *strings.Builder, args *[]any, ups []saga.InstanceUpdate) error {
	carried := false
	for _, u := range ups {
		carried = carried || u.Steps != nil
	}
	if !carried {
		return nil
	}
	b.WriteString(",\nsteps = CASE id")
	for _, u := range ups {
		if u.Steps == nil {
			b.WriteString(" WHEN ? THEN steps")
			*args = append(*args, u.Record.ID)
			continue
		}
		encoded, err := encodeSteps(u.Steps)
		if err != nil {
			return fmt.Errorf("steps of %s: %w", u.Record.ID, err)
		}
		b.WriteString(" WHEN ? THEN ?")
		*args = append(*args, u.Record.ID, encoded)
	}
	b.WriteString(" END")
	return nil
}

// storedStep is a step record as its instance's row holds it (JSON, so an
// operator reading the row can read it too); the saga id is the row's.
type storedStep struct {
	Step      string    `json:"step"`
	Op        string    `json:"op"`
	Status    string    `json:"status"`
	Attempts  int       `json:"attempts"`
	Output    []byte    `json:"output,omitempty"`
	LastError string    `json:"lastError,omitempty"`
	UpdatedAt time.Time `json:"updatedAt"`
}

// encodeSteps is the steps column's value for steps: a JSON array, in the
// order given ("[]" for none). Times are kept to the microsecond, in UTC,
// as the other columns keep them; errors are clipped as last_error was.
func encodeSteps(steps []saga.StepRecord) ([]byte, error) {
	out := make([]storedStep, len(steps))
	for i, r := range steps {
		out[i] = storedStep{
			Step: r.Step, Op: string(r.Op), Status: string(r.Status), Attempts: r.Attempts,
			Output: r.Output, LastError: clip(r.LastError), UpdatedAt: r.UpdatedAt.UTC().Truncate(time.Microsecond),
		}
	}
	return json.Marshal(out)
}

func decodeSteps(sagaID string, encoded []byte) ([]saga.StepRecord, error) {
	var in []storedStep
	if err := json.Unmarshal(encoded, &in); err != nil {
		return nil, err
	}
	out := make([]saga.StepRecord, len(in))
	for i, r := range in {
		out[i] = saga.StepRecord{
			SagaID: sagaID, Step: r.Step, Op: saga.Op(r.Op), Status: saga.StepStatus(r.Status), Attempts: r.Attempts,
			Output: r.Output, LastError: r.LastError, UpdatedAt: r.UpdatedAt.UTC(),
		}
	}
	return out, nil
}
