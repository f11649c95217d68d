// Command inicis-sandbox runs the KG Inicis sandbox (package inicistest) as
// its own process, for manual tests and for apps written in other
// languages.
//
//	go run ./inicis/inicistest/cmd/inicis-sandbox -addr 127.0.0.1:9101 -notify http://127.0.0.1:8080/webhooks/inicis
//
// Then configure the inicis adapter with the printed base URL: INIAPI at
// the base URL, and the base URL's /api/payAuth and /api/netCancel allowed
// for idc_name "stg". POST {base}/pay {"orderId":"o-1","amount":15000}
// plays the buyer; POST {base}/deposit {"orderId":"o-1"} pays a virtual
// account and sends the deposit notification.
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
	"syscall"
	"time"

	"github.com/paygate/paygate/inicis/inicistest"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "inicis-sandbox:", err)
		os.Exit(1)
	}
}

func run() error {
	addr := flag.String("addr", "127.0.0.1:9101", "listen address")
	base := flag.String("base", "", "public base URL (default http://<addr>)")
	notifyURL := flag.String("notify", "", "URL receiving virtual-account deposit notifications")
	idc := flag.String("idc", "stg", "idc_name put in auth results")
	utf8Noti := flag.Bool("utf8-noti", false, "send notification text as UTF-8 instead of EUC-KR")
	flag.Parse()

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	if *base == "" {
		*base = "http://" + ln.Addr().String()
	}
	sb := inicistest.New(inicistest.Config{BaseURL: *base, NotifyURL: *notifyURL, IDCName: *idc, UTF8Noti: *utf8Noti})
	srv := &http.Server{Handler: sb, ReadHeaderTimeout: 10 * time.Second}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	slog.Info("inicis sandbox listening", "base", *base, "idc_name", *idc, "notify", *notifyURL)

	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
