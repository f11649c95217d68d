package tosspay

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/paygate/paygate/pg"
	"github.com/paygate/paygate/pg/pghttp"
)

// Name is the adapter's registry name.
const Name = "tosspay"

// DefaultBaseURL is the Toss Payments core API.
const DefaultBaseURL = "https://api.tosspayments.com"

// Gateway is the Toss Payments core API v1 adapter. It implements
// pg.Gateway, pg.PrepareValidator, pg.WebhookParser, pg.TransactionReporter
// and pg.SettlementReporter, and is safe for concurrent use.
type Gateway struct {
	baseURL      string
	auth         string // "Basic base64(secretKey:)"
	testCode     string
	acceptLang   string
	client       *pghttp.Client
	reportClient *pghttp.Client
	reportPage   int
}

// Option configures a Gateway.
type Option func(*config)

type config struct {
	baseURL     string
	httpClient  *http.Client
	logger      *slog.Logger
	timeout     time.Duration
	reportTO    time.Duration
	maxAttempts int
	backoffMin  time.Duration
	backoffMax  time.Duration
	testCode    string
	acceptLang  string
	reportPage  int
}

// WithBaseURL points the adapter at another host, e.g. a sandbox
// ("http://127.0.0.1:8080/sandbox/tosspay"). A trailing slash is ignored.
func WithBaseURL(u string) Option { return func(c *config) { c.baseURL = u } }

// WithHTTPClient sends requests through hc (its Transport in particular), so
// tests and sandboxes can plug in.
func WithHTTPClient(hc *http.Client) Option { return func(c *config) { c.httpClient = hc } }

// WithLogger logs every call, with the secret key and Authorization redacted.
func WithLogger(l *slog.Logger) Option { return func(c *config) { c.logger = l } }

// WithTimeout bounds each attempt of approve, cancel and lookup calls
// (default 10 s).
func WithTimeout(d time.Duration) Option { return func(c *config) { c.timeout = d } }

// WithReportTimeout bounds each attempt of the transaction and settlement
// report calls (default 60 s: Toss says they may take that long).
func WithReportTimeout(d time.Duration) Option { return func(c *config) { c.reportTO = d } }

// WithRetry bounds the attempts of one call and the backoff between them.
// The default, pghttp.DefaultMaxAttempts (3), means a lost answer costs at
// most three attempt timeouts before the call is Unknown.
func WithRetry(maxAttempts int, backoffMin, backoffMax time.Duration) Option {
	return func(c *config) { c.maxAttempts, c.backoffMin, c.backoffMax = maxAttempts, backoffMin, backoffMax }
}

// WithTestCode sends TossPayments-Test-Code on every call: a test key
// (test_sk_…) then answers with that error code. Live keys ignore it. Use
// ContextWithTestCode for a single call.
func WithTestCode(code string) Option { return func(c *config) { c.testCode = code } }

// WithAcceptLanguage sends Accept-Language ("en-US" gets English messages).
func WithAcceptLanguage(lang string) Option { return func(c *config) { c.acceptLang = lang } }

// WithReportPageSize sets the page size of report calls (default 1000, Toss
// allows up to 5000).
func WithReportPageSize(n int) Option { return func(c *config) { c.reportPage = n } }

type testCodeKey struct{}

// ContextWithTestCode makes the calls made with ctx send
// TossPayments-Test-Code: code, overriding WithTestCode.
func ContextWithTestCode(ctx context.Context, code string) context.Context {
	return context.WithValue(ctx, testCodeKey{}, code)
}

// New returns a Gateway authenticating with secretKey (test_sk_… or
// live_sk_…).
func New(secretKey string, opts ...Option) (*Gateway, error) {
	secretKey = strings.TrimSpace(secretKey)
	if secretKey == "" {
		return nil, errors.New("tosspay: secret key is required")
	}
	cfg := config{baseURL: DefaultBaseURL, maxAttempts: pghttp.DefaultMaxAttempts, reportPage: 1000}
	for _, o := range opts {
		o(&cfg)
	}
	u, err := url.Parse(cfg.baseURL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, fmt.Errorf("tosspay: base URL %q must be an absolute http(s) URL", cfg.baseURL)
	}
	if cfg.reportPage <= 0 || cfg.reportPage > 5000 {
		return nil, fmt.Errorf("tosspay: report page size %d outside 1..5000", cfg.reportPage)
	}
	auth := base64.StdEncoding.EncodeToString([]byte(secretKey + ":"))
	mk := func(timeout time.Duration) *pghttp.Client {
		c := pghttp.New(Name)
		c.HTTPClient = cfg.httpClient
		c.Logger = cfg.logger
		c.Secrets = []string{secretKey, auth}
		c.Timeout = timeout
		c.MaxAttempts = cfg.maxAttempts
		c.BackoffMin, c.BackoffMax = cfg.backoffMin, cfg.backoffMax
		c.CheckRetry = RetryPolicy
		return c
	}
	reportTO := cfg.reportTO
	if reportTO <= 0 {
		reportTO = pghttp.ReportTimeout
	}
	return &Gateway{
		baseURL:      strings.TrimRight(cfg.baseURL, "/"),
		auth:         "Basic " + auth,
		testCode:     cfg.testCode,
		acceptLang:   cfg.acceptLang,
		client:       mk(cfg.timeout),
		reportClient: mk(reportTO),
		reportPage:   cfg.reportPage,
	}, nil
}

// RetryPolicy is pghttp.DefaultRetryPolicy plus Toss's own rule: a 409
// IDEMPOTENT_REQUEST_PROCESSING means the first request with the same
// Idempotency-Key is still running, and Toss says to send it again with the
// same key to get its result.
func RetryPolicy(ctx context.Context, a pghttp.Attempt) bool {
	if a.Err == nil && a.StatusCode == http.StatusConflict && a.Request != nil && a.Request.Idempotent {
		var e errorJSON
		if json.Unmarshal(a.Body, &e) == nil && e.Code == "IDEMPOTENT_REQUEST_PROCESSING" {
			return ctx.Err() == nil
		}
	}
	return pghttp.DefaultRetryPolicy(ctx, a)
}

// Name returns "tosspay".
func (g *Gateway) Name() string { return Name }

// Capabilities declares what Toss supports: partial cancels with the
// refundableAmount guard, Idempotency-Key on every POST, lookup by orderId,
// payment webhooks, virtual accounts, KRW/USD/JPY, and a 100 KRW minimum
// (cards; accounts need 200 KRW).
func (g *Gateway) Capabilities() pg.Capabilities {
	return pg.Capabilities{
		PartialCancel:   true,
		IdempotencyKeys: true,
		LookupByOrderID: true,
		Webhooks:        true,
		VirtualAccounts: true,
		Currencies:      []pg.Currency{pg.KRW, pg.USD, pg.JPY},
		Methods: []pg.Method{pg.MethodCard, pg.MethodVirtualAccount, pg.MethodTransfer,
			pg.MethodMobilePhone, pg.MethodEasyPay, pg.MethodOther},
		MinAmount: pg.Won(100),
	}
}

// maxIdempotencyKey is Toss's limit on Idempotency-Key.
const maxIdempotencyKey = 300

// ApproveIdempotencyKey is the Idempotency-Key a confirm of paymentID
// carries: stable across resends and restarts, one per payment attempt (a
// key is scoped to the confirm URL, so a key per order attempt is what keeps
// two payments from replaying each other's result).
func ApproveIdempotencyKey(paymentID string) string { return idemKey("approve", paymentID) }

// CancelIdempotencyKey is the Idempotency-Key of the cancel cancelID.
func CancelIdempotencyKey(cancelID string) string { return idemKey("cancel", cancelID) }

func idemKey(op, id string) string {
	k := "paygate-" + op + "-" + id
	if len(k) <= maxIdempotencyKey {
		return k
	}
	sum := sha256.Sum256([]byte(id))
	return "paygate-" + op + "-sha256-" + hex.EncodeToString(sum[:])
}

// Approve confirms the payment the buyer authenticated:
// POST /v1/payments/confirm {paymentKey, orderId, amount}, with the
// Idempotency-Key derived from req.PaymentID.
func (g *Gateway) Approve(ctx context.Context, req pg.ApproveRequest) (*pg.Payment, error) {
	const op = "approve"
	if err := validateApprove(req); err != nil {
		return nil, err
	}
	body, err := json.Marshal(confirmJSON{PaymentKey: req.PaymentKey, OrderID: req.OrderID, Amount: amountJSON(req.Amount)})
	if err != nil {
		return nil, invalidErr(op, "encode request: "+err.Error())
	}
	resp, err := g.send(ctx, g.client, op, http.MethodPost, "/v1/payments/confirm", nil, body, ApproveIdempotencyKey(req.PaymentID))
	if err != nil {
		return nil, fmt.Errorf("tosspay: confirm order %q: %w", req.OrderID, err)
	}
	p, err := g.paymentOrError(op, resp)
	if err != nil {
		return nil, fmt.Errorf("tosspay: confirm order %q: %w", req.OrderID, err)
	}
	// A replayed answer for another payment means the key was reused: never
	// take someone else's result as ours.
	if p.OrderID != req.OrderID || (p.PaymentKey != "" && p.PaymentKey != req.PaymentKey) {
		return nil, fmt.Errorf("tosspay: confirm order %q: %w", req.OrderID, &pg.Error{PG: Name, Op: op, Kind: pg.KindUnknown,
			Code: "MISMATCHED_RESPONSE", HTTPStatus: resp.StatusCode,
			Message: fmt.Sprintf("answer is for order %q payment %q; look the payment up", p.OrderID, p.PaymentKey)})
	}
	return p, nil
}

// Cancel refunds the whole balance (req.Amount unset, or equal to
// req.Balance) or part of it: POST /v1/payments/{paymentKey}/cancel with
// cancelReason, cancelAmount for a partial cancel, refundableAmount =
// req.Balance as the guard, taxFreeAmount, refundReceiveAccount, and the
// Idempotency-Key derived from req.CancelID.
func (g *Gateway) Cancel(ctx context.Context, req pg.CancelRequest) (*pg.Payment, error) {
	const op = "cancel"
	if err := validateCancel(req); err != nil {
		return nil, err
	}
	cj := cancelRequestJSON{CancelReason: req.Reason}
	cur := pg.KRW
	if req.Amount.IsSet() && !req.IsFull() {
		cj.CancelAmount = amountJSON(req.Amount)
		cur = req.Amount.Currency()
	}
	if req.Balance.IsSet() {
		cj.RefundableAmount = amountJSON(req.Balance)
		cur = req.Balance.Currency()
	}
	if req.TaxFree.IsSet() && req.TaxFree.IsPositive() {
		cj.TaxFreeAmount = amountJSON(req.TaxFree)
	}
	if cur != pg.KRW {
		cj.Currency = string(cur)
	}
	if a := req.RefundAccount; a != nil {
		cj.RefundReceiveAccount = &refundAccountJSON{Bank: a.Bank, AccountNumber: a.AccountNumber, HolderName: a.HolderName}
	}
	body, err := json.Marshal(cj)
	if err != nil {
		return nil, invalidErr(op, "encode request: "+err.Error())
	}
	path := "/v1/payments/" + url.PathEscape(req.PaymentKey) + "/cancel"
	resp, err := g.send(ctx, g.client, op, http.MethodPost, path, nil, body, CancelIdempotencyKey(req.CancelID))
	if err != nil {
		return nil, fmt.Errorf("tosspay: cancel payment %q: %w", req.PaymentKey, err)
	}
	p, err := g.paymentOrError(op, resp)
	if err != nil {
		return nil, fmt.Errorf("tosspay: cancel payment %q: %w", req.PaymentKey, err)
	}
	// The cancel was sent; an answer about another payment says nothing
	// about ours: look it up.
	if p.PaymentKey != req.PaymentKey || (req.OrderID != "" && p.OrderID != req.OrderID) {
		return nil, fmt.Errorf("tosspay: cancel payment %q: %w", req.PaymentKey, &pg.Error{PG: Name, Op: op, Kind: pg.KindUnknown,
			Code: "MISMATCHED_RESPONSE", HTTPStatus: resp.StatusCode,
			Message: fmt.Sprintf("answer is for payment %q order %q; look the payment up", p.PaymentKey, p.OrderID)})
	}
	return p, nil
}

// Lookup fetches the payment: GET /v1/payments/{paymentKey}, or
// GET /v1/payments/orders/{orderId} when only the order id is known. A
// payment the buyer authenticated but that was never confirmed is
// pg.StatusPending; one Toss does not know is a pg.KindNotFound error.
//
// The order id may be one made outside a checkout, shorter than a
// checkout's 6 characters (see ValidatePrepare). The answer must be the
// payment asked about: one whose paymentKey or orderId differs from the
// request's is a pg.KindInvalid error with Code "ORDER_MISMATCH", never
// taken as this order's payment. Payment.OrderID is always Toss's.
func (g *Gateway) Lookup(ctx context.Context, req pg.LookupRequest) (*pg.Payment, error) {
	const op = "lookup"
	var path, what string
	switch {
	case req.PaymentKey != "":
		if len(req.PaymentKey) > 200 {
			return nil, invalidErr(op, "paymentKey longer than 200 characters")
		}
		path, what = "/v1/payments/"+url.PathEscape(req.PaymentKey), "payment "+req.PaymentKey
	case req.OrderID != "":
		if err := validateOrderRef(op, req.OrderID); err != nil {
			return nil, err
		}
		path, what = "/v1/payments/orders/"+url.PathEscape(req.OrderID), "order "+req.OrderID
	default:
		return nil, invalidErr(op, "lookup needs a paymentKey or an orderId")
	}
	resp, err := g.send(ctx, g.client, op, http.MethodGet, path, nil, nil, "")
	if err != nil {
		return nil, fmt.Errorf("tosspay: look up %s: %w", what, err)
	}
	p, err := g.paymentOrError(op, resp)
	if err != nil {
		return nil, fmt.Errorf("tosspay: look up %s: %w", what, err)
	}
	if (req.PaymentKey != "" && p.PaymentKey != req.PaymentKey) || (req.OrderID != "" && p.OrderID != req.OrderID) {
		return nil, fmt.Errorf("tosspay: look up %s: %w", what, &pg.Error{PG: Name, Op: op, Kind: pg.KindInvalid,
			Code: "ORDER_MISMATCH", HTTPStatus: resp.StatusCode,
			Message: fmt.Sprintf("Toss answered with payment %q of order %q, not payment %q of order %q", p.PaymentKey, p.OrderID, req.PaymentKey, req.OrderID)})
	}
	return p, nil
}

// send performs one Toss call. idemKey, when set, goes in Idempotency-Key and
// marks the call safe to resend.
func (g *Gateway) send(ctx context.Context, c *pghttp.Client, op, method, path string, query url.Values, body []byte, idemKey string) (*pghttp.Response, error) {
	return c.Do(ctx, g.request(ctx, op, method, path, query, body, idemKey))
}

// sendReport GETs a report page with the report client and its larger cap.
func (g *Gateway) sendReport(ctx context.Context, op, path string, query url.Values) (*pghttp.Response, error) {
	r := g.request(ctx, op, http.MethodGet, path, query, nil, "")
	r.MaxResponseBytes = reportBodyCap
	return g.reportClient.Do(ctx, r)
}

func (g *Gateway) request(ctx context.Context, op, method, path string, query url.Values, body []byte, idemKey string) *pghttp.Request {
	u := g.baseURL + path
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	h := http.Header{"Authorization": {g.auth}}
	if body != nil {
		h.Set("Content-Type", "application/json")
	}
	if idemKey != "" {
		h.Set("Idempotency-Key", idemKey)
	}
	code := g.testCode
	if v, ok := ctx.Value(testCodeKey{}).(string); ok {
		code = v
	}
	if code != "" {
		h.Set("TossPayments-Test-Code", code)
	}
	if g.acceptLang != "" {
		h.Set("Accept-Language", g.acceptLang)
	}
	return &pghttp.Request{Op: op, Method: method, URL: u, Header: h, Body: body, Idempotent: idemKey != ""}
}

// paymentOrError decodes a 200 Payment answer, or maps an error answer.
func (g *Gateway) paymentOrError(op string, resp *pghttp.Response) (*pg.Payment, error) {
	if resp.StatusCode != http.StatusOK {
		return nil, errorFromResponse(op, resp)
	}
	p, err := decodePayment(resp.Body)
	if err != nil {
		// Toss answered 200 and we cannot read it: the call happened.
		return nil, &pg.Error{PG: Name, Op: op, Kind: pg.KindUnknown, Code: "UNREADABLE_RESPONSE",
			HTTPStatus: resp.StatusCode, Message: "cannot decode the payment; look it up", Err: err}
	}
	return p, nil
}

// errorFromResponse maps a Toss error answer onto a *pg.Error through the
// code table, falling back to the HTTP status.
func errorFromResponse(op string, resp *pghttp.Response) *pg.Error {
	e := resp.StatusError(Name, op)
	var body errorJSON
	if err := json.Unmarshal(resp.Body, &body); err == nil {
		if body.Code == "" && body.Error != nil {
			body.Code, body.Message = body.Error.Code, body.Error.Message
		}
		if body.Code != "" {
			e.Code, e.Message = body.Code, body.Message
			if info, ok := errorCodes[body.Code]; ok {
				e.Kind, e.Retryable = info.kind, info.retryable
			}
		}
	}
	return e
}

// KindOfCode reports how the adapter classifies a Toss error code, and
// whether the code is in its table.
func KindOfCode(code string) (pg.Kind, bool) {
	info, ok := errorCodes[code]
	return info.kind, ok
}

func invalidErr(op, msg string) *pg.Error {
	return &pg.Error{PG: Name, Op: op, Kind: pg.KindInvalid, Code: "INVALID_ARGUMENT", Message: msg}
}

func validateApprove(req pg.ApproveRequest) error {
	const op = "approve"
	switch {
	case req.PaymentID == "":
		return invalidErr(op, "PaymentID is required: the Idempotency-Key is derived from it")
	case req.PaymentKey == "":
		return invalidErr(op, "paymentKey is required")
	case len(req.PaymentKey) > 200:
		return invalidErr(op, "paymentKey longer than 200 characters")
	}
	if err := validateOrderID(op, req.OrderID); err != nil {
		return err
	}
	return validateAmount(op, "amount", req.Amount)
}

func validateCancel(req pg.CancelRequest) error {
	const op = "cancel"
	switch {
	case req.CancelID == "":
		return invalidErr(op, "CancelID is required: the Idempotency-Key is derived from it")
	case req.PaymentKey == "":
		return invalidErr(op, "paymentKey is required")
	case len(req.PaymentKey) > 200:
		return invalidErr(op, "paymentKey longer than 200 characters")
	case strings.TrimSpace(req.Reason) == "":
		return invalidErr(op, "cancelReason is required")
	case len([]rune(req.Reason)) > 200:
		return invalidErr(op, "cancelReason longer than 200 characters")
	}
	if req.Amount.IsSet() {
		if err := validateAmount(op, "cancelAmount", req.Amount); err != nil {
			return err
		}
	}
	if req.Balance.IsSet() {
		if err := validateAmount(op, "refundableAmount", req.Balance); err != nil {
			return err
		}
		if req.Amount.IsSet() {
			c, err := req.Amount.Cmp(req.Balance)
			if err != nil {
				return invalidErr(op, "cancelAmount and refundableAmount differ in currency")
			}
			if c > 0 {
				return invalidErr(op, fmt.Sprintf("cancelAmount %s exceeds the refundable balance %s", req.Amount, req.Balance))
			}
		}
	}
	if req.TaxFree.IsSet() && req.Amount.IsSet() {
		if c, err := req.TaxFree.Cmp(req.Amount); err != nil || c > 0 {
			return invalidErr(op, "taxFreeAmount exceeds cancelAmount")
		}
	}
	if a := req.RefundAccount; a != nil {
		if a.Bank == "" || a.AccountNumber == "" || a.HolderName == "" {
			return invalidErr(op, "refundReceiveAccount needs bank, accountNumber and holderName")
		}
		if len(a.AccountNumber) > 20 || strings.Trim(a.AccountNumber, "0123456789") != "" {
			return invalidErr(op, "refund accountNumber must be at most 20 digits")
		}
		if len([]rune(a.HolderName)) > 60 {
			return invalidErr(op, "refund holderName longer than 60 characters")
		}
	}
	return nil
}

func validateOrderID(op, id string) error {
	if len(id) < 6 || len(id) > 64 {
		return invalidErr(op, fmt.Sprintf("orderId must be 6 to 64 characters, got %d", len(id)))
	}
	for _, r := range id {
		ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.'
		if !ok {
			return invalidErr(op, "orderId may hold only letters, digits, '-', '_' and '.'")
		}
	}
	return nil
}

func validateAmount(op, field string, m pg.Money) error {
	switch {
	case !m.IsSet():
		return invalidErr(op, field+" is required")
	case !m.IsPositive():
		return invalidErr(op, field+" must be positive")
	case m.Currency() != pg.KRW && m.Currency() != pg.USD && m.Currency() != pg.JPY:
		return invalidErr(op, fmt.Sprintf("%s: Toss does not take %s", field, m.Currency()))
	}
	return nil
}

// LogValue keeps the secret key out of logs: only the name and base URL.
func (g *Gateway) LogValue() slog.Value {
	return slog.GroupValue(slog.String("pg", Name), slog.String("baseURL", g.baseURL))
}

// String keeps the secret key out of fmt output.
func (g *Gateway) String() string { return "tosspay.Gateway(" + g.baseURL + ")" }

// GoString keeps the secret key out of %#v.
func (g *Gateway) GoString() string { return g.String() }
