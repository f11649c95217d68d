package inicis

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strings"

	"github.com/paygate/paygate/pg"
	"github.com/paygate/paygate/pg/pghttp"
)

// Name is the adapter's registry name.
const Name = "inicis"

// Gateway is the KG Inicis adapter: INIpay Standard (PC web) for payment,
// INIAPI v2 for cancels and inquiries, and virtual-account deposit
// notifications. It implements pg.Gateway, pg.Preparer,
// pg.PrepareValidator, pg.NetCanceler, pg.WebhookParser and
// pg.WebhookAcker, and is safe for concurrent use.
type Gateway struct {
	cfg  Config
	http *pghttp.Client
	// log is Config.Logger behind the same redaction as the HTTP client's
	// log: the keys never reach a log line, whatever an error carries.
	log *slog.Logger
}

var (
	_ pg.Gateway          = (*Gateway)(nil)
	_ pg.Preparer         = (*Gateway)(nil)
	_ pg.PrepareValidator = (*Gateway)(nil)
	_ pg.NetCanceler      = (*Gateway)(nil)
	_ pg.WebhookParser    = (*Gateway)(nil)
	_ pg.WebhookAcker     = (*Gateway)(nil)
)

// New checks cfg and returns the adapter.
func New(cfg Config) (*Gateway, error) {
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("inicis: config: %w", err)
	}
	c := pghttp.New(Name)
	c.HTTPClient = cfg.HTTPClient
	c.Logger = cfg.Logger
	c.Timeout = cfg.Timeout
	for _, secret := range []string{cfg.SignKey, cfg.APIKey, cfg.APIIV} {
		if secret != "" {
			c.Secrets = append(c.Secrets, secret)
		}
	}
	log := slog.New(pghttp.RedactHandler(cfg.Logger.Handler(), c.Secrets...)).With("pg", Name)
	return &Gateway{cfg: cfg, http: c, log: log}, nil
}

// Name returns "inicis".
func (g *Gateway) Name() string { return Name }

// Capabilities: partial cancels with the confirmPrice balance guard; no
// idempotency key anywhere (INIAPI has none, so an ambiguous cancel is
// resolved by inquiry); inquiry by order id; deposit notifications for
// virtual accounts; won only; 1,000 won at least, unless the form's
// acceptmethod carries "below1000" (Config.AcceptMethod).
func (g *Gateway) Capabilities() pg.Capabilities {
	minAmount := pg.Won(1000)
	if strings.Contains(g.cfg.AcceptMethod, "below1000") {
		minAmount = pg.Won(1)
	}
	return pg.Capabilities{
		PartialCancel:   true,
		IdempotencyKeys: false,
		LookupByOrderID: true,
		Webhooks:        true,
		VirtualAccounts: true,
		Currencies:      []pg.Currency{pg.KRW},
		Methods: []pg.Method{
			pg.MethodCard, pg.MethodVirtualAccount, pg.MethodTransfer,
			pg.MethodMobilePhone, pg.MethodEasyPay,
		},
		MinAmount: minAmount,
	}
}

// LogValue keeps the keys out of logs.
func (g *Gateway) LogValue() slog.Value { return g.cfg.LogValue() }

// fail builds the adapter's error.
func fail(op string, kind pg.Kind, code, msg string, status int, cause error) *pg.Error {
	return &pg.Error{PG: Name, Op: op, Kind: kind, Code: code, Message: msg, HTTPStatus: status, Err: cause}
}

// invalid is the error for a request refused before anything was sent.
func invalid(op, format string, args ...any) *pg.Error {
	return fail(op, pg.KindInvalid, "", fmt.Sprintf(format, args...), 0, nil)
}

// post sends one request through the shared PG client (pg/pghttp) and
// returns the answer whatever its status. pghttp resends only what cannot
// act twice: a request that never reached Inicis, a 429/503, or, for reads
// (idempotent), a timeout or 5xx. None of Inicis's writes carries an
// idempotency key, so they go out once; a failure after sending is
// KindUnknown, to be resolved by inquiry.
func (g *Gateway) post(ctx context.Context, op, url, contentType string, body []byte, idempotent bool) (int, []byte, error) {
	resp, err := g.http.Do(ctx, &pghttp.Request{
		Op:     op,
		Method: http.MethodPost,
		URL:    url,
		Header: http.Header{
			"Content-Type": {contentType},
			"Accept":       {"application/json"},
		},
		Body:             body,
		Idempotent:       idempotent,
		MaxResponseBytes: maxBody,
	})
	if err != nil {
		return 0, nil, err
	}
	return resp.StatusCode, resp.Body, nil
}

// httpFailure is the error for a non-200 answer that carried no result
// code we could read.
func httpFailure(op string, status int, idempotent bool) *pg.Error {
	kind := pg.KindForHTTPStatus(status)
	if kind == pg.KindNotFound {
		// Inicis says "no such payment" with a result code; a bare 404 is a
		// wrong address (our configuration), and reading it as "not found"
		// would fail a payment that may be captured.
		kind = pg.KindInvalid
	}
	if kind == pg.KindUnknown && idempotent {
		// A read cannot have changed anything; it simply did not work.
		kind = pg.KindUnavailable
	}
	return fail(op, kind, "", http.StatusText(status), status, nil)
}
