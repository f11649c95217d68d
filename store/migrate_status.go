package store

import (
	"context"
	"fmt"
	"time"
)

// MigrationState is one migration as MigrationStatus sees it.
type MigrationState struct {
	Version int
	// Name is owner/name ("store/0510_retention").
	Name string
	// Applied is set when the database recorded the migration, with when.
	Applied   bool
	AppliedAt time.Time
	// Unknown marks a version the database recorded that this binary has
	// no file of (a newer release, or a host's migrations not passed).
	Unknown bool
}

// MigrationStatus lists, in version order, every migration Migrate would
// apply with opts — applied or pending — and the versions the database
// recorded that it does not know. It changes nothing; on a database never
// migrated every migration is pending.
func (db *DB) MigrationStatus(ctx context.Context, opts ...MigrateOption) ([]MigrationState, error) {
	ms, err := loadMigrations(db.dialect, opts...)
	if err != nil {
		return nil, err
	}
	exists, err := db.tableExists(ctx, migrationsTable)
	if err != nil {
		return nil, err
	}
	recorded := map[int]MigrationState{}
	if exists {
		rows, err := db.sql.QueryContext(ctx, "SELECT version, name, applied_at FROM "+migrationsTable)
		if err != nil {
			return nil, fmt.Errorf("store: migration status: %w", err)
		}
		for rows.Next() {
			var s MigrationState
			if err := rows.Scan(&s.Version, &s.Name, &s.AppliedAt); err != nil {
				rows.Close()
				return nil, fmt.Errorf("store: migration status: %w", err)
			}
			s.Applied, s.AppliedAt = true, s.AppliedAt.UTC()
			recorded[s.Version] = s
		}
		if err := rows.Close(); err != nil {
			return nil, fmt.Errorf("store: migration status: %w", err)
		}
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("store: migration status: %w", err)
		}
	}
	var out []MigrationState
	for _, m := range ms {
		s := MigrationState{Version: m.version, Name: m.owner + "/" + m.name}
		if r, ok := recorded[m.version]; ok {
			s.Applied, s.AppliedAt = true, r.AppliedAt
			delete(recorded, m.version)
		}
		out = append(out, s)
	}
	for _, r := range recorded {
		r.Unknown = true
		out = append(out, r)
	}
	sortStates(out)
	return out, nil
}

func sortStates(ss []MigrationState) {
	for i := 1; i < len(ss); i++ {
		for j := i; j > 0 && ss[j].Version < ss[j-1].Version; j-- {
			ss[j], ss[j-1] = ss[j-1], ss[j]
		}
	}
}

func (db *DB) tableExists(ctx context.Context, name string) (bool, error) {
	query := "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = ?"
	if db.dialect == MySQL {
		query = "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = DATABASE() AND table_name = ?"
	}
	var n int
	if err := db.sql.QueryRowContext(ctx, query, name).Scan(&n); err != nil {
		return false, fmt.Errorf("store: migration status: %w", err)
	}
	return n > 0, nil
}
