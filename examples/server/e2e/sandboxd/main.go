// Command sandboxd serves the Toss, Inicis and KakaoPay sandboxes from one process
// of their own, with their PG-side ledgers readable over HTTP, so a test can
// kill the example server and still compare what it recorded with what the
// PGs did. It is a test helper of the crash test in package e2e:
//
//	sandboxd -addr 127.0.0.1:0 -toss-webhook http://127.0.0.1:8080/webhooks/tosspay
//
// prints "sandboxd listening on http://ADDR" and serves
//
//	/{pg}/…  the sandbox of tosspay (tosspaytest), inicis (inicistest) and kakaopay
//	         (kakaopaytest), each with the test controls every sandbox has under
//	         /{pg}/_sandbox/: the buyer at POST /{pg}/_sandbox/pay, the PG-side
//	         ledger at GET /{pg}/_sandbox/ledger ([]pgtest.LedgerEntry)
//	GET /held  how many approval answers -hold is holding back right now
//
// -hold D makes every approval and refund take effect at once but keeps its
// answer back for D: a process killed meanwhile has been charged (or
// refunded) at the PG without knowing it. A Toss answer scripted to be lost
// is held as long before the connection is cut.
//
// until it gets SIGINT or SIGTERM.
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/paygate/paygate/inicis/inicistest"
	"github.com/paygate/paygate/kakaopay/kakaopaytest"
	"github.com/paygate/paygate/pg/pgtest"
	"github.com/paygate/paygate/tosspay/tosspaytest"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "sandboxd:", err)
		os.Exit(1)
	}
}

func run() error {
	addr := flag.String("addr", "127.0.0.1:0", "listen address")
	hold := flag.Duration("hold", 0, "how long approval and refund answers are held back after they took effect")
	tossWebhook := flag.String("toss-webhook", "", "URL receiving the Toss sandbox's webhooks")
	flag.Parse()
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	base := "http://" + ln.Addr().String()
	holdMax := *hold
	if holdMax <= 0 {
		holdMax = time.Second
	}
	sandboxes := map[string]pgtest.Sandbox{
		"tosspay":  tosspaytest.New(tosspaytest.Config{BaseURL: base + "/tosspay", WebhookURL: *tossWebhook, HoldMax: holdMax}),
		"inicis":   inicistest.New(inicistest.Config{BaseURL: base + "/inicis"}),
		"kakaopay": kakaopaytest.New(kakaopaytest.Config{BaseURL: base + "/kakaopay"}),
	}
	for _, sb := range sandboxes {
		defer sb.Close()
	}
	mux := http.NewServeMux()
	var held atomic.Int64
	for name, sb := range sandboxes {
		mux.Handle("/"+name+"/", holdAnswers(sb, *hold, &held))
	}
	mux.HandleFunc("GET /held", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprint(w, held.Load())
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	fmt.Println("sandboxd listening on", base)

	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, sb := range sandboxes {
		sb.Close() // releases held answers so Shutdown does not wait for them
	}
	if err := srv.Shutdown(shutdown); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// heldPaths are the calls whose answers -hold keeps back: approvals and
// refunds of both PGs.
var heldPaths = []string{"/api/payAuth", "/v2/pg/refund", "/v2/pg/partialRefund", "/payment/approve", "/payment/cancel",
	"/v1/payments/confirm", "/cancel"}

// approvalPaths are the held calls /held counts.
var approvalPaths = []string{"/api/payAuth", "/payment/approve", "/v1/payments/confirm"}

func hasSuffix(path string, suffixes []string) bool {
	for _, s := range suffixes {
		if strings.HasSuffix(path, s) {
			return true
		}
	}
	return false
}

// holdAnswers runs the sandbox at once and delivers its answer d later. A
// sandbox that cuts the connection instead of answering (a scripted lost
// answer) still does so at once.
func holdAnswers(h http.Handler, d time.Duration, held *atomic.Int64) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if d <= 0 || !hasSuffix(r.URL.Path, heldPaths) {
			h.ServeHTTP(w, r)
			return
		}
		buf := &heldWriter{ResponseWriter: w, header: http.Header{}}
		h.ServeHTTP(buf, r)
		if buf.hijacked {
			return
		}
		approval := hasSuffix(r.URL.Path, approvalPaths)
		if approval {
			held.Add(1)
		}
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-r.Context().Done():
		}
		t.Stop()
		if approval {
			held.Add(-1)
		}
		for k, v := range buf.header {
			w.Header()[k] = v
		}
		if buf.status == 0 {
			buf.status = http.StatusOK
		}
		w.WriteHeader(buf.status)
		_, _ = w.Write(buf.body)
	})
}

// heldWriter keeps an answer until holdAnswers lets it go; hijacking goes
// straight through.
type heldWriter struct {
	http.ResponseWriter
	header   http.Header
	status   int
	body     []byte
	hijacked bool
}

func (h *heldWriter) Header() http.Header { return h.header }

func (h *heldWriter) WriteHeader(status int) {
	if h.status == 0 {
		h.status = status
	}
}

func (h *heldWriter) Write(p []byte) (int, error) {
	if h.status == 0 {
		h.status = http.StatusOK
	}
	h.body = append(h.body, p...)
	return len(p), nil
}

func (h *heldWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	c, rw, err := http.NewResponseController(h.ResponseWriter).Hijack()
	if err == nil {
		h.hijacked = true
	}
	return c, rw, err
}

func (h *heldWriter) Unwrap() http.ResponseWriter { return h.ResponseWriter }
