// Command kakaopay-sandbox runs the KakaoPay sandbox as its own process, for
// chaos runs and manual testing against a separately started app:
//
//	go run ./kakaopay/kakaopaytest/cmd/kakaopay-sandbox -addr 127.0.0.1:8091
//
// Point the kakaopay adapter's BaseURL at the printed address and use the
// printed key and CID. The buyer is played with
//
//	curl -X POST http://127.0.0.1:8091/pay -d '{"orderId":"order-1","fault":"timeout"}'
//
// or in a browser through the next_redirect_pc_url that ready returns.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
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
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "kakaopay-sandbox:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("kakaopay-sandbox", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:8091", "address to listen on")
	base := fs.String("base-url", "", "public base URL (default http://ADDR)")
	secret := fs.String("secret-key", kakaopaytest.DefaultSecretKey, "SECRET_KEY accepted by the current API")
	admin := fs.String("admin-key", kakaopaytest.DefaultAdminKey, "KakaoAK admin key accepted by the legacy API")
	cids := fs.String("cid", kakaopaytest.TestCID, "comma-separated merchant codes accepted")
	ttl := fs.Duration("tid-ttl", kakaopaytest.DefaultTIDTTL, "how long a readied tid can be paid and approved")
	latency := fs.Duration("latency", 0, "delay added to every API call")
	if err := fs.Parse(args); err != nil {
		return err
	}

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	if *base == "" {
		*base = "http://" + ln.Addr().String()
	}
	sb := kakaopaytest.New(kakaopaytest.Options{
		BaseURL:   *base,
		SecretKey: *secret,
		AdminKey:  *admin,
		CIDs:      strings.Split(*cids, ","),
		TIDTTL:    *ttl,
		Latency:   *latency,
	})
	srv := &http.Server{Handler: sb, ReadHeaderTimeout: 10 * time.Second}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	slog.Info("kakaopay sandbox listening", "base_url", *base, "cid", *cids)

	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdown); err != nil {
		return err
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
