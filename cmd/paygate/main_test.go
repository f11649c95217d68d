package main_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/paygate/paygate"
	"github.com/paygate/paygate/inicis"
	"github.com/paygate/paygate/inicis/inicistest"
	"github.com/paygate/paygate/outbox"
	"github.com/paygate/paygate/pg"
	"github.com/paygate/paygate/pg/pgtest"
	"github.com/paygate/paygate/saga"
	"github.com/paygate/paygate/settlement"
	"github.com/paygate/paygate/store"
	"github.com/paygate/paygate/store/storetest"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// binary builds the command once for the test run, into the first
// caller's temporary directory (kept until every test ended: the directory
// belongs to the whole-package test below).
func binary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "paygate-cli-")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "paygate")
		out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	require.NoError(t, buildErr)
	return binPath
}

func TestMain(m *testing.M) {
	code := m.Run()
	if binPath != "" {
		_ = os.RemoveAll(filepath.Dir(binPath))
	}
	os.Exit(code)
}

// result is one run of the command.
type result struct {
	code           int
	stdout, stderr string
}

// cli runs the command with env added to a clean environment.
func cli(t *testing.T, env []string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary(t), args...)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir(), "USER=tester"}, env...)
	cmd.Dir = t.TempDir()
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	r := result{stdout: out.String(), stderr: errOut.String()}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		r.code = ee.ExitCode()
	default:
		t.Fatalf("run paygate %v: %v", args, err)
	}
	return r
}

func jsonOf(t *testing.T, r result) map[string]any {
	t.Helper()
	require.Zero(t, r.code, "stderr: %s", r.stderr)
	var v map[string]any
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &v), "stdout: %s", r.stdout)
	return v
}

// shop is an order service that creates every order.
type shop struct{}

func (shop) CreateOrder(context.Context, paygate.OrderRequest) error   { return nil }
func (shop) RollbackOrder(context.Context, paygate.OrderRequest) error { return nil }

// seed runs a host's paygate on the database until an approved payment is
// settled and a refund of a second one, refused by the PG for good, waits
// in the attention queue. It returns the refused refund's saga and both
// payments.
func seed(t *testing.T, dsn string, sb *inicistest.Server) (sagaID, refusedPayment, paidPayment string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	db, err := store.Open(ctx, dsn)
	require.NoError(t, err)
	defer db.Close()
	gw, err := inicis.New(sb.GatewayConfig())
	require.NoError(t, err)
	reg, err := pg.NewRegistry(gw)
	require.NoError(t, err)
	p, err := paygate.New(paygate.Config{
		DB: db, Gateways: reg, Orders: shop{}, Fees: settlement.RateFee{Rate: decimal.RequireFromString("0.032")},
		RefundRetry: saga.Policy{InitialBackoff: 10 * time.Millisecond, MaxBackoff: 50 * time.Millisecond},
		Runner:      saga.RunnerConfig{Loop: saga.Loop{PollInterval: 20 * time.Millisecond}},
		Outbox:      outbox.Config{Loop: outbox.Loop{PollInterval: 20 * time.Millisecond}},
		Retention:   paygate.RetentionConfig{Disabled: true},
		Logger:      slog.New(slog.NewTextHandler(io.Discard, nil)),
		// A host's subscriber (the example server's shipping): the sales
		// are written with their approvals, so the flows' deliveries are
		// this subscriber's.
		Subscribers: []outbox.Subscriber{{Name: "shipping", Types: []string{paygate.EventOrderCreated},
			Handle: func(context.Context, *sql.Tx, outbox.Delivery) error { return nil }}},
	})
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	defer func() {
		cancel()
		require.NoError(t, <-done)
	}()
	pay := func(order string, amount int64) string {
		_, err := p.Prepare(ctx, paygate.PrepareRequest{OrderID: order, OrderName: "cli test", Amount: pg.Won(amount), PG: inicis.Name,
			SuccessURL: "https://shop.example/ok", CancelURL: "https://shop.example/cancel", FailURL: "https://shop.example/fail"})
		require.NoError(t, err)
		paid, err := sb.Pay(ctx, pgtest.PayRequest{OrderID: order, Amount: pg.Won(amount)})
		require.NoError(t, err)
		res, err := p.Approve(ctx, paygate.ApproveRequest{PG: inicis.Name, OrderID: order, Amount: pg.Won(amount), Redirect: paid.Redirect})
		require.NoError(t, err)
		require.Equal(t, pg.StatusApproved, res.Status)
		return res.PaymentID
	}
	paidPayment = pay("order-paid", 15000)
	refusedPayment = pay("order-refused", 9000)
	require.NoError(t, sb.FailNext(pgtest.OpCancel, "order-refused", pgtest.FaultDecline))
	for deadline := time.Now().Add(30 * time.Second); ; {
		_, err = p.Cancel(ctx, paygate.CancelRequest{PaymentID: refusedPayment, Reason: "customer canceled", IdempotencyKey: "cancel-1"})
		if !errors.Is(err, paygate.ErrInProgress) || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond) // its order is still being created
	}
	require.ErrorIs(t, err, paygate.ErrPG)
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) && sagaID == "" {
		list, err := p.Unresolved(ctx, 0, 100)
		require.NoError(t, err)
		for _, a := range list {
			if a.Kind == paygate.AttentionSaga && a.State == string(saga.NeedsAttention) && a.PaymentID == refusedPayment {
				sagaID = a.ID
			}
		}
		var entries int
		require.NoError(t, db.SQL().QueryRow("SELECT COUNT(*) FROM settlement_entries").Scan(&entries))
		if entries < 2 {
			sagaID = ""
		}
		time.Sleep(20 * time.Millisecond)
	}
	require.NotEmpty(t, sagaID, "the refused refund waits in the queue and both sales are in the ledger")
	pending, err := p.Outbox().Deliveries(ctx, outbox.DeliveryFilter{Status: outbox.DeliveryPending, Limit: 100})
	require.NoError(t, err)
	for deadline := time.Now().Add(30 * time.Second); len(pending) > 0 && time.Now().Before(deadline); {
		time.Sleep(20 * time.Millisecond)
		pending, err = p.Outbox().Deliveries(ctx, outbox.DeliveryFilter{Status: outbox.DeliveryPending, Limit: 100})
		require.NoError(t, err)
	}
	require.Empty(t, pending)
	return sagaID, refusedPayment, paidPayment
}

func TestCLI_OperatesADatabase(t *testing.T) {
	t.Parallel()
	for _, d := range storetest.Dialects {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			testCLI(t, d)
		})
	}
}

func testCLI(t *testing.T, d store.Dialect) {
	dsn := storetest.NewDSN(t, d)
	sb := inicistest.NewServer(inicistest.Config{})
	t.Cleanup(sb.Close)
	env := []string{"PAYGATE_DB=" + dsn}

	// Usage: no database, unknown command, missing flags.
	r := cli(t, nil, "attention")
	assert.Equal(t, 2, r.code)
	assert.Contains(t, r.stderr, "pass --db or set PAYGATE_DB")
	r = cli(t, env, "frobnicate")
	assert.Equal(t, 2, r.code)
	assert.Contains(t, r.stderr, "paygate --help")
	r = cli(t, env, "--help")
	assert.Zero(t, r.code)
	assert.Contains(t, r.stdout, "migrate up")

	// A database without the schema: the error says what to run.
	r = cli(t, env, "attention")
	assert.Equal(t, 1, r.code)
	assert.Contains(t, r.stderr, "run `paygate migrate up`")
	st := jsonOf(t, cli(t, env, "--json", "migrate", "status"))
	ms := st["migrations"].([]any)
	require.NotEmpty(t, ms)
	for _, m := range ms {
		assert.Equal(t, "pending", m.(map[string]any)["state"])
	}

	r = cli(t, nil, "--db", dsn, "migrate", "up")
	require.Zero(t, r.code, r.stderr)
	assert.Contains(t, r.stdout, "0520")
	assert.Contains(t, r.stdout, "store/0520_saga_steps_inline")
	st = jsonOf(t, cli(t, env, "--json", "migrate", "status"))
	for _, m := range st["migrations"].([]any) {
		assert.Equal(t, "applied", m.(map[string]any)["state"])
	}
	// A schema one migration behind this binary.
	{
		db, err := store.Open(context.Background(), dsn)
		require.NoError(t, err)
		_, err = db.SQL().Exec("DELETE FROM paygate_schema_migrations WHERE version = 520")
		require.NoError(t, err)
		r = cli(t, env, "attention")
		assert.Equal(t, 1, r.code)
		assert.Regexp(t, `database schema is at \d{4}, this binary needs 0520: run .paygate migrate up.`, r.stderr)
		_, err = db.SQL().Exec("INSERT INTO paygate_schema_migrations (version, name, checksum, applied_at) VALUES (520, 'store/0520_saga_steps_inline', ?, ?)",
			checksumOf(t, d), time.Now().UTC())
		require.NoError(t, err)
		require.NoError(t, db.Close())
	}

	r = cli(t, env, "attention")
	require.Zero(t, r.code, r.stderr)
	assert.Equal(t, "Nothing needs attention.\n", r.stdout)

	sagaID, refused, paid := seed(t, dsn, sb)

	// attention lists the refused refund, as a table and as JSON.
	r = cli(t, env, "attention")
	require.Zero(t, r.code, r.stderr)
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	require.GreaterOrEqual(t, len(lines), 2)
	assert.Regexp(t, `^KIND\s+ID\s+PAYMENT\s+STATE\s+ATTEMPTS\s+SINCE\s+REASON$`, lines[0])
	assert.Contains(t, r.stdout, sagaID)
	assert.Equal(t, strings.Index(lines[0], "ID"), strings.Index(lines[1], sagaID), "columns are aligned")
	att := jsonOf(t, cli(t, env, "--json", "attention"))
	items := att["items"].([]any)
	require.Len(t, items, 1)
	item := items[0].(map[string]any)
	assert.Equal(t, "saga", item["kind"])
	assert.Equal(t, sagaID, item["id"])
	assert.Equal(t, refused, item["paymentId"])
	assert.Equal(t, "NEEDS_ATTENTION", item["state"])

	// retry: the saga resumes (the host's runner sends the refund), and
	// the action is in the payment's timeline.
	r = cli(t, env, "retry", "saga", sagaID, "--operator", "kim")
	require.Zero(t, r.code, r.stderr)
	assert.Contains(t, r.stdout, "scheduled again")
	assert.Equal(t, []string{"retry:cli:kim"}, operatorActions(t, dsn, refused))
	r = cli(t, env, "retry", "saga", "saga-that-does-not-exist")
	assert.Equal(t, 1, r.code)
	assert.Contains(t, r.stderr, "`paygate attention` lists the ids")
	r = cli(t, env, "retry", "order", sagaID)
	assert.Equal(t, 2, r.code, "unknown kind")
	r = cli(t, env, "retry", "delivery", "event-that-does-not-exist")
	assert.Equal(t, 1, r.code)
	assert.Contains(t, r.stderr, "no dead delivery")

	// resolve needs a reason; with one it ends the saga and is recorded.
	r = cli(t, env, "resolve", "saga", sagaID)
	assert.Equal(t, 2, r.code)
	assert.Contains(t, r.stderr, "--reason")
	act := jsonOf(t, cli(t, env, "--json", "resolve", "saga", sagaID, "--reason", "refunded by bank transfer"))
	assert.Equal(t, "cli:tester", act["operator"])
	assert.Equal(t, []string{"retry:cli:kim", "resolve:cli:tester:refunded by bank transfer"}, operatorActions(t, dsn, refused))
	r = cli(t, env, "resolve", "saga", sagaID, "--reason", "again")
	assert.Equal(t, 1, r.code, "a resolved saga cannot be resolved again")
	assert.Contains(t, r.stderr, "does not allow resolve")
	assert.Equal(t, "Nothing needs attention.\n", cli(t, env, "attention").stdout)

	// A dead delivery is listed by its event and redelivered.
	var eventID string
	{
		db := openDB(t, dsn)
		require.NoError(t, db.SQL().QueryRow("SELECT event_id FROM saga_deliveries WHERE status = 'DONE' ORDER BY id LIMIT 1").Scan(&eventID))
		_, err := db.SQL().Exec("UPDATE saga_deliveries SET status = 'DEAD', last_error = 'shipping service refused', run_at = NULL WHERE event_id = ?", eventID)
		require.NoError(t, err)
		require.NoError(t, db.Close())
	}
	att = jsonOf(t, cli(t, env, "--json", "attention"))
	items = att["items"].([]any)
	dead := scalar(t, dsn, "SELECT COUNT(*) FROM saga_deliveries WHERE event_id = ?", eventID)
	require.Len(t, items, dead, "one item per subscriber's dead delivery")
	for _, it := range items {
		assert.Equal(t, "delivery", it.(map[string]any)["kind"])
		assert.Equal(t, eventID, it.(map[string]any)["id"])
		assert.Equal(t, "shipping service refused", it.(map[string]any)["reason"])
	}
	act = jsonOf(t, cli(t, env, "--json", "retry", "delivery", eventID))
	assert.Len(t, act["deliveries"], dead)
	assert.Zero(t, scalar(t, dsn, "SELECT COUNT(*) FROM saga_deliveries WHERE status = 'DEAD'"))
	assert.Equal(t, len(act["deliveries"].([]any)), scalar(t, dsn, "SELECT COUNT(*) FROM saga_deliveries WHERE event_id = ? AND status = 'PENDING'", eventID))

	// export: CSV and XLSX files of today's ledger; progress lines, not a
	// bar, when stderr is not a terminal.
	today := time.Now().In(settlement.Seoul).Format("2006-01-02")
	dir := t.TempDir()
	csvPath := filepath.Join(dir, "s.csv")
	r = cli(t, env, "export", "settlements", "--from", today, "--to", today, "--format", "csv", "--lang", "en", "--out", csvPath)
	require.Zero(t, r.code, r.stderr)
	assert.Contains(t, r.stderr, "export: done")
	body, err := os.ReadFile(csvPath)
	require.NoError(t, err)
	assert.Contains(t, string(body), today)
	assert.Contains(t, string(body), "24000", "both sales, 15000 + 9000")
	xlsxPath := filepath.Join(dir, "s.xlsx")
	sum := jsonOf(t, cli(t, env, "--json", "export", "settlements", "--from", today, "--to", today, "--format", "xlsx", "--out", xlsxPath))
	assert.EqualValues(t, 24000, sum["gross"])
	body, err = os.ReadFile(xlsxPath)
	require.NoError(t, err)
	assert.True(t, bytes.HasPrefix(body, []byte("PK")), "an XLSX file is a zip")
	r = cli(t, env, "export", "settlements", "--from", today, "--to", today, "--format", "pdf", "--out", filepath.Join(dir, "x"))
	assert.Equal(t, 2, r.code)
	r = cli(t, env, "export", "settlements", "--from", "yesterday", "--to", today, "--out", filepath.Join(dir, "x"))
	assert.Equal(t, 2, r.code)
	assert.Contains(t, r.stderr, "YYYY-MM-DD")
	_, err = os.Stat(filepath.Join(dir, "x"))
	assert.True(t, os.IsNotExist(err), "nothing written on a refused export")

	// reconcile against the PG's sandbox, configured as the example
	// server's environment does it.
	r = cli(t, env, "reconcile", "--pg", "tosspay", "--from", today, "--to", today)
	assert.Equal(t, 1, r.code)
	assert.Contains(t, r.stderr, "PAYGATE_TOSS_SECRET_KEY")
	withPG := append([]string{"PAYGATE_INICIS_SANDBOX_URL=" + sb.URL}, env...)
	run := jsonOf(t, cli(t, withPG, "--json", "reconcile", "--pg", "inicis", "--from", today, "--to", today))
	assert.Equal(t, "inicis", run["pg"])
	assert.EqualValues(t, 0, run["differences"], "%v", run)
	assert.NotEmpty(t, run["id"])
	r = cli(t, withPG, "reconcile", "--pg", "inicis", "--from", today, "--to", "2000-01-01")
	assert.Equal(t, 2, r.code)

	// webhooks replay: a stored notification runs through the effect
	// again and is counted; an unknown id changes nothing.
	whID := storeWebhook(t, dsn, paid)
	r = cli(t, env, "webhooks", "replay", whID)
	require.Zero(t, r.code, r.stderr)
	assert.Equal(t, 1, scalar(t, dsn, "SELECT replay_count FROM webhook_deliveries WHERE id = ?", whID))
	r = cli(t, env, "webhooks", "replay", "whk_unknown")
	assert.Equal(t, 1, r.code)
	assert.Contains(t, r.stderr, "nothing changed")

	// prune: a dry run counts, a prune deletes, and the payment records
	// stay.
	ageFinished(t, dsn, 100*24*time.Hour)
	events := scalar(t, dsn, "SELECT COUNT(*) FROM payment_events")
	sagas := scalar(t, dsn, "SELECT COUNT(*) FROM saga_instances")
	require.Positive(t, sagas)
	dry := jsonOf(t, cli(t, env, "--json", "prune", "--dry-run"))
	assert.Equal(t, true, dry["dryRun"])
	assert.EqualValues(t, sagas, dry["sagas"])
	assert.Equal(t, sagas, scalar(t, dsn, "SELECT COUNT(*) FROM saga_instances"), "a dry run deletes nothing")
	r = cli(t, env, "prune", "--batch", "2")
	require.Zero(t, r.code, r.stderr)
	assert.Regexp(t, `(?m)^sagas\s+`+fmt.Sprint(sagas)+`$`, r.stdout)
	assert.Regexp(t, `(?m)^prune: \d+ rows to go$`, r.stderr)
	assert.Contains(t, r.stderr, "prune: done")
	assert.Zero(t, scalar(t, dsn, "SELECT COUNT(*) FROM saga_instances"))
	assert.Equal(t, events, scalar(t, dsn, "SELECT COUNT(*) FROM payment_events"))
	assert.Equal(t, 2, scalar(t, dsn, "SELECT COUNT(*) FROM settlement_entries"))
	again := jsonOf(t, cli(t, env, "--json", "prune"))
	assert.EqualValues(t, 0, again["sagas"])
	r = cli(t, env, "prune", "--saga-days", "0")
	assert.Equal(t, 2, r.code)
}

func openDB(t *testing.T, dsn string) *store.DB {
	t.Helper()
	db, err := store.Open(context.Background(), dsn)
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	return db
}

func scalar(t *testing.T, dsn, query string, args ...any) int {
	t.Helper()
	db := openDB(t, dsn)
	var n int
	require.NoError(t, db.SQL().QueryRow(query, args...).Scan(&n))
	require.NoError(t, db.Close())
	return n
}

// operatorActions lists the payment's OPERATOR_ACTION events as
// "action:operator[:note]".
func operatorActions(t *testing.T, dsn, paymentID string) []string {
	t.Helper()
	db := openDB(t, dsn)
	evs, err := db.EventsByPayment(context.Background(), paymentID)
	require.NoError(t, err)
	var out []string
	for _, ev := range evs {
		if ev.Type != paygate.EventOperatorAction {
			continue
		}
		var e struct {
			Reason string                 `json:"reason"`
			Data   paygate.OperatorAction `json:"data"`
		}
		require.NoError(t, json.Unmarshal(ev.Payload, &e))
		s := e.Data.Action + ":" + e.Data.Operator
		if e.Reason != "" {
			s += ":" + e.Reason
		}
		out = append(out, s)
	}
	require.NoError(t, db.Close())
	return out
}

// storeWebhook records a PG notification of the payment as the intake
// would have, and returns its id.
func storeWebhook(t *testing.T, dsn, paymentID string) string {
	t.Helper()
	db := openDB(t, dsn)
	var key, order string
	require.NoError(t, db.SQL().QueryRow("SELECT payment_key, order_id FROM payments WHERE id = ?", paymentID).Scan(&key, &order))
	ev := pg.WebhookEvent{PG: inicis.Name, Type: "PAYMENT_STATUS_CHANGED", DedupKey: "noti-1", PaymentKey: key, OrderID: order,
		Status: pg.StatusApproved, Amount: pg.Won(15000)}
	raw, err := json.Marshal(ev)
	require.NoError(t, err)
	id := "whk_cli_test"
	_, err = db.SQL().Exec(`INSERT INTO webhook_deliveries (id, pg, dedup_key, event_type, payment_key, order_id, status, event, headers, body, body_sha256, received_at)
VALUES (?, ?, 'noti-1', 'PAYMENT_STATUS_CHANGED', ?, ?, 'APPROVED', ?, '{}', ?, ?, ?)`,
		id, inicis.Name, key, order, string(raw), []byte("{}"), strings.Repeat("0", 64), time.Now().UTC())
	require.NoError(t, err)
	require.NoError(t, db.Close())
	return id
}

// ageFinished moves the finished work of the database back by d.
func ageFinished(t *testing.T, dsn string, d time.Duration) {
	t.Helper()
	db := openDB(t, dsn)
	at := time.Now().UTC().Add(-d).Truncate(time.Microsecond)
	for _, q := range []string{
		"UPDATE saga_instances SET created_at = ?, updated_at = ?",
		"UPDATE saga_deliveries SET created_at = ?, updated_at = ?",
		"UPDATE saga_events SET created_at = ?, occurred_at = ?",
	} {
		_, err := db.SQL().Exec(q, at, at)
		require.NoError(t, err)
	}
	require.NoError(t, db.Close())
}

// checksumOf is the recorded checksum of migration 0520 in another
// database of the same dialect, migrated by the library.
func checksumOf(t *testing.T, d store.Dialect) string {
	t.Helper()
	db := storetest.Open(t, d)
	var sum string
	require.NoError(t, db.SQL().QueryRow("SELECT checksum FROM paygate_schema_migrations WHERE version = 520").Scan(&sum))
	return sum
}
