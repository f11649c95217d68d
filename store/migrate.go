package store

import (
	"bufio"
	"context"
	"crypto/sha256"
	"database/sql"
	"database/sql/driver"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

//go:embed migrations
var embeddedMigrations embed.FS

// migrationsTable records what Migrate applied.
const migrationsTable = "paygate_schema_migrations"

// statementMarker, alone on a line, starts a new statement in a migration
// file that uses markers instead of ";" at line end.
const statementMarker = "-- +statement"

// migrationFile is the name every migration file has: four digits, an
// underscore, a lower-case name, ".sql".
var migrationFile = regexp.MustCompile(`^([0-9]{4})_([a-z0-9_]+)\.sql$`)

type migration struct {
	version    int
	name       string
	owner      string
	checksum   string
	statements []string
}

type migrationSource struct {
	owner string
	fsys  fs.FS
}

// ownOwner names store's own migrations in errors and in
// paygate_schema_migrations.
const ownOwner = "store"

// MigrateOption adds to what DB.Migrate applies.
type MigrateOption func(*migrateOptions)

type migrateOptions struct {
	sources []migrationSource
	err     error
}

// WithMigrations makes Migrate apply a host's own migrations together with
// store's, in one version order: the tables of an order service or a shop
// that live in the same database. fsys holds the same layout as store's own,
// "mysql/NNNN_name.sql" and "sqlite/NNNN_name.sql" (a dialect without a
// directory has none), typically an embed.FS narrowed with fs.Sub:
//
//	//go:embed migrations
//	var migrations embed.FS
//
//	sub, _ := fs.Sub(migrations, "migrations")
//	err := db.Migrate(ctx, store.WithMigrations("shop", sub))
//
// owner names the files in errors and in paygate_schema_migrations; it must
// not be empty, "store", or given twice. Versions 0900–0999 are kept free
// for a host; a version that store or another source also uses is an error
// at Migrate, before anything is applied. Pass the same sources every time:
// a migration left out of a later run is not undone, only not checked.
func WithMigrations(owner string, fsys fs.FS) MigrateOption {
	return func(o *migrateOptions) {
		switch {
		case o.err != nil:
		case owner == "" || owner == ownOwner:
			o.err = fmt.Errorf("store: migrations: owner %q is reserved or empty; name the package the files belong to", owner)
		case fsys == nil:
			o.err = fmt.Errorf("store: migrations of %s: no files given", owner)
		case slices.ContainsFunc(o.sources, func(s migrationSource) bool { return s.owner == owner }):
			o.err = fmt.Errorf("store: migrations of %s: given twice", owner)
		default:
			o.sources = append(o.sources, migrationSource{owner: owner, fsys: fsys})
		}
	}
}

// migrationSources returns store's own migrations followed by those opts
// add.
func migrationSources(opts []MigrateOption) ([]migrationSource, error) {
	own, err := fs.Sub(embeddedMigrations, "migrations")
	if err != nil {
		return nil, fmt.Errorf("store: migrations: %w", err)
	}
	o := migrateOptions{sources: []migrationSource{{owner: ownOwner, fsys: own}}}
	for _, opt := range opts {
		if opt != nil {
			opt(&o)
		}
	}
	if o.err != nil {
		return nil, o.err
	}
	return o.sources, nil
}

// loadMigrations reads store's own migrations and those opts add, for
// dialect d, sorted by version.
func loadMigrations(d Dialect, opts ...MigrateOption) ([]migration, error) {
	sources, err := migrationSources(opts)
	if err != nil {
		return nil, err
	}
	var all []migration
	seen := map[int]migration{}
	for _, src := range sources {
		ms, err := readMigrations(src, d)
		if err != nil {
			return nil, err
		}
		for _, m := range ms {
			if prev, dup := seen[m.version]; dup {
				return nil, fmt.Errorf("store: migrations: version %04d is both %s/%s and %s/%s",
					m.version, prev.owner, prev.name, m.owner, m.name)
			}
			seen[m.version] = m
			all = append(all, m)
		}
	}
	slices.SortFunc(all, func(a, b migration) int { return a.version - b.version })
	return all, nil
}

func readMigrations(src migrationSource, d Dialect) ([]migration, error) {
	entries, err := fs.ReadDir(src.fsys, string(d))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("store: migrations of %s: %w", src.owner, err)
	}
	var ms []migration
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".sql") {
			continue
		}
		match := migrationFile.FindStringSubmatch(e.Name())
		if match == nil {
			return nil, fmt.Errorf("store: migrations of %s: %s/%s is not named NNNN_name.sql", src.owner, d, e.Name())
		}
		version, _ := strconv.Atoi(match[1])
		if version == 0 {
			return nil, fmt.Errorf("store: migrations of %s: %s/%s: version 0000 is not allowed", src.owner, d, e.Name())
		}
		body, err := fs.ReadFile(src.fsys, path.Join(string(d), e.Name()))
		if err != nil {
			return nil, fmt.Errorf("store: migrations of %s: %w", src.owner, err)
		}
		stmts := splitStatements(string(body))
		if len(stmts) == 0 {
			return nil, fmt.Errorf("store: migrations of %s: %s/%s has no statements", src.owner, d, e.Name())
		}
		sum := sha256.Sum256(body)
		ms = append(ms, migration{
			version:    version,
			name:       strings.TrimSuffix(e.Name(), ".sql"),
			owner:      src.owner,
			checksum:   hex.EncodeToString(sum[:]),
			statements: stmts,
		})
	}
	return ms, nil
}

// splitStatements cuts a migration file into statements. If any line is
// exactly "-- +statement" (surrounding blanks ignored), each such line starts
// a new statement and semicolons are left alone (use this for SQLite
// triggers). Otherwise a statement ends at a line whose last non-blank
// character is ";". Chunks holding only comments and blanks are dropped; a
// final ";" is trimmed from each statement.
func splitStatements(body string) []string {
	var chunks []string
	var cur strings.Builder
	flush := func() {
		chunks = append(chunks, cur.String())
		cur.Reset()
	}
	markers := false
	for line := range strings.Lines(body) {
		if strings.TrimSpace(line) == statementMarker {
			markers = true
			break
		}
	}
	sc := bufio.NewScanner(strings.NewReader(body))
	sc.Buffer(make([]byte, 0, 64*1024), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if markers {
			if strings.TrimSpace(line) == statementMarker {
				flush()
				continue
			}
			cur.WriteString(line)
			cur.WriteByte('\n')
			continue
		}
		cur.WriteString(line)
		cur.WriteByte('\n')
		if strings.HasSuffix(strings.TrimRight(line, " \t\r"), ";") {
			flush()
		}
	}
	flush()
	var stmts []string
	for _, c := range chunks {
		s := strings.TrimSpace(c)
		s = strings.TrimSpace(strings.TrimSuffix(s, ";"))
		if onlyComments(s) {
			continue
		}
		stmts = append(stmts, s)
	}
	return stmts
}

func onlyComments(s string) bool {
	for line := range strings.Lines(s) {
		l := strings.TrimSpace(line)
		if l != "" && !strings.HasPrefix(l, "--") {
			return false
		}
	}
	return true
}

// Migrate brings the schema up to date: it applies, in version order, every
// migration not yet recorded in the paygate_schema_migrations table, and
// records each. It applies store's own migrations, which create every table
// of paygate's packages (payments, idempotency keys, the webhook log, sagas
// and the outbox, the settlement ledger), and those opts add with
// WithMigrations; nothing else, whatever packages the program imports.
//
// It is idempotent and safe to run from several processes at once. On MySQL
// the whole run holds a named lock (GET_LOCK, scoped to the database) on one
// connection, because DDL there commits implicitly and cannot sit in a
// transaction: if a file fails halfway, its earlier statements stay applied
// and its version is not recorded, so migration files use IF NOT EXISTS
// where the dialect allows it. On SQLite the whole run is one immediate
// transaction and a failure leaves nothing behind.
//
// A migration that was applied and whose file has changed since is an error:
// applied migrations are never edited, a new version is added instead. A
// file is recognised by its version and checksum, not by the name recorded
// with it, so a file that moved between owners unchanged (the settlement
// ledger's 0300, once settlement's own) is not applied again.
// Versions recorded in the table but unknown to this binary (a newer release
// migrated) are left alone. A lower version added after higher ones were
// applied is applied normally, since version ranges are reserved per package.
func (db *DB) Migrate(ctx context.Context, opts ...MigrateOption) error {
	ms, err := loadMigrations(db.dialect, opts...)
	if err != nil {
		return err
	}
	switch db.dialect {
	case MySQL:
		return db.migrateMySQL(ctx, ms)
	default:
		return db.InTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
			return applyMigrations(ctx, tx, db.dialect, ms)
		})
	}
}

func (db *DB) migrateMySQL(ctx context.Context, ms []migration) (err error) {
	conn, err := db.sql.Conn(ctx)
	if err != nil {
		return fmt.Errorf("store: migrate: %w", err)
	}
	defer conn.Close()
	const lockName = "CONCAT('paygate_migrate_', SHA1(DATABASE()))"
	wait := 600
	if deadline, ok := ctx.Deadline(); ok {
		wait = max(1, int(time.Until(deadline).Seconds()))
	}
	var got sql.NullInt64
	if err := conn.QueryRowContext(ctx, "SELECT GET_LOCK("+lockName+", ?)", wait).Scan(&got); err != nil {
		return fmt.Errorf("store: migrate: take the migration lock: %w", err)
	}
	if !got.Valid || got.Int64 != 1 {
		return fmt.Errorf("store: migrate: another process held the migration lock for %ds", wait)
	}
	defer func() {
		var released sql.NullInt64
		rerr := conn.QueryRowContext(context.WithoutCancel(ctx), "SELECT RELEASE_LOCK("+lockName+")").Scan(&released)
		if rerr != nil || !released.Valid || released.Int64 != 1 {
			// Never hand a connection that may still hold the lock back
			// to the pool: closing it releases the lock server-side.
			_ = conn.Raw(func(any) error { return driver.ErrBadConn })
		}
	}()
	return applyMigrations(ctx, conn, MySQL, ms)
}

// applyMigrations runs the pending migrations through q, which is the locked
// connection on MySQL and the immediate transaction on SQLite.
func applyMigrations(ctx context.Context, q Querier, d Dialect, ms []migration) error {
	if _, err := q.ExecContext(ctx, migrationsTableDDL(d)); err != nil {
		return fmt.Errorf("store: migrate: create %s: %w", migrationsTable, err)
	}
	type applied struct{ name, checksum string }
	done := map[int]applied{}
	rows, err := q.QueryContext(ctx, "SELECT version, name, checksum FROM "+migrationsTable)
	if err != nil {
		return fmt.Errorf("store: migrate: read %s: %w", migrationsTable, err)
	}
	for rows.Next() {
		var v int
		var a applied
		if err := rows.Scan(&v, &a.name, &a.checksum); err != nil {
			rows.Close()
			return fmt.Errorf("store: migrate: read %s: %w", migrationsTable, err)
		}
		done[v] = a
	}
	if err := rows.Close(); err != nil {
		return fmt.Errorf("store: migrate: read %s: %w", migrationsTable, err)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("store: migrate: read %s: %w", migrationsTable, err)
	}
	for _, m := range ms {
		if a, ok := done[m.version]; ok {
			if a.checksum != m.checksum {
				return fmt.Errorf("store: migrate: %s migration %04d (%s) changed after it was applied as %s; add a new version instead",
					d, m.version, m.owner+"/"+m.name, a.name)
			}
			continue
		}
		for i, stmt := range m.statements {
			if _, err := q.ExecContext(ctx, stmt); err != nil {
				return fmt.Errorf("store: migrate: %s %s/%s statement %d: %w", d, m.owner, m.name, i+1, err)
			}
		}
		if _, err := q.ExecContext(ctx,
			"INSERT INTO "+migrationsTable+" (version, name, checksum, applied_at) VALUES (?, ?, ?, ?)",
			m.version, m.owner+"/"+m.name, m.checksum, dbTime(time.Now())); err != nil {
			return fmt.Errorf("store: migrate: record %s/%s: %w", m.owner, m.name, err)
		}
	}
	return nil
}

func migrationsTableDDL(d Dialect) string {
	if d == MySQL {
		return `CREATE TABLE IF NOT EXISTS ` + migrationsTable + ` (
  version    BIGINT       NOT NULL PRIMARY KEY,
  name       VARCHAR(255) NOT NULL,
  checksum   CHAR(64)     NOT NULL,
  applied_at DATETIME(6)  NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin`
	}
	return `CREATE TABLE IF NOT EXISTS ` + migrationsTable + ` (
  version    INTEGER  NOT NULL PRIMARY KEY,
  name       TEXT     NOT NULL,
  checksum   TEXT     NOT NULL,
  applied_at DATETIME NOT NULL
)`
}

// dbTime is how every time goes into the database: UTC, to the microsecond
// (MySQL DATETIME(6) precision), so both dialects store and compare the same
// instant and SQLite's text form sorts chronologically.
func dbTime(t time.Time) time.Time {
	return t.UTC().Truncate(time.Microsecond)
}

// PendingMigrations lists, as "owner/name", the migrations of store and of
// opts (pass the ones Migrate gets) that the database has not applied, in
// version order; empty when the schema is current. It reads the
// paygate_schema_migrations table and changes nothing. A database never
// migrated (no such table) and a migration applied from a file that has
// changed since are errors.
func (db *DB) PendingMigrations(ctx context.Context, opts ...MigrateOption) ([]string, error) {
	ms, err := loadMigrations(db.dialect, opts...)
	if err != nil {
		return nil, err
	}
	applied := map[int]string{}
	rows, err := db.sql.QueryContext(ctx, "SELECT version, checksum FROM "+migrationsTable)
	if err != nil {
		// Also what a database never migrated answers: the table is missing.
		return nil, fmt.Errorf("store: pending migrations: read %s: %w", migrationsTable, err)
	}
	defer rows.Close()
	for rows.Next() {
		var v int
		var sum string
		if err := rows.Scan(&v, &sum); err != nil {
			return nil, fmt.Errorf("store: pending migrations: %w", err)
		}
		applied[v] = sum
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: pending migrations: %w", err)
	}
	var pending []string
	for _, m := range ms {
		sum, ok := applied[m.version]
		switch {
		case !ok:
			pending = append(pending, m.owner+"/"+m.name)
		case sum != m.checksum:
			return nil, fmt.Errorf("store: %s migration %04d (%s/%s) changed after it was applied", db.dialect, m.version, m.owner, m.name)
		}
	}
	return pending, nil
}
