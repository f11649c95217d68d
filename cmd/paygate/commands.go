package main

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/shopspring/decimal"

	"github.com/paygate/paygate"
	"github.com/paygate/paygate/internal/pgenv"
	"github.com/paygate/paygate/outbox"
	"github.com/paygate/paygate/settlement"
)

const timeLayout = time.RFC3339

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(timeLayout)
}

// --- migrate -------------------------------------------------------------

type migrationJSON struct {
	Version   int    `json:"version"`
	Name      string `json:"name"`
	State     string `json:"state"`
	AppliedAt string `json:"appliedAt,omitempty"`
}

func migrationRows(e *env) ([]migrationJSON, error) {
	states, err := e.db.MigrationStatus(e.ctx)
	if err != nil {
		return nil, err
	}
	out := make([]migrationJSON, 0, len(states))
	for _, s := range states {
		m := migrationJSON{Version: s.Version, Name: s.Name, State: "pending", AppliedAt: fmtTime(s.AppliedAt)}
		switch {
		case s.Unknown:
			m.State = "applied, not in this binary"
		case s.Applied:
			m.State = "applied"
		}
		out = append(out, m)
	}
	return out, nil
}

func printMigrations(e *env, ms []migrationJSON) error {
	rows := make([][]string, 0, len(ms))
	for _, m := range ms {
		rows = append(rows, []string{fmt.Sprintf("%04d", m.Version), m.Name, m.State, m.AppliedAt})
	}
	return e.print(map[string]any{"migrations": ms}, []string{"VERSION", "NAME", "STATE", "APPLIED AT"}, rows)
}

type migrateUpCmd struct{}

func (migrateUpCmd) Run(e *env) error {
	if _, err := e.open(false); err != nil {
		return err
	}
	if err := e.db.Migrate(e.ctx); err != nil {
		return fmt.Errorf("%w; nothing after the failing migration was applied, fix its cause and run `paygate migrate up` again", err)
	}
	ms, err := migrationRows(e)
	if err != nil {
		return err
	}
	return printMigrations(e, ms)
}

type migrateStatusCmd struct{}

func (migrateStatusCmd) Run(e *env) error {
	if _, err := e.open(false); err != nil {
		return err
	}
	ms, err := migrationRows(e)
	if err != nil {
		return err
	}
	return printMigrations(e, ms)
}

// --- attention -------------------------------------------------------------

type attentionCmd struct {
	OlderThan time.Duration `name:"older-than" default:"0s" help:"Only what has been open at least this long (e.g. 10m)."`
	Limit     int           `name:"limit" default:"100" help:"At most this many items of each kind."`
}

type attentionJSON struct {
	Kind      string `json:"kind"`
	ID        string `json:"id"`
	PaymentID string `json:"paymentId"`
	State     string `json:"state"`
	Reason    string `json:"reason"`
	Since     string `json:"since"`
	Attempts  int    `json:"attempts"`
}

func (c attentionCmd) Run(e *env) error {
	if c.Limit < 1 || c.Limit > 1000 {
		return usagef("--limit must be 1 to 1000")
	}
	if c.OlderThan < 0 {
		return usagef("--older-than must not be negative")
	}
	p, err := e.paygate(nil)
	if err != nil {
		return err
	}
	list, err := p.Unresolved(e.ctx, c.OlderThan, c.Limit)
	if err != nil {
		return err
	}
	items := make([]attentionJSON, 0, len(list))
	rows := make([][]string, 0, len(list))
	for _, a := range list {
		items = append(items, attentionJSON{Kind: a.Kind, ID: a.ID, PaymentID: a.PaymentID, State: a.State,
			Reason: a.Reason, Since: fmtTime(a.Since), Attempts: a.Attempts})
		rows = append(rows, []string{a.Kind, a.ID, a.PaymentID, a.State, strconv.Itoa(a.Attempts), fmtTime(a.Since), a.Reason})
	}
	if !e.cli.JSON && len(items) == 0 {
		_, err := fmt.Fprintln(e.out, "Nothing needs attention.")
		return err
	}
	return e.print(map[string]any{"items": items}, []string{"KIND", "ID", "PAYMENT", "STATE", "ATTEMPTS", "SINCE", "REASON"}, rows)
}

// --- retry / resolve -------------------------------------------------------

type retryCmd struct {
	Kind     string `arg:"" enum:"saga,delivery" help:"saga (by its id) or delivery (by its event's id, as attention lists it)."`
	ID       string `arg:"" help:"The item's id, as attention lists it."`
	Operator string `name:"operator" help:"Who acts, for the payment's timeline (default: $PAYGATE_OPERATOR or $USER)."`
}

type actionJSON struct {
	Action   string  `json:"action"`
	Kind     string  `json:"kind"`
	ID       string  `json:"id"`
	Operator string  `json:"operator"`
	Note     string  `json:"note,omitempty"`
	Redone   []int64 `json:"deliveries,omitempty"`
}

func (c retryCmd) Run(e *env) error {
	p, err := e.paygate(nil)
	if err != nil {
		return err
	}
	op := e.operator(c.Operator)
	out := actionJSON{Action: "retry", Kind: c.Kind, ID: c.ID, Operator: op}
	switch c.Kind {
	case "saga":
		if err := p.RetryAttention(e.ctx, paygate.AttentionSaga, c.ID, paygate.ByOperator(op)); err != nil {
			return actionError(err, "retry")
		}
	case "delivery":
		dead, err := p.Outbox().Deliveries(e.ctx, outbox.DeliveryFilter{Status: outbox.DeliveryDead, EventID: c.ID, Limit: 1000})
		if err != nil {
			return err
		}
		if len(dead) == 0 {
			return fmt.Errorf("no dead delivery of event %q: `paygate attention` lists them", c.ID)
		}
		for _, d := range dead {
			if err := p.Outbox().Redeliver(e.ctx, d.ID); err != nil {
				return fmt.Errorf("redeliver %d (%s): %w", d.ID, d.Subscriber, err)
			}
			out.Redone = append(out.Redone, d.ID)
		}
	}
	msg := fmt.Sprintf("%s %s scheduled again; the running service picks it up.", c.Kind, c.ID)
	return e.printAction(out, msg)
}

func (e *env) printAction(a actionJSON, msg string) error {
	if e.cli.JSON {
		return e.print(a, nil, nil)
	}
	_, err := fmt.Fprintln(e.out, msg)
	return err
}

// actionError says what to do about an operator action's refusal.
func actionError(err error, action string) error {
	switch {
	case errors.Is(err, paygate.ErrNotFound):
		return fmt.Errorf("%w: `paygate attention` lists the ids", err)
	case errors.Is(err, paygate.ErrInProgress):
		return fmt.Errorf("%w: a runner is writing it right now; %s again in a moment", err, action)
	case errors.Is(err, paygate.ErrConflict):
		return fmt.Errorf("%w: its state does not allow %s; `paygate attention` shows it", err, action)
	case errors.Is(err, paygate.ErrInvalid):
		return usageError{err.Error()}
	}
	return err
}

type resolveCmd struct {
	Kind     string `arg:"" enum:"saga" help:"saga: only sagas are resolved by hand."`
	ID       string `arg:"" help:"The saga's id, as attention lists it."`
	Reason   string `name:"reason" required:"" help:"What was done by hand (recorded in the payment's timeline)."`
	Operator string `name:"operator" help:"Who acts (default: $PAYGATE_OPERATOR or $USER)."`
}

func (c resolveCmd) Run(e *env) error {
	if len(c.Reason) < 3 {
		return usagef("--reason must say what was done (at least 3 characters)")
	}
	p, err := e.paygate(nil)
	if err != nil {
		return err
	}
	op := e.operator(c.Operator)
	if err := p.ResolveAttention(e.ctx, paygate.AttentionSaga, c.ID, c.Reason, paygate.ByOperator(op)); err != nil {
		return actionError(err, "resolve")
	}
	return e.printAction(actionJSON{Action: "resolve", Kind: c.Kind, ID: c.ID, Operator: op, Note: c.Reason},
		fmt.Sprintf("saga %s resolved by %s.", c.ID, op))
}

// --- reconcile ----------------------------------------------------------------

type reconcileCmd struct {
	PG      string `name:"pg" required:"" help:"The PG to compare with (tosspay, kakaopay, inicis)."`
	From    string `name:"from" required:"" placeholder:"YYYY-MM-DD" help:"First business day (Asia/Seoul)."`
	To      string `name:"to" required:"" placeholder:"YYYY-MM-DD" help:"Last business day, included."`
	FeeRate string `name:"fee-rate" help:"Fee rate of sales the run records itself (default: $PAYGATE_FEE_RATE or 0.032, the example server's)."`
}

func parseDay(flag, v string) (time.Time, error) {
	t, err := time.ParseInLocation("2006-01-02", v, settlement.Seoul)
	if err != nil {
		return time.Time{}, usagef("--%s %q: want a date as YYYY-MM-DD", flag, v)
	}
	return t, nil
}

func (c reconcileCmd) Run(e *env) error {
	from, err := parseDay("from", c.From)
	if err != nil {
		return err
	}
	to, err := parseDay("to", c.To)
	if err != nil {
		return err
	}
	if to.Before(from) {
		return usagef("--to %s is before --from %s", c.To, c.From)
	}
	rate := c.FeeRate
	if rate == "" {
		rate = e.getenv("PAYGATE_FEE_RATE")
	}
	if rate == "" {
		rate = defaultFeeRate
	}
	r, err := decimal.NewFromString(rate)
	if err != nil || r.IsNegative() || r.GreaterThanOrEqual(decimal.NewFromInt(1)) {
		return usagef("--fee-rate %q: want a fraction such as 0.032", rate)
	}
	p, err := e.paygate(settlement.RateFee{Rate: r})
	if err != nil {
		return err
	}
	known := false
	for _, name := range p.Reconciler().PGs() {
		known = known || name == c.PG
	}
	if !known {
		return usagef("--pg %q: want one of %v", c.PG, p.Reconciler().PGs())
	}
	if cfg := pgenv.FromEnv(e.getenv); !configured(c.PG, cfg) {
		return fmt.Errorf("%s is not configured: set %s", c.PG, pgenv.Variables(c.PG))
	}
	prog := newProgress(e, "reconcile", -1, "days")
	run, err := p.Reconciler().Reconcile(e.ctx, c.PG, from, to)
	prog.finish()
	if err != nil {
		if errors.Is(err, settlement.ErrInvalidQuery) {
			return usageError{err.Error()}
		}
		return err
	}
	type dayJSON struct {
		Date        string                  `json:"date"`
		LedgerNet   int64                   `json:"ledgerNet"`
		PGNet       *int64                  `json:"pgNet,omitempty"`
		Differences []settlement.Difference `json:"differences"`
	}
	days := make([]dayJSON, 0, len(run.Days))
	var rows [][]string
	for _, d := range run.Days {
		days = append(days, dayJSON{Date: d.Date, LedgerNet: d.LedgerNet, PGNet: d.PGNet, Differences: d.Differences})
		pgNet := ""
		if d.PGNet != nil {
			pgNet = strconv.FormatInt(*d.PGNet, 10)
		}
		if len(d.Differences) == 0 {
			rows = append(rows, []string{d.Date, strconv.FormatInt(d.LedgerNet, 10), pgNet, "", "", "", ""})
		}
		for _, df := range d.Differences {
			rec := ""
			if df.Recorded {
				rec = "recorded"
			}
			rows = append(rows, []string{d.Date, strconv.FormatInt(d.LedgerNet, 10), pgNet, string(df.Kind), df.PaymentID, df.Ours + " / " + df.Theirs, rec})
		}
	}
	out := map[string]any{"id": run.ID, "pg": run.PG, "from": c.From, "to": c.To, "source": run.Source,
		"checked": run.Checked, "differences": run.Differences, "recorded": run.Recorded, "days": days, "notes": run.Notes}
	if err := e.print(out, []string{"DATE", "LEDGER NET", "PG NET", "DIFFERENCE", "PAYMENT", "OURS / THEIRS", ""}, rows); err != nil {
		return err
	}
	if !e.cli.JSON {
		fmt.Fprintf(e.out, "run %s: %d payments checked, %d differences, %d recorded by the run\n", run.ID, run.Checked, run.Differences, run.Recorded)
	}
	return nil
}

func configured(name string, pgs pgenv.PGs) bool {
	var s pgenv.Settings
	switch name {
	case "tosspay":
		s = pgs.Toss
	case "kakaopay":
		s = pgs.KakaoPay
	case "inicis":
		s = pgs.Inicis
	}
	return s.Live() || s.Sandbox != "" || (name == "inicis" && s.MID != "")
}

// --- export ---------------------------------------------------------------------

type exportSettlementsCmd struct {
	From   string `name:"from" required:"" placeholder:"DATE" help:"First day (YYYY-MM-DD) or month (YYYY-MM with --period monthly)."`
	To     string `name:"to" required:"" placeholder:"DATE" help:"Last day or month, included."`
	Format string `name:"format" enum:"${formats}" default:"csv" help:"csv or xlsx."`
	Period string `name:"period" enum:"daily,monthly" default:"daily" help:"daily or monthly rows."`
	PG     string `name:"pg" help:"Only this PG."`
	Method string `name:"method" help:"Only this payment method."`
	Lang   string `name:"lang" enum:"ko,en" default:"ko" help:"Language of the headers."`
	Out    string `name:"out" short:"o" required:"" placeholder:"FILE" help:"File to write (- for standard output)."`
}

func (c exportSettlementsCmd) Run(e *env) error {
	layout := "2006-01-02"
	if c.Period == "monthly" {
		layout = "2006-01"
	}
	from, err := time.ParseInLocation(layout, c.From, settlement.Seoul)
	if err != nil {
		return usagef("--from %q: want %s", c.From, map[string]string{"daily": "YYYY-MM-DD", "monthly": "YYYY-MM"}[c.Period])
	}
	to, err := time.ParseInLocation(layout, c.To, settlement.Seoul)
	if err != nil {
		return usagef("--to %q: want %s", c.To, map[string]string{"daily": "YYYY-MM-DD", "monthly": "YYYY-MM"}[c.Period])
	}
	if c.Out == "-" && c.Format == "xlsx" && isTerminal(e.out) {
		return usagef("an XLSX file is binary: pass --out FILE")
	}
	p, err := e.paygate(nil)
	if err != nil {
		return err
	}
	q := settlement.ReportQuery{Period: settlement.Period(c.Period), From: from, To: to, PG: c.PG, Method: c.Method}
	var w *os.File
	if c.Out == "-" {
		w = nil
	} else {
		// Written beside the target and renamed when complete, so a
		// failed export leaves no half file under the name asked for.
		w, err = os.CreateTemp(dirOf(c.Out), ".paygate-export-*")
		if err != nil {
			return fmt.Errorf("create %s: %w", c.Out, err)
		}
		defer os.Remove(w.Name())
		defer w.Close()
	}
	dst := e.out
	if w != nil {
		dst = w
	}
	rw, err := settlement.NewReportWriter(dst, settlement.Format(c.Format), q.Period, settlement.Lang(c.Lang), "")
	if err != nil {
		return usageError{err.Error()}
	}
	defer rw.Close()
	prog := newProgress(e, "export", -1, "rows")
	var n int64
	tot, err := p.Ledger().Report(e.ctx, q, func(r settlement.ReportRow) error {
		n++
		prog.add(1)
		return rw.WriteRow(r)
	})
	if err == nil {
		err = rw.Finish(tot)
	}
	if err == nil {
		err = rw.Close()
	}
	prog.finish()
	if err != nil {
		if errors.Is(err, settlement.ErrInvalidQuery) {
			return usageError{err.Error()}
		}
		return err
	}
	if w != nil {
		if err := w.Close(); err != nil {
			return fmt.Errorf("write %s: %w", c.Out, err)
		}
		if err := os.Rename(w.Name(), c.Out); err != nil {
			return fmt.Errorf("write %s: %w", c.Out, err)
		}
		summary := map[string]any{"file": c.Out, "format": c.Format, "rows": n, "salesCount": tot.SalesCount,
			"refundCount": tot.RefundCount, "gross": tot.Gross, "refunds": tot.Refunds, "fee": tot.Fee, "vat": tot.VAT, "net": tot.Net}
		return e.print(summary, []string{"FILE", "ROWS", "SALES", "REFUNDS", "GROSS", "NET"},
			[][]string{{c.Out, strconv.FormatInt(n, 10), strconv.FormatInt(tot.SalesCount, 10), strconv.FormatInt(tot.RefundCount, 10),
				strconv.FormatInt(tot.Gross, 10), strconv.FormatInt(tot.Net, 10)}})
	}
	return nil
}

func dirOf(path string) string {
	for i := len(path) - 1; i >= 0; i-- {
		if os.IsPathSeparator(path[i]) {
			return path[:i+1]
		}
	}
	return "."
}

// --- webhooks replay ---------------------------------------------------------

type webhooksReplayCmd struct {
	ID string `arg:"" help:"The stored notification's id (the payment's detail in the console lists them)."`
}

func (c webhooksReplayCmd) Run(e *env) error {
	p, err := e.paygate(nil)
	if err != nil {
		return err
	}
	if err := p.WebhookHandler().Replay(e.ctx, c.ID); err != nil {
		return fmt.Errorf("%w; nothing changed", err)
	}
	return e.printAction(actionJSON{Action: "replay", Kind: "webhook", ID: c.ID, Operator: e.operator("")},
		fmt.Sprintf("webhook %s replayed.", c.ID))
}

// --- prune ------------------------------------------------------------------

type pruneCmd struct {
	DryRun     bool `name:"dry-run" help:"Count what would be deleted; delete nothing."`
	SagaDays   int  `name:"saga-days" default:"90" help:"Keep finished sagas this many days."`
	DeliverDay int  `name:"delivery-days" default:"90" help:"Keep done event deliveries (and their events) this many days."`
	WebhookDay int  `name:"webhook-days" default:"30" help:"Keep the webhook log this many days."`
	Batch      int  `name:"batch" default:"500" help:"Rows per transaction."`
}

func (c pruneCmd) Run(e *env) error {
	for _, d := range []struct {
		flag string
		v    int
	}{{"saga-days", c.SagaDays}, {"delivery-days", c.DeliverDay}, {"webhook-days", c.WebhookDay}} {
		if d.v < 1 {
			return usagef("--%s must be at least 1", d.flag)
		}
	}
	if c.Batch < 1 || c.Batch > 10000 {
		return usagef("--batch must be 1 to 10000")
	}
	p, err := e.paygateWith(func(cfg *paygate.RetentionConfig) {
		cfg.Sagas = time.Duration(c.SagaDays) * 24 * time.Hour
		cfg.Deliveries = time.Duration(c.DeliverDay) * 24 * time.Hour
		cfg.Webhooks = time.Duration(c.WebhookDay) * 24 * time.Hour
		cfg.Batch = c.Batch
	})
	if err != nil {
		return err
	}
	count, err := p.Prune(e.ctx, paygate.DryRun())
	if err != nil {
		return err
	}
	rep := count
	if !c.DryRun && count.Total() > 0 {
		prog := newProgress(e, "prune", count.Total(), "rows")
		rep, err = p.Prune(e.ctx, paygate.OnPruneProgress(func(pp paygate.PruneProgress) { prog.add(pp.Rows) }))
		prog.finish()
		if errors.Is(err, paygate.ErrPruneBusy) {
			return fmt.Errorf("%w: another process is pruning right now; nothing to do", err)
		}
		if err != nil {
			return fmt.Errorf("%w (%d rows deleted before it; run `paygate prune` again to go on)", err, rep.Total())
		}
	}
	verb := "deleted"
	if c.DryRun {
		verb = "would delete"
	}
	rows := [][]string{
		{"sagas", strconv.FormatInt(rep.Sagas, 10)},
		{"saga_steps", strconv.FormatInt(rep.SagaSteps, 10)},
		{"deliveries", strconv.FormatInt(rep.Deliveries, 10)},
		{"events", strconv.FormatInt(rep.Events, 10)},
		{"webhooks", strconv.FormatInt(rep.Webhooks, 10)},
		{"idempotency_keys", strconv.FormatInt(rep.IdempotencyKeys, 10)},
		{"total", strconv.FormatInt(rep.Total(), 10)},
	}
	rep.DryRun = c.DryRun
	return e.print(rep, []string{"TABLE", "ROWS " + verb}, rows)
}

// paygateWith is paygate with the retention settings changed by tune.
func (e *env) paygateWith(tune func(*paygate.RetentionConfig)) (*paygate.Paygate, error) {
	e.retention = tune
	return e.paygate(nil)
}
