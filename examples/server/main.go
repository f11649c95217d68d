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
//	PAYGATE_TOSS_SECRET_KEY, PAYGATE_TOSS_CLIENT_KEY, PAYGATE_TOSS_BASE_URL
//	PAYGATE_KAKAOPAY_SECRET_KEY, PAYGATE_KAKAOPAY_CID, PAYGATE_KAKAOPAY_BASE_URL
//	PAYGATE_INICIS_MID, PAYGATE_INICIS_SIGN_KEY, PAYGATE_INICIS_API_KEY,
//	PAYGATE_INICIS_API_IV, PAYGATE_INICIS_CLIENT_IP, PAYGATE_INICIS_BASE_URL
//
// A PG runs live only when its secret (or MID) and base URL are both set.
// Otherwise it runs as a sandbox, served by this server under /sandbox/{pg}/
// or, to outlive restarts of this server (crash drills), by a process of its
// own:
//
//	PAYGATE_TOSS_SANDBOX_URL, PAYGATE_KAKAOPAY_SANDBOX_URL, PAYGATE_INICIS_SANDBOX_URL
//	                    base URL of that PG's sandbox process (with its
//	                    default keys)
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
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/paygate/paygate"
	"github.com/paygate/paygate/examples/server/app"
	"github.com/paygate/paygate/saga"
)

func main() {
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
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

func run(log *slog.Logger) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	ln, err := net.Listen("tcp", env("PAYGATE_ADDR", "127.0.0.1:8080"))
	if err != nil {
		return err
	}
	public := env("PAYGATE_PUBLIC_URL", "http://"+ln.Addr().String())
	cfg := app.Config{
		DB:        env("PAYGATE_DB", "sqlite:./data/paygate.db"),
		PublicURL: public,
		Logger:    log,
		Toss: app.PGSettings{
			SecretKey: os.Getenv("PAYGATE_TOSS_SECRET_KEY"), ClientKey: os.Getenv("PAYGATE_TOSS_CLIENT_KEY"),
			BaseURL: os.Getenv("PAYGATE_TOSS_BASE_URL"), Sandbox: os.Getenv("PAYGATE_TOSS_SANDBOX_URL"),
		},
		KakaoPay: app.PGSettings{
			SecretKey: os.Getenv("PAYGATE_KAKAOPAY_SECRET_KEY"), CID: os.Getenv("PAYGATE_KAKAOPAY_CID"),
			BaseURL: os.Getenv("PAYGATE_KAKAOPAY_BASE_URL"), Sandbox: os.Getenv("PAYGATE_KAKAOPAY_SANDBOX_URL"),
		},
		Inicis: app.PGSettings{
			MID: os.Getenv("PAYGATE_INICIS_MID"), SignKey: os.Getenv("PAYGATE_INICIS_SIGN_KEY"),
			APIKey: os.Getenv("PAYGATE_INICIS_API_KEY"), APIIV: os.Getenv("PAYGATE_INICIS_API_IV"),
			ClientIP: os.Getenv("PAYGATE_INICIS_CLIENT_IP"), BaseURL: os.Getenv("PAYGATE_INICIS_BASE_URL"),
			Sandbox: os.Getenv("PAYGATE_INICIS_SANDBOX_URL"),
		},
	}
	if os.Getenv("PAYGATE_QUICK_RETRIES") == "1" {
		cfg.Tune = quickRetries
	}
	a, err := app.New(ctx, cfg)
	if err != nil {
		_ = ln.Close()
		return fmt.Errorf("start: %w", err)
	}
	defer a.Close()

	srv := &http.Server{Handler: a.Handler(), ReadHeaderTimeout: 10 * time.Second}
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

// redactDB keeps a MySQL password out of the log.
func redactDB(dsn string) string {
	if len(dsn) > 6 && dsn[:6] == "mysql:" {
		return "mysql:…"
	}
	return dsn
}
