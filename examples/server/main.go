// Command server is a commerce backend built on paygate. With no settings it
// runs every PG as a sandbox served by itself, on an embedded SQLite
// database under ./data/:
//
//	go run ./examples/server
//
// Environment:
//
//	PAYGATE_ADDR        listen address (default 127.0.0.1:8080)
//	PAYGATE_PUBLIC_URL  address PGs and browsers reach it at (default http://PAYGATE_ADDR)
//	PAYGATE_DB          sqlite:PATH (default sqlite:./data/paygate.db) or mysql:DSN
//	PAYGATE_DATA_DIR    where files of the server go (default: the SQLite
//	                    database's directory, else ./data)
//	PAYGATE_LOG_LEVEL   debug, info (default), warn or error; debug logs
//	                    every saga write with the runner (lease owner) that
//	                    made it
//	PAYGATE_ADMIN_TOKEN the operator token refunds and the operators' console
//	                    at /admin/ need (Authorization: Bearer …, or typed
//	                    into the console's login), at least 16
//	                    characters. Unset, a random one is generated at
//	                    every start and written, readable by its owner only,
//	                    to PAYGATE_DATA_DIR/admin-token; the log says where.
//	PAYGATE_READ_HEADER_TIMEOUT, PAYGATE_READ_TIMEOUT, PAYGATE_WRITE_TIMEOUT,
//	PAYGATE_IDLE_TIMEOUT
//	                    the HTTP server's timeouts as Go durations (defaults
//	                    5s, 15s, 60s, 60s; see app.ServerConfig)
//	PAYGATE_TOSS_SECRET_KEY, PAYGATE_TOSS_CLIENT_KEY, PAYGATE_TOSS_BASE_URL
//	PAYGATE_KAKAOPAY_SECRET_KEY, PAYGATE_KAKAOPAY_CID, PAYGATE_KAKAOPAY_BASE_URL
//	PAYGATE_INICIS_MID, PAYGATE_INICIS_SIGN_KEY, PAYGATE_INICIS_API_KEY,
//	PAYGATE_INICIS_API_IV, PAYGATE_INICIS_CLIENT_IP, PAYGATE_INICIS_BASE_URL
//	(and PAYGATE_INICIS_MOBILE_HASH_KEY, the INIpay Mobile hash key)
//	PAYGATE_INICIS_NOTI_SOURCES
//	                    comma-separated address prefixes Inicis deposit
//	                    notifications are trusted from, replacing the
//	                    default list (e.g. 127.0.0.1/32)
//
// A PG runs live only when its secret (or MID) and base URL are both set,
// and then nothing of its sandbox is served. Otherwise it runs as a sandbox,
// served by this server under /sandbox/{pg}/ with keys made at every start
// (never the published test keys) and its test controls (under
// /sandbox/{pg}/_sandbox/: deposits, scripted faults, its ledger)
// answering only clients on this machine, or,
// to outlive restarts of this server (crash drills), by a process of its
// own:
//
//	PAYGATE_TOSS_SANDBOX_URL, PAYGATE_KAKAOPAY_SANDBOX_URL, PAYGATE_INICIS_SANDBOX_URL
//	                    base URL of that PG's sandbox process (with its
//	                    default keys)
//	PAYGATE_NATS_URL    when set, the outbox's events are also published to
//	                    this NATS JetStream server (outbox/natsrelay): each
//	                    to "PAYGATE_NATS_PREFIX.<type>" with its id as
//	                    Nats-Msg-Id, on the stream PAYGATE_NATS_STREAM
//	                    (defaults paygate.events and PAYGATE_EVENTS),
//	                    created at start if missing. The server must
//	                    reach it at start; later outages only delay the
//	                    events. examples/consumer reads them.
//	OTEL_EXPORTER_OTLP_ENDPOINT (or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT)
//	                    when set, traces go there with OTLP over HTTP; the
//	                    other standard OTEL_* variables apply
//	                    (OTEL_EXPORTER_OTLP_HEADERS, OTEL_SERVICE_NAME,
//	                    OTEL_TRACES_SAMPLER, …). Metrics are always served
//	                    at GET /metrics in the Prometheus format.
//	PAYGATE_TRACE_STDOUT=1
//	                    traces also go to standard output, a JSON document
//	                    per span
//	PAYGATE_QUICK_RETRIES=1
//	                    compress paygate's timings for demos and crash drills
//	                    against sandboxes: leases of 3s, retries from 100ms,
//	                    unknown approvals written off after 1s. Never with
//	                    live PGs.
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/paygate/paygate"
	"github.com/paygate/paygate/examples/server/app"
	"github.com/paygate/paygate/internal/pgenv"
	"github.com/paygate/paygate/outbox"
	"github.com/paygate/paygate/outbox/natsrelay"
	"github.com/paygate/paygate/saga"
)

func main() {
	var level slog.Level
	if err := level.UnmarshalText([]byte(env("PAYGATE_LOG_LEVEL", "info"))); err != nil {
		fmt.Fprintln(os.Stderr, "PAYGATE_LOG_LEVEL: want debug, info, warn or error")
		os.Exit(1)
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	if err := run(log); err != nil {
		log.Error("server stopped", "err", err)
		os.Exit(1)
	}
}

func env(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// prefixes reads a comma-separated list of address prefixes ("" is none).
func prefixes(list string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, f := range strings.Split(list, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		p, err := netip.ParsePrefix(f)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, nil
}

func run(log *slog.Logger) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	ln, err := net.Listen("tcp", env("PAYGATE_ADDR", "127.0.0.1:8080"))
	if err != nil {
		return err
	}
	public := env("PAYGATE_PUBLIC_URL", "http://"+ln.Addr().String())
	db := env("PAYGATE_DB", "sqlite:./data/paygate.db")
	timeouts, err := serverConfig()
	if err != nil {
		_ = ln.Close()
		return err
	}
	token, err := adminToken(log, dataDir(db))
	if err != nil {
		_ = ln.Close()
		return err
	}
	tel, err := app.NewTelemetry(ctx, app.TelemetryFromEnv())
	if err != nil {
		_ = ln.Close()
		return err
	}
	tel.Install()
	defer func() {
		flush, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := tel.Shutdown(flush); err != nil {
			log.Warn("telemetry shutdown", "err", err)
		}
	}()
	pgs := pgenv.FromEnv(os.Getenv)
	cfg := app.Config{
		MeterProvider: tel.MeterProvider, TracerProvider: tel.TracerProvider, Metrics: tel.Metrics,
		DB:         db,
		PublicURL:  public,
		AdminToken: token,
		Logger:     log,
		Toss:       pgs.Toss,
		KakaoPay:   pgs.KakaoPay,
		Inicis:     pgs.Inicis,
	}
	if cfg.Inicis.NotiSources, err = prefixes(os.Getenv("PAYGATE_INICIS_NOTI_SOURCES")); err != nil {
		_ = ln.Close()
		return fmt.Errorf("PAYGATE_INICIS_NOTI_SOURCES: %w", err)
	}
	quick := os.Getenv("PAYGATE_QUICK_RETRIES") == "1"
	if quick {
		cfg.Tune = quickRetries
	}
	if url := os.Getenv("PAYGATE_NATS_URL"); url != "" {
		nc, relay, err := natsRelay(ctx, log, url, quick)
		if err != nil {
			_ = ln.Close()
			return err
		}
		// Closed after the outbox stopped (defers run last in, first out).
		defer nc.Close()
		cfg.Subscribers = append(cfg.Subscribers, relay.Subscriber())
		log.Info("publishing events to NATS JetStream", "stream", relay.Stream())
	}
	a, err := app.New(ctx, cfg)
	if err != nil {
		_ = ln.Close()
		return fmt.Errorf("start: %w", err)
	}
	defer a.Close()

	srv := app.NewServer(a.Handler(), timeouts)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	ran := make(chan error, 1)
	go func() { ran <- a.Run(ctx) }()
	log.Info("paygate example server listening", "url", public, "db", redactDB(cfg.DB))

	select {
	case <-ctx.Done():
	case err := <-served:
		stop()
		<-ran
		return err
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	err = srv.Shutdown(shutdown)
	if runErr := <-ran; runErr != nil {
		err = errors.Join(err, runErr)
	}
	return err
}

// natsRelay connects to the NATS server at url, reconnecting for as long
// as it takes, and returns the relay publishing the outbox's events there.
func natsRelay(ctx context.Context, log *slog.Logger, url string, quick bool) (*nats.Conn, *natsrelay.Relay, error) {
	nc, err := nats.Connect(url, nats.Name("paygate example server"), nats.MaxReconnects(-1),
		nats.ReconnectWait(500*time.Millisecond))
	if err != nil {
		return nil, nil, fmt.Errorf("PAYGATE_NATS_URL: %w", err)
	}
	rc := natsrelay.Config{
		Stream:        os.Getenv("PAYGATE_NATS_STREAM"),
		SubjectPrefix: os.Getenv("PAYGATE_NATS_PREFIX"),
		Logger:        log,
	}
	if quick {
		rc.Retry = outbox.Policy{MaxAttempts: outbox.Unlimited, InitialBackoff: 100 * time.Millisecond, MaxBackoff: time.Second}
	}
	relay, err := natsrelay.New(ctx, nc, rc)
	if err != nil {
		nc.Close()
		return nil, nil, err
	}
	return nc, relay, nil
}

// quickRetries is PAYGATE_QUICK_RETRIES: the same flow on a clock a person
// (or a crash test) can watch.
func quickRetries(c *paygate.Config) {
	c.SettleDelay = time.Second
	c.ResolveRetry = saga.Policy{InitialBackoff: 100 * time.Millisecond, MaxBackoff: time.Second}
	c.OrderRetry = saga.Policy{MaxAttempts: 5, InitialBackoff: 100 * time.Millisecond, MaxBackoff: 500 * time.Millisecond}
	c.RefundRetry = saga.Policy{InitialBackoff: 100 * time.Millisecond, MaxBackoff: time.Second, AlertAfter: 5}
	c.Runner.PollInterval, c.Runner.Lease = 100*time.Millisecond, 3*time.Second
	c.Outbox.PollInterval, c.Outbox.Lease = 100*time.Millisecond, 3*time.Second
}

// dataDir is PAYGATE_DATA_DIR, or the SQLite database's directory, or
// ./data.
func dataDir(db string) string {
	if d := os.Getenv("PAYGATE_DATA_DIR"); d != "" {
		return d
	}
	if path, ok := strings.CutPrefix(db, "sqlite:"); ok && path != "" && !strings.HasPrefix(path, "file:") && path != ":memory:" {
		return filepath.Dir(path)
	}
	return "./data"
}

// adminToken is PAYGATE_ADMIN_TOKEN or, unset, a token generated into a
// file under dir. The log names the file, never the token.
func adminToken(log *slog.Logger, dir string) (string, error) {
	if t := os.Getenv("PAYGATE_ADMIN_TOKEN"); t != "" {
		if len(t) < app.MinAdminTokenLen {
			return "", fmt.Errorf("PAYGATE_ADMIN_TOKEN must be at least %d characters", app.MinAdminTokenLen)
		}
		return t, nil
	}
	token, path, err := app.GenerateAdminToken(dir)
	if err != nil {
		return "", err
	}
	abs, err := filepath.Abs(path)
	if err == nil {
		path = abs
	}
	log.Info("operator token generated (PAYGATE_ADMIN_TOKEN is unset); send it as Authorization: Bearer", "file", path)
	return token, nil
}

// serverConfig reads the HTTP server's timeouts.
func serverConfig() (app.ServerConfig, error) {
	var c app.ServerConfig
	for _, f := range []struct {
		name string
		v    *time.Duration
	}{
		{"PAYGATE_READ_HEADER_TIMEOUT", &c.ReadHeaderTimeout}, {"PAYGATE_READ_TIMEOUT", &c.ReadTimeout},
		{"PAYGATE_WRITE_TIMEOUT", &c.WriteTimeout}, {"PAYGATE_IDLE_TIMEOUT", &c.IdleTimeout},
	} {
		v := os.Getenv(f.name)
		if v == "" {
			continue
		}
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return c, fmt.Errorf("%s must be a positive duration such as 30s", f.name)
		}
		*f.v = d
	}
	return c, nil
}

// redactDB keeps a MySQL password out of the log.
func redactDB(dsn string) string {
	if len(dsn) > 6 && dsn[:6] == "mysql:" {
		return "mysql:…"
	}
	return dsn
}
