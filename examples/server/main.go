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

	"github.com/paygate/paygate/examples/server/app"
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
			BaseURL: os.Getenv("PAYGATE_TOSS_BASE_URL"),
		},
		KakaoPay: app.PGSettings{
			SecretKey: os.Getenv("PAYGATE_KAKAOPAY_SECRET_KEY"), CID: os.Getenv("PAYGATE_KAKAOPAY_CID"),
			BaseURL: os.Getenv("PAYGATE_KAKAOPAY_BASE_URL"),
		},
		Inicis: app.PGSettings{
			MID: os.Getenv("PAYGATE_INICIS_MID"), SignKey: os.Getenv("PAYGATE_INICIS_SIGN_KEY"),
			APIKey: os.Getenv("PAYGATE_INICIS_API_KEY"), APIIV: os.Getenv("PAYGATE_INICIS_API_IV"),
			ClientIP: os.Getenv("PAYGATE_INICIS_CLIENT_IP"), BaseURL: os.Getenv("PAYGATE_INICIS_BASE_URL"),
		},
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

// redactDB keeps a MySQL password out of the log.
func redactDB(dsn string) string {
	if len(dsn) > 6 && dsn[:6] == "mysql:" {
		return "mysql:…"
	}
	return dsn
}
