package paygate

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/paygate/paygate/idempotency"
	"github.com/paygate/paygate/internal/telemetry"
	"github.com/paygate/paygate/internal/txgroup"
	"github.com/paygate/paygate/outbox"
	"github.com/paygate/paygate/pg"
	"github.com/paygate/paygate/saga"
	"github.com/paygate/paygate/settlement"
	"github.com/paygate/paygate/store"
	"github.com/paygate/paygate/store/idemstore"
	"github.com/paygate/paygate/store/sagastore"
	"github.com/paygate/paygate/store/settlementstore"
	"github.com/paygate/paygate/store/webhookstore"
	"github.com/paygate/paygate/webhook"
)

// Config is what a host app hands paygate. DB, Gateways, Orders and Fees are
// required; every other field has a documented default.
type Config struct {
	// DB is paygate's database (store.Open + Migrate).
	DB *store.DB
	// Gateways holds the PG adapters by name.
	Gateways *pg.Registry
	// Router, optional, picks the PG for a checkout that names none and
	// is told about every PG call's outcome (its circuit breaker).
	Router *pg.Router
	// Orders is the host's order service.
	Orders OrderService
	// Fees computes the PG fee of each settlement entry.
	Fees settlement.FeePolicy
	// Payouts says when each PG pays a sale out: D+N business days per PG
	// and payment method over the Korean calendar (settlement.PayoutPolicy).
	// Default: D+PayoutDays for every PG and method, counting Monday to
	// Friday beyond the calendar's coverage. A policy that fails beyond the
	// coverage (its default) parks the ledger write as a dead delivery,
	// listed by Unresolved with the error: load a newer calendar, then
	// redeliver it (Outbox().Redeliver).
	Payouts *settlement.PayoutPolicy
	// PayoutDays is N of the default Payouts. Default 2.
	PayoutDays int
	// Ledger keeps the settlement ledger; default settlementstore.New(DB).
	// Its writes run in the transactions of paygate's database.
	Ledger settlement.Store
	// ClientKeys are the public client keys some PGs' payment windows
	// need (Toss), by gateway name; Prepare hands them to the browser.
	ClientKeys map[string]string
	// CheckoutTTL is how long a checkout can be approved. Default 30m
	// (Toss's longest session); a PG's own shorter expiry wins.
	CheckoutTTL time.Duration
	// AttemptLimit bounds the failed approvals of one order within
	// AttemptWindow; past it Approve answers ErrTooManyAttempts. Defaults
	// 10 within 1h.
	AttemptLimit  int
	AttemptWindow time.Duration
	// PrepareGroup is how many new checkouts (Prepare of an order not
	// prepared before, for a PG that takes no call at prepare time)
	// commit in one transaction at most, when several arrive at the same
	// moment; default DefaultPrepareGroup, 1 commits each alone. A
	// checkout never waits for others to join.
	PrepareGroup int
	// ApproveGroup is how many approvals' claims of their orders (the
	// transaction before the PG call) commit in one transaction at most,
	// when several arrive at the same moment; default
	// DefaultApproveGroup, 1 commits each alone. A claim never waits for
	// others to join.
	ApproveGroup int
	// ApproveTimeout bounds the inline PG approval of Approve. The client
	// going away does not cut it short. Default 30s.
	ApproveTimeout time.Duration
	// SettleDelay is how long after an approval was dispatched a lookup
	// that finds it not approved is taken as final (FAILED). Before that
	// the PG may still be processing it. Default 2m.
	SettleDelay time.Duration
	// ResolveRetry paces the resolution of unknown outcomes by lookup
	// (approvals, cancels): seconds, then minutes, then hours; never
	// given up. Default 2s doubling to 1h.
	ResolveRetry saga.Policy
	// OrderRetry paces CreateOrder retries; when exhausted the payment is
	// refunded. Default 8 attempts, 1s doubling to 1m.
	OrderRetry saga.Policy
	// RefundRetry paces refunds and the order rollbacks that follow them,
	// which are retried until they succeed (MaxAttempts is ignored); every
	// AlertAfter failed attempts raise OnAlert. Default 2s doubling to
	// 10m, alert every 5.
	RefundRetry saga.Policy
	// Sync paces the periodic lookup of captured payments at their PG,
	// which records cancels made elsewhere (see SyncConfig). On by
	// default.
	Sync SyncConfig
	// Retention says how long finished work is kept and how Run prunes
	// it (see RetentionConfig and Prune). On by default, daily.
	Retention RetentionConfig
	// Runner and Outbox tune the saga runner and the event dispatcher.
	// Their Clock and Logger default to Clock and Logger below.
	Runner saga.RunnerConfig
	Outbox outbox.Config
	// Idempotency configures the Idempotency-Key manager New builds for the
	// host's handlers (Paygate.Idempotency). Store defaults to paygate's
	// database and Logger to Logger; Run reaps its expired keys every
	// ReapEvery (default 1m).
	Idempotency idempotency.Config
	ReapEvery   time.Duration
	// Webhooks configures the intake of PG notifications New builds
	// (Paygate.WebhookHandler). Registry, Store, Effect and Secret default
	// to paygate's own (its gateways, its database, ApplyWebhook,
	// WebhookSecret) and Logger to Logger; set the rest (body cap,
	// timeout, redaction) as needed.
	Webhooks webhook.Config
	// Subscribers are the host's own event subscribers (e.g. to start
	// shipping on ORDER_CREATED); their handlers get the transaction that
	// completes the delivery.
	Subscribers []outbox.Subscriber
	// OnAlert is called when something needs a human: a refund or an
	// order rollback failing again and again, a refund the PG refused, a
	// saga needing attention.
	OnAlert func(saga.Alert)
	// Clock defaults to the system clock.
	Clock saga.Clock
	// Logger defaults to slog.Default().
	Logger *slog.Logger
	// MeterProvider and TracerProvider receive paygate's metrics and spans
	// (README, "Operating paygate"); nil means the global providers
	// (otel.GetMeterProvider, otel.GetTracerProvider), which do nothing
	// until the host installs an SDK. They are handed to the saga runner,
	// the outbox, the Idempotency-Key manager and the webhook intake
	// unless those configurations name their own.
	MeterProvider  metric.MeterProvider
	TracerProvider trace.TracerProvider
}

// Paygate is the payment flow. Create it with New, start its background work
// with Run, and call Prepare, Approve and Cancel from the host's handlers.
type Paygate struct {
	cfg    Config
	db     *store.DB
	log    *slog.Logger
	runner *saga.Runner
	outbox *outbox.Outbox
	// prepares commits concurrent new checkouts together.
	prepares *txgroup.Group[*newCheckoutCall]
	// approves commits concurrent approvals' claims together.
	approves *txgroup.Group[*approveClaim]
	sagas    *sagastore.Store
	keys     *idempotency.Manager
	intake   *webhook.Intake
	tel      *telemetry.Flow

	reconciler *settlement.Reconciler

	paymentSaga *saga.Definition
	refundSaga  *saga.Definition

	runMu   sync.Mutex
	running bool
}

type systemClock struct{}

func (systemClock) Now() time.Time { return time.Now() }

// New checks cfg and builds the flow. It does not start anything: call Run.
func New(cfg Config) (*Paygate, error) {
	switch {
	case cfg.DB == nil:
		return nil, fmt.Errorf("%w: Config.DB is required", ErrInvalid)
	case cfg.Gateways == nil || len(cfg.Gateways.Names()) == 0:
		return nil, fmt.Errorf("%w: Config.Gateways needs at least one gateway", ErrInvalid)
	case cfg.Orders == nil:
		return nil, fmt.Errorf("%w: Config.Orders is required", ErrInvalid)
	case cfg.Fees == nil:
		return nil, fmt.Errorf("%w: Config.Fees is required", ErrInvalid)
	}
	if cfg.PayoutDays <= 0 {
		cfg.PayoutDays = 2
	}
	if cfg.Payouts == nil {
		cfg.Payouts = &settlement.PayoutPolicy{Days: cfg.PayoutDays, BeyondCalendar: settlement.WeekdaysBeyondCalendar}
	}
	if cfg.Ledger == nil {
		cfg.Ledger = settlementstore.New(cfg.DB)
	}
	if cfg.CheckoutTTL <= 0 {
		cfg.CheckoutTTL = 30 * time.Minute
	}
	if cfg.AttemptLimit <= 0 {
		cfg.AttemptLimit = 10
	}
	if cfg.AttemptWindow <= 0 {
		cfg.AttemptWindow = time.Hour
	}
	if cfg.PrepareGroup <= 0 {
		cfg.PrepareGroup = DefaultPrepareGroup
	}
	if cfg.ApproveGroup <= 0 {
		cfg.ApproveGroup = DefaultApproveGroup
	}
	if cfg.ApproveTimeout <= 0 {
		cfg.ApproveTimeout = 30 * time.Second
	}
	if cfg.SettleDelay <= 0 {
		cfg.SettleDelay = 2 * time.Minute
	}
	if cfg.ResolveRetry == (saga.Policy{}) {
		cfg.ResolveRetry = saga.Policy{MaxAttempts: saga.Unlimited, InitialBackoff: 2 * time.Second, MaxBackoff: time.Hour, AlertAfter: 10}
	}
	cfg.ResolveRetry.MaxAttempts = saga.Unlimited
	if cfg.OrderRetry == (saga.Policy{}) {
		cfg.OrderRetry = saga.Policy{MaxAttempts: 8, InitialBackoff: time.Second, MaxBackoff: time.Minute}
	}
	if cfg.RefundRetry == (saga.Policy{}) {
		cfg.RefundRetry = saga.Policy{InitialBackoff: 2 * time.Second, MaxBackoff: 10 * time.Minute, AlertAfter: 5}
	}
	cfg.Sync.setDefaults()
	if err := cfg.Retention.setDefaults(); err != nil {
		return nil, err
	}
	if cfg.Clock == nil {
		cfg.Clock = systemClock{}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Runner.Clock == nil {
		cfg.Runner.Clock = cfg.Clock
	}
	if cfg.Runner.Logger == nil {
		cfg.Runner.Logger = cfg.Logger
	}
	if cfg.Outbox.Clock == nil {
		cfg.Outbox.Clock = cfg.Clock
	}
	if cfg.Outbox.Logger == nil {
		cfg.Outbox.Logger = cfg.Logger
	}
	if cfg.Runner.MeterProvider == nil {
		cfg.Runner.MeterProvider = cfg.MeterProvider
	}
	if cfg.Runner.TracerProvider == nil {
		cfg.Runner.TracerProvider = cfg.TracerProvider
	}
	if cfg.Outbox.MeterProvider == nil {
		cfg.Outbox.MeterProvider = cfg.MeterProvider
	}
	if cfg.Outbox.TracerProvider == nil {
		cfg.Outbox.TracerProvider = cfg.TracerProvider
	}
	if cfg.Idempotency.MeterProvider == nil {
		cfg.Idempotency.MeterProvider = cfg.MeterProvider
	}
	if cfg.Webhooks.MeterProvider == nil {
		cfg.Webhooks.MeterProvider = cfg.MeterProvider
	}
	if cfg.Webhooks.TracerProvider == nil {
		cfg.Webhooks.TracerProvider = cfg.TracerProvider
	}
	if cfg.OnAlert != nil && cfg.Runner.Hooks.OnAlert == nil {
		cfg.Runner.Hooks.OnAlert = cfg.OnAlert
	}

	if cfg.ReapEvery <= 0 {
		cfg.ReapEvery = time.Minute
	}
	if cfg.Idempotency.Store == nil {
		cfg.Idempotency.Store = idemstore.NewKeys(cfg.DB)
	}
	if cfg.Idempotency.Logger == nil {
		cfg.Idempotency.Logger = cfg.Logger
	}

	sagas := sagastore.New(cfg.DB)
	p := &Paygate{
		cfg:    cfg,
		db:     cfg.DB,
		log:    cfg.Logger,
		sagas:  sagas,
		tel:    telemetry.NewFlow(cfg.MeterProvider, cfg.TracerProvider),
		runner: saga.NewRunner(sagas, cfg.Runner),
		outbox: outbox.New(sagas, cfg.Outbox),
	}
	p.prepares = p.newPrepareGroup()
	p.approves = p.newApproveGroup()
	p.paymentSaga = p.definePaymentSaga()
	p.refundSaga = p.defineRefundSaga()
	if err := p.runner.Register(p.paymentSaga, p.refundSaga); err != nil {
		return nil, fmt.Errorf("paygate: %w", err)
	}
	subs := []outbox.Subscriber{p.settlementSubscriber()}
	if !cfg.Sync.Disabled {
		subs = append(subs, p.syncSubscriber())
	}
	subs = append(subs, cfg.Subscribers...)
	if err := p.outbox.Subscribe(subs...); err != nil {
		return nil, fmt.Errorf("paygate: %w", err)
	}
	var err error
	if p.keys, err = idempotency.New(cfg.Idempotency); err != nil {
		return nil, fmt.Errorf("paygate: %w", err)
	}
	wh := cfg.Webhooks
	if wh.Registry == nil {
		wh.Registry = cfg.Gateways
	}
	if wh.Store == nil {
		wh.Store = webhookstore.New(cfg.DB)
	}
	if wh.Effect == nil {
		wh.Effect = p.ApplyWebhook
	}
	if wh.Secret == nil {
		wh.Secret = p.WebhookSecret
	}
	if wh.Logger == nil {
		wh.Logger = cfg.Logger
	}
	if p.intake, err = webhook.New(wh); err != nil {
		return nil, fmt.Errorf("paygate: %w", err)
	}
	if p.reconciler, err = p.newReconciler(); err != nil {
		return nil, fmt.Errorf("paygate: %w", err)
	}
	return p, nil
}

// Idempotency is the Idempotency-Key manager for the host's handlers: wrap
// the approve and cancel handlers with its Middleware (or Require), or call
// its Do outside HTTP. Run reaps its expired keys.
func (p *Paygate) Idempotency() *idempotency.Manager { return p.keys }

// WebhookHandler receives the PGs' notifications: mount it as
// "POST /webhooks/{pg}" (or with Config.Webhooks.PG fixed, at one PG's
// path). It verifies each delivery through its adapter, records it once,
// applies it (ApplyWebhook) in the same transaction and answers the PG the
// way it expects. Its Stats count what it did.
func (p *Paygate) WebhookHandler() *webhook.Intake { return p.intake }

// Run starts the background work — the saga runner (orders, refunds,
// resolution of unknown outcomes), the event dispatcher (settlement
// ledger, subscribers), the periodic sync of captured payments with their
// PG (cancels made elsewhere), the reaper of expired Idempotency-Keys and
// the daily prune of old rows (Config.Retention) — and blocks until ctx is canceled;
// then it lets the work in flight finish and returns. Several processes may
// Run against one database: they share the work through leases and claims.
func (p *Paygate) Run(ctx context.Context) error {
	p.runMu.Lock()
	if p.running {
		p.runMu.Unlock()
		return errors.New("paygate: Run called twice")
	}
	p.running = true
	p.runMu.Unlock()
	defer func() {
		p.runMu.Lock()
		p.running = false
		p.runMu.Unlock()
	}()
	if reg, err := p.registerGauges(); err != nil {
		p.log.Warn("paygate: gauges not registered", "err", err)
	} else {
		defer func() {
			if err := reg.Unregister(); err != nil {
				p.log.Warn("paygate: unregister gauges", "err", err)
			}
		}()
	}

	reap := func(ctx context.Context) error {
		if err := p.keys.RunReaper(ctx, p.cfg.ReapEvery); err != nil && !errors.Is(err, context.Canceled) {
			return err
		}
		return nil
	}
	loops := []func(context.Context) error{p.runner.Run, p.outbox.Run, reap}
	if !p.cfg.Sync.Disabled {
		loops = append(loops, p.runSync)
	}
	if !p.cfg.Retention.Disabled {
		loops = append(loops, p.runRetention)
	}
	var wg sync.WaitGroup
	errs := make([]error, len(loops))
	for i, run := range loops {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = run(ctx)
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// Runner exposes the saga runner for operator queries (stuck sagas, sagas
// needing attention, Retry).
func (p *Paygate) Runner() *saga.Runner { return p.runner }

// Outbox exposes the event dispatcher for operator queries (dead
// deliveries, Redeliver).
func (p *Paygate) Outbox() *outbox.Outbox { return p.outbox }

func (p *Paygate) now() time.Time { return p.cfg.Clock.Now().UTC() }
