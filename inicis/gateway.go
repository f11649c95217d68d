package inicis

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"

	"github.com/paygate/paygate/pg"
)

// Name is the adapter's registry name.
const Name = "inicis"

// Gateway is the KG Inicis adapter: INIpay Standard (PC web) for payment,
// INIAPI v2 for cancels and inquiries, and virtual-account deposit
// notifications. It implements pg.Gateway, pg.Preparer, pg.NetCanceler,
// pg.WebhookParser and pg.WebhookAcker, and is safe for concurrent use.
type Gateway struct {
	cfg Config
}

var (
	_ pg.Gateway       = (*Gateway)(nil)
	_ pg.Preparer      = (*Gateway)(nil)
	_ pg.NetCanceler   = (*Gateway)(nil)
	_ pg.WebhookParser = (*Gateway)(nil)
	_ pg.WebhookAcker  = (*Gateway)(nil)
)

// New checks cfg and returns the adapter.
func New(cfg Config) (*Gateway, error) {
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("inicis: config: %w", err)
	}
	return &Gateway{cfg: cfg}, nil
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

// post sends one request and reads the answer (capped at maxBody). A
// transport failure is classified: refused before sending is Unavailable;
// anything after the request may have left (timeouts, resets, a cut-short
// context) is Unknown. Nothing is retried here: none of Inicis's writes
// carries an idempotency key.
func (g *Gateway) post(ctx context.Context, op, url, contentType string, body []byte) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return 0, nil, fail(op, pg.KindInvalid, "", "build request", 0, err)
	}
	req.Header.Set("Content-Type", contentType)
	req.Header.Set("Accept", "application/json")
	resp, err := g.cfg.HTTPClient.Do(req)
	if err != nil {
		kind := pg.KindUnknown
		var op2 *net.OpError
		if errors.As(err, &op2) && op2.Op == "dial" && ctx.Err() == nil {
			kind = pg.KindUnavailable
		}
		g.cfg.Logger.WarnContext(ctx, "inicis: request failed", "op", op, "kind", kind.String(), "err", err)
		return 0, nil, fail(op, kind, "", "", 0, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxBody+1))
	if err != nil {
		return resp.StatusCode, nil, fail(op, pg.KindUnknown, "", "reading response", resp.StatusCode, err)
	}
	if len(data) > maxBody {
		return resp.StatusCode, nil, fail(op, pg.KindUnknown, "", "response too large", resp.StatusCode, nil)
	}
	return resp.StatusCode, data, nil
}

// httpFailure is the error for a non-200 answer that carried no result
// code we could read.
func httpFailure(op string, status int, idempotent bool) *pg.Error {
	kind := pg.KindForHTTPStatus(status)
	if kind == pg.KindUnknown && idempotent {
		// A read cannot have changed anything; it simply did not work.
		kind = pg.KindUnavailable
	}
	return fail(op, kind, "", http.StatusText(status), status, nil)
}
