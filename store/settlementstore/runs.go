package settlementstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/paygate/paygate/settlement"
)

var _ settlement.RunStore = (*Store)(nil)

// runResult is what a run's result column holds: everything of the run that
// is not a column of its own.
type runResult struct {
	Checked int                 `json:"checked"`
	Sampled int                 `json:"sampled"`
	Days    []settlement.RunDay `json:"days"`
	Notes   []string            `json:"notes,omitempty"`
}

// InsertRun implements settlement.RunStore: a run is one row of
// settlement_reconciliations (migration 0480), its days and differences
// a JSON document in the row.
func (s *Store) InsertRun(ctx context.Context, r *settlement.Run) error {
	if r.ID == "" || r.PG == "" {
		return errors.New("settlementstore: a run needs an id and a PG")
	}
	res, err := json.Marshal(runResult{Checked: r.Checked, Sampled: r.Sampled, Days: r.Days, Notes: r.Notes})
	if err != nil {
		return fmt.Errorf("settlementstore: run %s: %w", r.ID, err)
	}
	_, err = s.db.SQL().ExecContext(ctx, `INSERT INTO settlement_reconciliations
		(id, pg, from_date, to_date, source, differences, recorded, result, started_at, finished_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		r.ID, r.PG, r.From.In(settlement.Seoul).Format(dateLayout), r.To.In(settlement.Seoul).Format(dateLayout),
		r.Source, r.Differences, r.Recorded, string(res), r.StartedAt.UTC(), r.FinishedAt.UTC())
	if err != nil {
		return fmt.Errorf("settlementstore: run %s: %w", r.ID, err)
	}
	return nil
}

// Runs implements settlement.RunStore.
func (s *Store) Runs(ctx context.Context, pgName string, limit int) ([]settlement.Run, error) {
	if limit <= 0 {
		return nil, fmt.Errorf("settlementstore: runs: limit %d must be positive", limit)
	}
	q := `SELECT id, pg, from_date, to_date, source, differences, recorded, result, started_at, finished_at
		FROM settlement_reconciliations`
	args := []any{}
	if pgName != "" {
		q += ` WHERE pg = ?`
		args = append(args, pgName)
	}
	q += ` ORDER BY started_at DESC, id DESC LIMIT ?`
	args = append(args, limit)
	rows, err := s.db.SQL().QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("settlementstore: runs: %w", err)
	}
	defer rows.Close()
	var out []settlement.Run
	for rows.Next() {
		var r settlement.Run
		var from, to, res string
		if err := rows.Scan(&r.ID, &r.PG, &from, &to, &r.Source, &r.Differences, &r.Recorded, &res, &r.StartedAt, &r.FinishedAt); err != nil {
			return nil, fmt.Errorf("settlementstore: runs: %w", err)
		}
		var rr runResult
		if err := json.Unmarshal([]byte(res), &rr); err != nil {
			return nil, fmt.Errorf("settlementstore: run %s: %w", r.ID, err)
		}
		r.Checked, r.Sampled, r.Days, r.Notes = rr.Checked, rr.Sampled, rr.Days, rr.Notes
		r.From, _ = time.ParseInLocation(dateLayout, from, settlement.Seoul)
		r.To, _ = time.ParseInLocation(dateLayout, to, settlement.Seoul)
		out = append(out, r)
	}
	return out, rows.Err()
}
