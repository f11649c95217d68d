// Package app is the example commerce backend built on paygate: an HTTP API
// for checkouts, approvals, cancels and orders, PG webhooks, and — for every
// PG without live settings — that PG's sandbox, served by the same server so
// the whole flow runs on one machine with nothing else installed.
package app

import (
	"context"
	"crypto/sha256"
	_ "embed"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/shopspring/decimal"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/paygate/paygate"
	"github.com/paygate/paygate/admin"
	"github.com/paygate/paygate/idempotency"
	"github.com/paygate/paygate/outbox"
	"github.com/paygate/paygate/pg"
	"github.com/paygate/paygate/pg/pgtest"
	"github.com/paygate/paygate/saga"
	"github.com/paygate/paygate/settlement"
	"github.com/paygate/paygate/store"
	"github.com/paygate/paygate/webhook"
)

// OpenAPI is the HTTP API's contract.
//
//go:embed openapi.yaml
var OpenAPI []byte

// Config configures the app.
type Config struct {
	// DB is the database: "sqlite:PATH" or "mysql:DSN".
	DB string
	// PublicURL is where this server is reached, e.g.
	// "http://127.0.0.1:8080": sandbox PGs hand out addresses under it.
	PublicURL string
	// AdminToken is the operator token: refunds (POST
	// /payments/{id}/cancel) and the operators' console under /admin/ need
	// it, as "Authorization: Bearer <token>" or typed into the console's
	// login. Required, at least MinAdminTokenLen characters;
	// GenerateAdminToken makes one.
	AdminToken string
	// Live settings per PG; empty runs that PG's sandbox.
	Toss, KakaoPay, Inicis PGSettings
	// FeeRate is the PG fee rate for the settlement ledger (default 3.2%).
	FeeRate decimal.Decimal
	// Logger defaults to slog.Default().
	Logger *slog.Logger
	// Subscribers are more outbox subscribers, after the app's own: the
	// server adds outbox/natsrelay's when PAYGATE_NATS_URL is set.
	Subscribers []outbox.Subscriber
	// Tune changes paygate's configuration before it is built (tests use
	// it for fast retries).
	Tune func(*paygate.Config)
	// MeterProvider and TracerProvider are handed to paygate (nil: the
	// global ones); Metrics, when set, is served at GET /metrics
	// (NewTelemetry builds all three).
	MeterProvider  metric.MeterProvider
	TracerProvider trace.TracerProvider
	Metrics        http.Handler
	// StaleAfter is how long ago the saga runner's and the outbox's loops
	// may last have gone round for /readyz to call them alive; default
	// 30s (they go round every second, every 5 s at most while the
	// database fails).
	StaleAfter time.Duration
}

// App is the running example server.
type App struct {
	cfg      Config
	db       *store.DB
	pay      *paygate.Paygate
	orders   *Orders
	keys     *idempotency.Manager
	intake   *webhook.Intake
	pgs      map[string]gatewaySetup
	names    []string
	log      *slog.Logger
	mux      *http.ServeMux
	console  *admin.Handler
	closeOne sync.Once
	// adminDigest is the SHA-256 of the operator token.
	adminDigest [sha256.Size]byte
}

// New opens and migrates the database and wires paygate, the PGs and the
// HTTP API. Call Run for the background work and Close at the end.
func New(ctx context.Context, cfg Config) (*App, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.StaleAfter <= 0 {
		cfg.StaleAfter = 30 * time.Second
	}
	if cfg.FeeRate.IsZero() {
		cfg.FeeRate = decimal.RequireFromString("0.032")
	}
	cfg.PublicURL = strings.TrimRight(cfg.PublicURL, "/")
	if len(cfg.AdminToken) < MinAdminTokenLen || strings.TrimSpace(cfg.AdminToken) != cfg.AdminToken {
		return nil, fmt.Errorf("app: the operator token must be at least %d characters without surrounding spaces", MinAdminTokenLen)
	}
	db, err := store.Open(ctx, cfg.DB, store.WithLogger(cfg.Logger))
	if err != nil {
		return nil, err
	}
	a := &App{cfg: cfg, db: db, log: cfg.Logger, pgs: map[string]gatewaySetup{}, adminDigest: sha256.Sum256([]byte(cfg.AdminToken))}
	if err := a.init(ctx); err != nil {
		_ = db.Close()
		return nil, err
	}
	return a, nil
}

func (a *App) init(ctx context.Context) error {
	if err := a.db.Migrate(ctx, Migrations()); err != nil {
		return err
	}
	setups := []func(string, PGSettings) (gatewaySetup, error){setupToss, setupKakaoPay, setupInicis}
	settings := []PGSettings{a.cfg.Toss, a.cfg.KakaoPay, a.cfg.Inicis}
	var gateways []pg.Gateway
	clientKeys := map[string]string{}
	for i, setup := range setups {
		s, err := setup(a.cfg.PublicURL, settings[i])
		if err != nil {
			return err
		}
		a.pgs[s.name] = s
		a.names = append(a.names, s.name)
		gateways = append(gateways, s.gateway)
		if s.clientKey != "" {
			clientKeys[s.name] = s.clientKey
		}
	}
	reg, err := pg.NewRegistry(gateways...)
	if err != nil {
		return err
	}
	a.orders = NewOrders(a.db, nil)
	pcfg := paygate.Config{
		DB: a.db, Gateways: reg, Orders: a.orders, ClientKeys: clientKeys,
		Fees:   settlement.RateFee{Rate: a.cfg.FeeRate},
		Logger: a.log,
		// nil takes the global providers.
		MeterProvider: a.cfg.MeterProvider, TracerProvider: a.cfg.TracerProvider,
		Subscribers: []outbox.Subscriber{{
			Name: "example-shipping", Types: []string{paygate.EventOrderCreated},
			Handle: a.startShipment,
		}},
		// Only answers of a request that ran to an outcome are stored
		// under an Idempotency-Key (keepStatus).
		Idempotency: idempotency.Config{KeepStatus: keepStatus},
		OnAlert: func(al saga.Alert) {
			a.log.Error("paygate alert", "saga", al.SagaID, "step", al.Step, "attempts", al.Attempts,
				"needsAttention", al.NeedsAttention, "err", al.Err)
		},
	}
	pcfg.Subscribers = append(pcfg.Subscribers, a.cfg.Subscribers...)
	if a.cfg.Tune != nil {
		a.cfg.Tune(&pcfg)
	}
	if a.pay, err = paygate.New(pcfg); err != nil {
		return err
	}
	a.keys, a.intake = a.pay.Idempotency(), a.pay.WebhookHandler()
	if a.console, err = a.newConsole(); err != nil {
		return err
	}
	a.routes()
	return nil
}

// keepStatus decides which answers are stored under an Idempotency-Key:
// only those of a request that ran to an outcome — success, and a PG's
// decline (402). A refusal before anything ran (400 invalid input, 401, 404
// unknown order or payment, 413, 415, 422 amount mismatch) is not the
// key's answer: the key is released and a corrected request with it runs.
// 202 (outcome unknown) and 409 (in progress, conflicting state) describe a
// moment, not an answer: the key is released so a retry sees the outcome.
// 5xx are never stored.
func keepStatus(status int) bool {
	switch status {
	case http.StatusOK, http.StatusCreated, http.StatusPaymentRequired:
		return true
	}
	return false
}

// Handler is the app's HTTP handler.
func (a *App) Handler() http.Handler { return a }

// Paygate is the flow the app runs, for tests and operators.
func (a *App) Paygate() *paygate.Paygate { return a.pay }

// DB is the app's database.
func (a *App) DB() *store.DB { return a.db }

// Sandbox returns a PG's sandbox served by this server, or nil when the PG
// is live or its sandbox runs elsewhere.
func (a *App) Sandbox(name string) pgtest.Sandbox { return a.pgs[name].sandbox }

// Gateway returns a PG's adapter as the app configured it (nil for a PG it
// does not know).
func (a *App) Gateway(name string) pg.Gateway { return a.pgs[name].gateway }

// WebhookStats counts what the webhook intake did with the notifications
// it received: recorded, duplicates, refused and so on.
func (a *App) WebhookStats() webhook.Stats { return a.intake.Stats() }

// Orders is the example order service.
func (a *App) Orders() *Orders { return a.orders }

// Run runs paygate's background work (its runners, the sync and the
// Idempotency-Key reaper) until ctx is canceled.
func (a *App) Run(ctx context.Context) error { return a.pay.Run(ctx) }

// Close stops the sandbox PGs' background senders and closes the database.
func (a *App) Close() error {
	var err error
	a.closeOne.Do(func() {
		for _, s := range a.pgs {
			if s.sandbox != nil {
				s.sandbox.Close()
			}
		}
		err = a.db.Close()
	})
	if err != nil {
		return fmt.Errorf("close: %w", err)
	}
	return nil
}
