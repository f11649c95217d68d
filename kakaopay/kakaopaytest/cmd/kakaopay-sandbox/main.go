// Command kakaopay-sandbox runs the KakaoPay sandbox as its own process, for
// chaos runs and manual testing against a separately started app:
//
//	go run ./kakaopay/kakaopaytest/cmd/kakaopay-sandbox -addr 127.0.0.1:8091
//
// It prints its base URL, secret key and CIDs. Point the kakaopay
// adapter's BaseURL at the base URL and use the key and a CID. The buyer is
// played with
//
//	curl -X POST http://127.0.0.1:8091/_sandbox/pay -d '{"orderId":"order-1","fault":"timeout"}'
//
// or in a browser through the next_redirect_pc_url that ready returns. The
// other test controls are under /_sandbox/ too: POST /_sandbox/faults
// {"op","fault","orderId"} scripts the next call of op ("prepare",
// "approve", "cancel", "lookup") about the order, GET /_sandbox/ledger
// shows the PG side.
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

	"github.com/paygate/paygate/kakaopay/kakaopaytest"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "kakaopay-sandbox:", err)
		os.Exit(1)
	}
}

// run serves the sandbox until ctx ends.
func run(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("kakaopay-sandbox", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:8091", "address to listen on")
	base := fs.String("base-url", "", "public base URL (default http://ADDR)")
	secret := fs.String("secret-key", kakaopaytest.DefaultSecretKey, "SECRET_KEY accepted by the current API")
	admin := fs.String("admin-key", kakaopaytest.DefaultAdminKey, "KakaoAK admin key accepted by the legacy API")
	cids := fs.String("cid", kakaopaytest.TestCID, "comma-separated merchant codes accepted")
	ttl := fs.Duration("tid-ttl", kakaopaytest.DefaultTIDTTL, "how long a readied tid can be paid and approved")
	latency := fs.Duration("latency", 0, "delay added to every API call")
	holdMax := fs.Duration("hold-max", 0, "how long an answer scripted to be lost is held before the connection is cut (0: at once)")
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
	sb := kakaopaytest.New(kakaopaytest.Config{
		BaseURL:   *base,
		SecretKey: *secret,
		AdminKey:  *admin,
		CIDs:      strings.Split(*cids, ","),
		TIDTTL:    *ttl,
		Latency:   *latency,
		HoldMax:   *holdMax,
	})
	defer sb.Close()
	srv := &http.Server{Handler: sb, ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	fmt.Fprintf(out, "kakaopay sandbox: base URL %s secret key %s cid %s\n", sb.BaseURL(), *secret, *cids)

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
