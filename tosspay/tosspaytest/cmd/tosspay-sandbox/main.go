// Command tosspay-sandbox runs the Toss Payments sandbox as its own process,
// so it outlives a crash of the application under test.
//
//	tosspay-sandbox -addr 127.0.0.1:9101 -webhook-url http://127.0.0.1:8080/webhooks/tosspay
//
// It prints its base URL and secret key. Point the adapter at it with
// tosspay.Config{BaseURL: baseURL}. Its test controls are under /_sandbox/:
// POST /_sandbox/pay {"orderId","amount"} plays the buyer and answers the
// paymentKey; POST /_sandbox/deposit {"orderId"} plays a virtual-account
// transfer; GET /_sandbox/ledger shows the PG side; POST /_sandbox/faults
// {"op","fault","orderId"} scripts the next call of op ("approve",
// "cancel", "lookup") about the order. -api-version 1.4 answers as Toss
// answers merchants pinned to that version; -hold-max is how long a lost
// answer is held before its connection is cut.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/paygate/paygate/tosspay/tosspaytest"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "tosspay-sandbox:", err)
		os.Exit(1)
	}
}

// run serves the sandbox until ctx ends.
func run(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("tosspay-sandbox", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:9101", "listen address")
	base := fs.String("base-url", "", "public base URL (default http://ADDR)")
	key := fs.String("secret-key", tosspaytest.DefaultSecretKey, "the secret key the sandbox accepts")
	hook := fs.String("webhook-url", "", "where webhooks are POSTed (empty: none)")
	sched := fs.String("webhook-schedule", "", "comma-separated retry waits, e.g. 1s,4s,16s (default Toss's 1m..4096m)")
	version := fs.String("api-version", "2022-11-16", "the API version the merchant is pinned to: 2022-11-16 or 1.4")
	omitFees := fs.Bool("omit-settlement-fees", false, "answer settlements without fees[] (the total stays in fee)")
	holdMax := fs.Duration("hold-max", time.Minute, "how long an answer scripted to be lost is held before the connection is cut (0: at once)")
	latency := fs.Duration("latency", 0, "delay added to every API answer")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *holdMax < 0 || *latency < 0 {
		return fmt.Errorf("-hold-max and -latency must not be negative")
	}
	cfg := tosspaytest.Config{BaseURL: *base, SecretKey: *key, WebhookURL: *hook, OmitSettlementFees: *omitFees,
		HoldMax: *holdMax, Latency: *latency}
	switch *version {
	case "2022-11-16":
	case tosspaytest.APIVersion14:
		cfg.APIVersion = tosspaytest.APIVersion14
	default:
		return fmt.Errorf("-api-version %q: the sandbox speaks 2022-11-16 and 1.4", *version)
	}
	if *sched != "" {
		for _, f := range strings.Split(*sched, ",") {
			d, err := time.ParseDuration(strings.TrimSpace(f))
			if err != nil || d < 0 {
				return fmt.Errorf("bad -webhook-schedule entry %q", f)
			}
			cfg.WebhookSchedule = append(cfg.WebhookSchedule, d)
		}
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	if cfg.BaseURL == "" {
		cfg.BaseURL = "http://" + ln.Addr().String()
	}
	sb := tosspaytest.New(cfg)
	defer sb.Close()
	srv := &http.Server{Handler: sb, ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	fmt.Fprintf(out, "tosspay sandbox: base URL %s secret key %s\n", sb.BaseURL(), sb.SecretKey())
	select {
	case err := <-errc:
		if errors.Is(err, http.ErrServerClosed) {
			return nil
		}
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	sb.Close() // releases held answers so Shutdown does not wait for them
	return srv.Shutdown(sctx)
}
