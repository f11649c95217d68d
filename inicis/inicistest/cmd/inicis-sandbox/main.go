// Command inicis-sandbox runs the KG Inicis sandbox (package inicistest) as
// its own process, for manual tests and for apps written in other
// languages.
//
//	go run ./inicis/inicistest/cmd/inicis-sandbox -addr 127.0.0.1:9101 -webhook-url http://127.0.0.1:8080/webhooks/inicis
//
// It prints its base URL. Configure the inicis adapter with it: INIAPI at
// the base URL, and the base URL's /api/payAuth and /api/netCancel allowed
// for idc_name "stg" (inicistest.Sandbox.GatewayConfig does this in Go).
// Its test controls are under /_sandbox/: POST /_sandbox/pay
// {"orderId":"o-1","amount":15000} plays the buyer; POST /_sandbox/deposit
// {"orderId":"o-1"} pays a virtual account and sends the deposit
// notification; POST /_sandbox/faults {"op","fault","orderId"} scripts the
// next call of op ("approve", "netCancel", "cancel", "lookup") about the
// order; GET /_sandbox/ledger shows the PG side.
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
	"syscall"
	"time"

	"github.com/paygate/paygate/inicis/inicistest"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "inicis-sandbox:", err)
		os.Exit(1)
	}
}

// run serves the sandbox until ctx ends.
func run(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("inicis-sandbox", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:9101", "listen address")
	base := fs.String("base-url", "", "public base URL (default http://ADDR)")
	hook := fs.String("webhook-url", "", "URL receiving virtual-account deposit notifications (empty: none)")
	idc := fs.String("idc", "stg", "idc_name put in auth results")
	utf8Noti := fs.Bool("utf8-noti", false, "send notification text as UTF-8 instead of EUC-KR")
	holdMax := fs.Duration("hold-max", 0, "how long an answer scripted to be lost is held before the connection is cut (0: at once)")
	latency := fs.Duration("latency", 0, "delay added to every API answer")
	// The names these flags had before.
	fs.StringVar(base, "base", "", "same as -base-url")
	fs.StringVar(hook, "notify", "", "same as -webhook-url")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *holdMax < 0 || *latency < 0 {
		return errors.New("-hold-max and -latency must not be negative")
	}

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	if *base == "" {
		*base = "http://" + ln.Addr().String()
	}
	sb := inicistest.New(inicistest.Config{BaseURL: *base, WebhookURL: *hook, IDCName: *idc, UTF8Noti: *utf8Noti,
		HoldMax: *holdMax, Latency: *latency})
	defer sb.Close()
	srv := &http.Server{Handler: sb, ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	fmt.Fprintf(out, "inicis sandbox: base URL %s mid %s idc_name %s\n", sb.BaseURL(), sb.GatewayConfig().MID, *idc)

	select {
	case err := <-errc:
		if errors.Is(err, http.ErrServerClosed) {
			return nil
		}
		return err
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	sb.Close() // releases held answers so Shutdown does not wait for them
	return srv.Shutdown(shutdown)
}
