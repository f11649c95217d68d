package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"text/tabwriter"

	"github.com/shopspring/decimal"

	"github.com/paygate/paygate"
	"github.com/paygate/paygate/internal/pgenv"
	"github.com/paygate/paygate/pg"
	"github.com/paygate/paygate/settlement"
	"github.com/paygate/paygate/store"
)

// cli is the command line: global flags and the commands.
type cli struct {
	DB   string `name:"db" placeholder:"DSN" help:"Database: sqlite:PATH or mysql:DSN (default: $PAYGATE_DB)."`
	JSON bool   `name:"json" help:"Print JSON instead of a table."`

	Migrate struct {
		Up     migrateUpCmd     `cmd:"" help:"Apply the migrations this binary has and the database lacks."`
		Status migrateStatusCmd `cmd:"" help:"List every migration, applied or pending."`
	} `cmd:"" help:"Database schema."`
	Attention attentionCmd `cmd:"" help:"List what needs a person: sagas needing attention or retrying, dead deliveries, unknown outcomes."`
	Retry     retryCmd     `cmd:"" help:"Retry a saga needing attention, or redeliver a dead event delivery."`
	Resolve   resolveCmd   `cmd:"" help:"Mark a saga as handled by hand, with the reason (recorded in its payment's timeline)."`
	Reconcile reconcileCmd `cmd:"" help:"Compare the settlement ledger with a PG's records for a range of days."`
	Export    struct {
		Settlements exportSettlementsCmd `cmd:"" help:"Write the settlement report of a range of days or months as CSV or XLSX."`
	} `cmd:"" help:"Downloads."`
	Webhooks struct {
		Replay webhooksReplayCmd `cmd:"" help:"Run a stored PG notification through the webhook intake's effect again."`
	} `cmd:"" help:"The webhook log."`
	Prune pruneCmd `cmd:"" help:"Delete finished work older than the retention ages, or count it with --dry-run."`
}

// env is what every command runs with.
type env struct {
	ctx    context.Context
	cli    *cli
	out    io.Writer
	errOut io.Writer
	getenv func(string) string
	tty    bool

	db *store.DB
	// retention changes the retention settings of the flow paygate builds.
	retention func(*paygate.RetentionConfig)
}

func (e *env) close() {
	if e.db != nil {
		_ = e.db.Close()
	}
}

// open opens the database; with checkSchema it refuses a database whose
// schema is behind this binary.
func (e *env) open(checkSchema bool) (*store.DB, error) {
	dsn := e.cli.DB
	if dsn == "" {
		dsn = e.getenv("PAYGATE_DB")
	}
	if dsn == "" {
		return nil, usagef("no database: pass --db or set PAYGATE_DB (sqlite:PATH or mysql:DSN)")
	}
	db, err := store.Open(e.ctx, dsn)
	if err != nil {
		return nil, fmt.Errorf("%w; check --db or PAYGATE_DB", err)
	}
	e.db = db
	if !checkSchema {
		return db, nil
	}
	states, err := db.MigrationStatus(e.ctx)
	if err != nil {
		return nil, err
	}
	at, need, pending := 0, 0, 0
	for _, s := range states {
		if s.Unknown {
			continue
		}
		need = max(need, s.Version)
		if s.Applied {
			at = max(at, s.Version)
		} else {
			pending++
		}
	}
	if pending > 0 {
		if at == 0 {
			return nil, fmt.Errorf("database has no paygate schema, this binary needs %04d: run `paygate migrate up`", need)
		}
		return nil, fmt.Errorf("database schema is at %04d, this binary needs %04d: run `paygate migrate up`", at, need)
	}
	return db, nil
}

// paygate builds the flow on the database, for the operator queries and
// actions. It never runs the flow's background work (that is the host's
// process); PGs without settings in the environment are registered as
// unconfigured, and any call to them fails saying which variables to set.
func (e *env) paygate(fees settlement.FeePolicy) (*paygate.Paygate, error) {
	db, err := e.open(true)
	if err != nil {
		return nil, err
	}
	gws, unconfigured, err := pgenv.Gateways(e.publicURL(), pgenv.FromEnv(e.getenv))
	if err != nil {
		return nil, fmt.Errorf("PG settings: %w", err)
	}
	for _, name := range unconfigured {
		gws = append(gws, unconfiguredPG{name: name})
	}
	reg, err := pg.NewRegistry(gws...)
	if err != nil {
		return nil, err
	}
	if fees == nil {
		fees = settlement.RateFee{Rate: decimal.RequireFromString(defaultFeeRate)}
	}
	cfg := paygate.Config{
		DB: db, Gateways: reg, Orders: noOrders{}, Fees: fees,
		// The library logs its own notices; the command says what
		// happened itself.
		Logger: slog.New(slog.NewTextHandler(e.errOut, &slog.HandlerOptions{Level: slog.LevelWarn})),
	}
	if e.retention != nil {
		e.retention(&cfg.Retention)
	}
	p, err := paygate.New(cfg)
	if errors.Is(err, paygate.ErrInvalid) {
		return nil, usageError{err.Error()}
	}
	return p, err
}

// defaultFeeRate is the example server's fee rate (app.Config.FeeRate).
const defaultFeeRate = "0.032"

func (e *env) publicURL() string {
	if u := e.getenv("PAYGATE_PUBLIC_URL"); u != "" {
		return u
	}
	if a := e.getenv("PAYGATE_ADDR"); a != "" {
		return "http://" + a
	}
	return "http://127.0.0.1:8080"
}

// operator names who acts, for the payment's timeline.
func (e *env) operator(flag string) string {
	for _, v := range []string{flag, e.getenv("PAYGATE_OPERATOR"), e.getenv("USER"), e.getenv("USERNAME")} {
		if v = strings.TrimSpace(v); v != "" {
			return "cli:" + v
		}
	}
	return "cli"
}

// print writes v as JSON with --json, else the table.
func (e *env) print(v any, header []string, rows [][]string) error {
	if e.cli.JSON {
		enc := json.NewEncoder(e.out)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	}
	return writeTable(e.out, header, rows)
}

// writeTable prints an aligned table; cells are made single-line.
func writeTable(w io.Writer, header []string, rows [][]string) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	line := func(cells []string) {
		for i, c := range cells {
			if i > 0 {
				fmt.Fprint(tw, "\t")
			}
			fmt.Fprint(tw, strings.NewReplacer("\t", " ", "\n", " ", "\r", " ").Replace(c))
		}
		fmt.Fprintln(tw)
	}
	line(header)
	for _, r := range rows {
		line(r)
	}
	return tw.Flush()
}

// unconfiguredPG stands for a PG the environment gives no settings for: the
// flow needs every PG's adapter registered to read its records, and a call
// to the PG itself fails, definitely not sent, naming what to set.
type unconfiguredPG struct{ name string }

func (u unconfiguredPG) Name() string { return u.name }

func (u unconfiguredPG) Capabilities() pg.Capabilities { return pg.Capabilities{} }

func (u unconfiguredPG) err(op string) error {
	return &pg.Error{PG: u.name, Op: op, Kind: pg.KindUnavailable,
		Message: u.name + " is not configured: set " + pgenv.Variables(u.name)}
}

func (u unconfiguredPG) Approve(context.Context, pg.ApproveRequest) (*pg.Payment, error) {
	return nil, u.err("approve")
}

func (u unconfiguredPG) Cancel(context.Context, pg.CancelRequest) (*pg.Payment, error) {
	return nil, u.err("cancel")
}

func (u unconfiguredPG) Lookup(context.Context, pg.LookupRequest) (*pg.Payment, error) {
	return nil, u.err("lookup")
}

// noOrders is the order service of the command: it never runs the flow's
// steps (the host's process does), so a call reaching it is refused.
type noOrders struct{}

var errNoOrders = errors.New("the paygate command runs no orders; the host's service does")

func (noOrders) CreateOrder(context.Context, paygate.OrderRequest) error   { return errNoOrders }
func (noOrders) RollbackOrder(context.Context, paygate.OrderRequest) error { return errNoOrders }
