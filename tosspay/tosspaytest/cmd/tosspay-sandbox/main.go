// Command tosspay-sandbox runs the Toss Payments sandbox as its own process,
// so it outlives a crash of the application under test.
//
//	tosspay-sandbox -addr 127.0.0.1:9101 -webhook-url http://127.0.0.1:8080/webhooks/tosspay
//
// Point the adapter at it with tosspay.WithBaseURL("http://127.0.0.1:9101")
// and the secret key it prints. POST /sandbox/pay {"orderId","amount"} plays
// the buyer and answers the paymentKey; GET /sandbox/ledger shows the PG
// side; POST /sandbox/fail-next {"fault"} scripts the next call.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/paygate/paygate/tosspay/tosspaytest"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "tosspay-sandbox:", err)
		os.Exit(1)
	}
}

func run() error {
	addr := flag.String("addr", "127.0.0.1:9101", "listen address")
	base := flag.String("base-url", "", "public base URL (default http://ADDR)")
	key := flag.String("secret-key", tosspaytest.DefaultSecretKey, "the secret key the sandbox accepts")
	hook := flag.String("webhook-url", "", "where PAYMENT_STATUS_CHANGED is POSTed (empty: none)")
	sched := flag.String("webhook-schedule", "", "comma-separated retry waits, e.g. 1s,4s,16s (default Toss's 1m..4096m)")
	flag.Parse()

	opts := tosspaytest.Options{BaseURL: *base, SecretKey: *key, WebhookURL: *hook}
	if opts.BaseURL == "" {
		opts.BaseURL = "http://" + *addr
	}
	if *sched != "" {
		for _, f := range strings.Split(*sched, ",") {
			d, err := time.ParseDuration(strings.TrimSpace(f))
			if err != nil || d < 0 {
				return fmt.Errorf("bad -webhook-schedule entry %q", f)
			}
			opts.WebhookSchedule = append(opts.WebhookSchedule, d)
		}
	}
	sb := tosspaytest.New(opts)
	defer sb.Close()
	srv := &http.Server{Addr: *addr, Handler: sb, ReadHeaderTimeout: 10 * time.Second}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	errc := make(chan error, 1)
	go func() { errc <- srv.ListenAndServe() }()
	slog.Info("tosspay sandbox listening", "baseURL", sb.BaseURL(), "secretKey", sb.SecretKey())
	select {
	case err := <-errc:
		if !errors.Is(err, http.ErrServerClosed) {
			return err
		}
		return nil
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return srv.Shutdown(sctx)
}
