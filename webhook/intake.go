package webhook

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"strings"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/paygate/paygate/internal/telemetry"
	"github.com/paygate/paygate/pg"
)

// Effect applies a verified event to the host's data, inside tx, the same
// transaction that records the delivery: the delivery is recorded if and only
// if the effect's writes commit.
//
// The contract:
//   - Write only through tx, and do nothing slow or external (no PG calls,
//     no HTTP): the PG's answer deadline (Toss: 200 within 10 s) includes
//     the effect.
//   - Be idempotent and monotonic. The intake runs it once per (pg, dedup
//     key), but the same news can arrive under another dedup key (Toss sends
//     a virtual-account change both as DEPOSIT_CALLBACK and as
//     PAYMENT_STATUS_CHANGED), deliveries arrive out of order, store.InTx
//     re-runs the transaction after a deadlock, and Intake.Replay runs it
//     again on an operator's request. Move a payment only forward
//     (pg.CanTransition) and treat "already there" as success.
//   - Return an error to refuse the delivery: everything in tx is rolled
//     back, nothing is recorded and the PG gets a non-2xx answer, so it
//     delivers again later. A panic is recovered and treated as an error.
type Effect func(ctx context.Context, tx *sql.Tx, ev pg.WebhookEvent) error

// Defaults of Config.
const (
	// DefaultTimeout bounds verification plus the recording transaction,
	// under Toss's 10-second answer deadline with room for the network.
	DefaultTimeout      = 8 * time.Second
	DefaultMaxBodyBytes = 256 << 10
)

// Config configures an Intake. Registry, Store and Effect are required.
type Config struct {
	// Registry holds the adapters; a PG's adapter must implement
	// pg.WebhookParser to receive webhooks.
	Registry *pg.Registry
	Store    Store
	Effect   Effect
	// Secret looks up the per-payment webhook secret the host stored from
	// pg.Payment.Secret (Toss verifies payment webhooks by it). It is
	// handed to the adapter as pg.WebhookRequest.Secret. Optional.
	Secret func(ctx context.Context, pgName, paymentKey, orderID string) (secret string, ok bool)
	// PG fixes the gateway name; when empty the name is the request's
	// {pg} path value (mount the intake as "POST /webhooks/{pg}").
	PG string
	// MaxBodyBytes caps the body read; larger deliveries get 413. Default
	// 256 KiB.
	MaxBodyBytes int64
	// Timeout bounds verification and recording of one delivery; past it
	// the delivery is answered 503 and the PG delivers again. Default 8 s.
	Timeout time.Duration
	// RedactHeader reports whether a header's value is a secret to mask in
	// the stored copy; default DefaultRedactHeader.
	RedactHeader func(name string) bool
	// RedactBody returns the copy of a body to store; default RedactBody,
	// which masks secret-looking fields of JSON and form bodies.
	RedactBody func(contentType string, body []byte) []byte
	// Now is the clock; default time.Now.
	Now func() time.Time
	// Logger receives rejected and failed deliveries: of a refused body
	// only its size, digest and start with secrets masked (JSON and form
	// bodies; nothing of others), never secrets; default slog.Default().
	Logger *slog.Logger
	// MeterProvider and TracerProvider receive the paygate.webhooks
	// counter (by PG and outcome) and a "webhook.receive" span per
	// delivery, in which the effect runs; nil means the global providers.
	MeterProvider  metric.MeterProvider
	TracerProvider trace.TracerProvider
}

// Intake is the http.Handler that receives PG notifications. It is safe for
// concurrent use.
type Intake struct {
	cfg   Config
	stats counters
	tel   *telemetry.Webhooks
}

// Stats counts what the intake did with the deliveries it received since it
// was made.
type Stats struct {
	// Recorded deliveries were new: stored and applied.
	Recorded int64
	// Duplicates were news recorded already: acknowledged, no second
	// effect.
	Duplicates int64
	// Ignored deliveries were verified but about nothing paygate acts on:
	// acknowledged, nothing stored.
	Ignored int64
	// Rejected deliveries failed verification (401): logged, never stored.
	Rejected int64
	// Malformed deliveries could not be read or understood (400, 413):
	// never stored.
	Malformed int64
	// Failed deliveries could not be verified or recorded now (500, 503):
	// nothing stored; the PG delivers again.
	Failed int64
}

type counters struct {
	recorded, duplicates, ignored, rejected, malformed, failed atomic.Int64
}

// Stats returns the intake's counters.
func (in *Intake) Stats() Stats {
	return Stats{
		Recorded: in.stats.recorded.Load(), Duplicates: in.stats.duplicates.Load(), Ignored: in.stats.ignored.Load(),
		Rejected: in.stats.rejected.Load(), Malformed: in.stats.malformed.Load(), Failed: in.stats.failed.Load(),
	}
}

// New checks cfg and fills its defaults.
func New(cfg Config) (*Intake, error) {
	switch {
	case cfg.Registry == nil:
		return nil, errors.New("webhook: Config.Registry is required")
	case cfg.Store == nil:
		return nil, errors.New("webhook: Config.Store is required")
	case cfg.Effect == nil:
		return nil, errors.New("webhook: Config.Effect is required")
	case cfg.MaxBodyBytes < 0 || cfg.Timeout < 0:
		return nil, errors.New("webhook: negative limits are not allowed")
	}
	if cfg.MaxBodyBytes == 0 {
		cfg.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.RedactHeader == nil {
		cfg.RedactHeader = DefaultRedactHeader
	}
	if cfg.RedactBody == nil {
		cfg.RedactBody = RedactBody
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Intake{cfg: cfg, tel: telemetry.NewWebhooks(cfg.MeterProvider, cfg.TracerProvider)}, nil
}

// count adds one delivery to Stats and to the paygate.webhooks counter.
// pgName is the gateway's registry name, or "unknown" before the path named
// a registered one (the path is the sender's, so it never becomes an
// attribute value as sent).
func (in *Intake) count(ctx context.Context, c *atomic.Int64, pgName, outcome string) {
	c.Add(1)
	in.tel.Received.Add(ctx, 1, metric.WithAttributes(telemetry.PG.String(pgName), telemetry.Outcome.String(outcome)))
	if span := trace.SpanFromContext(ctx); span.IsRecording() {
		span.SetAttributes(telemetry.PG.String(pgName), telemetry.Outcome.String(outcome))
	}
}

// Error codes of the intake's JSON error answers.
const (
	CodeMethodNotAllowed = "METHOD_NOT_ALLOWED"    // 405
	CodeUnknownPG        = "UNKNOWN_PG"            // 404: no such gateway, or it sends no webhooks
	CodeTooLarge         = "REQUEST_TOO_LARGE"     // 413
	CodeBadRequest       = "BAD_REQUEST"           // 400: unreadable body
	CodeRejected         = "WEBHOOK_REJECTED"      // 401: failed verification
	CodeMalformed        = "MALFORMED_WEBHOOK"     // 400: verified by nobody, or unusable
	CodeNotProcessed     = "WEBHOOK_NOT_PROCESSED" // 500/503: deliver again later
)

// ServeHTTP handles one delivery:
//
//  1. read the body under the size cap (413 over it);
//  2. have the PG's adapter verify and normalise it (401 when verification
//     fails, with a size-capped, masked log line and nothing stored; 400
//     when it is malformed; 503 when the adapter could not decide, e.g. the
//     PG did not answer its fetch-back);
//  3. in one transaction, record it under its unique (pg, dedup key) and
//     run the effect;
//  4. answer success (the adapter's pg.WebhookAcker answer, else 200) only
//     after that transaction committed. A duplicate, sequential or
//     concurrent, gets the same success answer without a second effect; a
//     failed effect gets 500 and leaves nothing behind, so the PG retries.
//
// A delivery the adapter confirmed by looking the payment up
// (pg.WebhookEvent.ByLookup) proved nothing by itself: it is keyed by the
// PG's answer instead of anything the delivery says, it is a duplicate when
// a recorded delivery of the payment brought that same answer already, and
// neither its body nor its headers are stored. However often and however
// varied it is sent, it records each state the PG really reported at most
// once.
func (in *Intake) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ctx, span := in.tel.Tracer.Start(r.Context(), "webhook.receive", trace.WithSpanKind(trace.SpanKindServer))
	defer span.End()
	in.serve(w, r.WithContext(ctx))
}

func (in *Intake) serve(w http.ResponseWriter, r *http.Request) {
	pgName := "unknown"
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		in.count(r.Context(), &in.stats.malformed, pgName, "malformed")
		writeError(w, http.StatusMethodNotAllowed, CodeMethodNotAllowed, "webhooks are delivered with POST")
		return
	}
	name := in.cfg.PG
	if name == "" {
		name = r.PathValue("pg")
	}
	gw, err := in.cfg.Registry.Get(name)
	if err != nil {
		in.count(r.Context(), &in.stats.malformed, pgName, "malformed")
		writeError(w, http.StatusNotFound, CodeUnknownPG, "no such payment gateway")
		return
	}
	parser, ok := gw.(pg.WebhookParser)
	if !ok {
		in.count(r.Context(), &in.stats.malformed, pgName, "malformed")
		writeError(w, http.StatusNotFound, CodeUnknownPG, "this payment gateway sends no webhooks")
		return
	}
	pgName = gw.Name()
	ctx, cancel := context.WithTimeout(r.Context(), in.cfg.Timeout)
	defer cancel()
	log := in.cfg.Logger.With("pg", name, "remote", truncate(r.RemoteAddr, 64))

	if r.ContentLength > in.cfg.MaxBodyBytes {
		in.count(r.Context(), &in.stats.malformed, pgName, "malformed")
		writeError(w, http.StatusRequestEntityTooLarge, CodeTooLarge, fmt.Sprintf("the body exceeds %d bytes", in.cfg.MaxBodyBytes))
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, in.cfg.MaxBodyBytes))
	if err != nil {
		in.count(r.Context(), &in.stats.malformed, pgName, "malformed")
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			writeError(w, http.StatusRequestEntityTooLarge, CodeTooLarge, fmt.Sprintf("the body exceeds %d bytes", in.cfg.MaxBodyBytes))
			return
		}
		writeError(w, http.StatusBadRequest, CodeBadRequest, "the body could not be read")
		return
	}

	ev, err := in.parse(ctx, parser, name, r, body)
	switch {
	case isRejected(err):
		in.count(r.Context(), &in.stats.rejected, pgName, "forged")
		log.Warn("webhook: rejected a delivery that failed verification; nothing stored",
			"err", clipLog(err.Error()), "bytes", len(body), "sha256", digest(body),
			"body", logExcerpt(r.Header.Get("Content-Type"), body, in.cfg.RedactBody))
		writeError(w, http.StatusUnauthorized, CodeRejected, "the webhook failed verification")
		return
	case errors.Is(err, pg.ErrInvalid):
		in.count(r.Context(), &in.stats.malformed, pgName, "malformed")
		log.Warn("webhook: refused a malformed delivery; nothing stored",
			"err", clipLog(err.Error()), "bytes", len(body), "sha256", digest(body),
			"body", logExcerpt(r.Header.Get("Content-Type"), body, in.cfg.RedactBody))
		writeError(w, http.StatusBadRequest, CodeMalformed, "the webhook could not be understood")
		return
	case err != nil:
		in.count(r.Context(), &in.stats.failed, pgName, "failed")
		log.Error("webhook: could not verify a delivery; the PG will deliver again", "err", clipLog(err.Error()))
		writeError(w, http.StatusServiceUnavailable, CodeNotProcessed, "the webhook could not be verified now; deliver again later")
		return
	case ev == nil:
		// The adapter verified the delivery and found nothing paygate acts
		// on (an event type it does not handle).
		in.count(r.Context(), &in.stats.ignored, pgName, "ignored")
		log.Debug("webhook: nothing to do for this delivery")
		ack(w, gw)
		return
	}
	if err := in.normalise(ev, name, body); err != nil {
		in.count(r.Context(), &in.stats.malformed, pgName, "malformed")
		log.Error("webhook: refused a verified delivery the log cannot hold", "err", clipLog(err.Error()))
		writeError(w, http.StatusBadRequest, CodeMalformed, "the webhook could not be understood")
		return
	}
	d := Delivery{
		ID:         newID(),
		PG:         name,
		DedupKey:   ev.DedupKey,
		Event:      *ev,
		Header:     in.redactHeader(r.Header),
		Body:       in.cfg.RedactBody(r.Header.Get("Content-Type"), body),
		BodySHA256: digest(body),
		RemoteAddr: truncate(r.RemoteAddr, 64),
		ReceivedAt: in.cfg.Now(),
	}
	if ev.ByLookup {
		// Only the PG's answer is trusted: nothing the delivery carried is
		// kept but its digest.
		d.Header, d.Body = http.Header{}, nil
	}
	log = log.With("dedupKey", d.DedupKey, "type", string(ev.Type))
	err = in.cfg.Store.InTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		if ev.ByLookup {
			if seen, err := in.seenAnswer(ctx, tx, ev); err != nil {
				return err
			} else if seen {
				return ErrDuplicate
			}
		}
		if err := in.cfg.Store.InsertTx(ctx, tx, d); err != nil {
			return err
		}
		return in.applyEffect(ctx, tx, d.Event)
	})
	switch {
	case errors.Is(err, ErrDuplicate):
		in.count(r.Context(), &in.stats.duplicates, pgName, "duplicate")
		log.Debug("webhook: duplicate delivery acknowledged without a second effect")
	case err != nil:
		in.count(r.Context(), &in.stats.failed, pgName, "failed")
		log.Error("webhook: delivery not recorded; the PG will deliver again", "err", clipLog(err.Error()))
		status := http.StatusInternalServerError
		if ctx.Err() != nil {
			status = http.StatusServiceUnavailable
		}
		writeError(w, status, CodeNotProcessed, "the webhook was not processed; deliver again later")
		return
	default:
		in.count(r.Context(), &in.stats.recorded, pgName, "recorded")
		log.Info("webhook: delivery recorded", "id", d.ID, "byLookup", ev.ByLookup)
	}
	ack(w, gw)
}

// seenAnswer reports whether a recorded delivery of ev's payment brought the
// same PG answer ev was confirmed by (when the store can tell).
func (in *Intake) seenAnswer(ctx context.Context, tx *sql.Tx, ev *pg.WebhookEvent) (bool, error) {
	log, ok := in.cfg.Store.(PaymentLog)
	if !ok || ev.PaymentKey == "" {
		return false, nil
	}
	recorded, err := log.PaymentEventsTx(ctx, tx, ev.PG, ev.PaymentKey)
	if err != nil {
		return false, err
	}
	want := answerKey(ev)
	for i := range recorded {
		if answerKey(&recorded[i]) == want {
			return true, nil
		}
	}
	return false, nil
}

// answerKey identifies the PG's state an event reports: the payment, its
// status, amounts and the cancels the PG lists. Two events with the same
// key bring the same news.
func answerKey(ev *pg.WebhookEvent) string {
	fields := []string{ev.PG, ev.PaymentKey, ev.OrderID, string(ev.Status), ev.Amount.String()}
	if p := ev.Payment; p != nil {
		fields = []string{ev.PG, p.PaymentKey, p.OrderID, string(p.Status), p.Amount.String(), p.Balance.String()}
		for _, c := range p.Cancels {
			fields = append(fields, c.TransactionKey, c.Amount.String())
		}
	}
	h := sha256.New()
	for _, f := range fields {
		h.Write([]byte(f))
		h.Write([]byte{0x1f})
	}
	return "lookup:" + hex.EncodeToString(h.Sum(nil))
}

// parse runs the adapter, turning a panic into an error.
func (in *Intake) parse(ctx context.Context, p pg.WebhookParser, name string, r *http.Request, body []byte) (ev *pg.WebhookEvent, err error) {
	defer func() {
		if v := recover(); v != nil {
			ev, err = nil, fmt.Errorf("webhook: %s adapter panicked parsing a delivery: %v", name, v)
		}
	}()
	req := pg.WebhookRequest{
		Header:     r.Header.Clone(),
		Body:       body,
		RemoteAddr: r.RemoteAddr,
		Secret: func(ctx context.Context, paymentKey, orderID string) (string, bool) {
			if in.cfg.Secret == nil {
				return "", false
			}
			return in.cfg.Secret(ctx, name, paymentKey, orderID)
		},
	}
	return p.ParseWebhook(ctx, req)
}

// isRejected reports a verification failure: an error wrapping
// pg.ErrWebhookRejected, or any *pg.Error carrying its code.
func isRejected(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, pg.ErrWebhookRejected) {
		return true
	}
	e, ok := errors.AsType[*pg.Error](err)
	return ok && e.Code == pg.ErrWebhookRejected.Code
}

// Column limits of the webhook log.
const (
	maxPGLen         = 32
	maxDedupKeyLen   = 255
	maxPaymentKeyLen = 200
	maxOrderIDLen    = 64
	maxTypeLen       = 64
	maxStatusLen     = 32
)

// normalise fills what the adapter may leave out, clears secrets from the
// event that is stored and handed to the effect, and refuses values the log
// cannot hold.
func (in *Intake) normalise(ev *pg.WebhookEvent, name string, body []byte) error {
	if ev.PG == "" {
		ev.PG = name
	}
	if ev.PG != name {
		return fmt.Errorf("webhook: the %s adapter returned an event of %q", name, ev.PG)
	}
	if ev.ByLookup {
		// The PG's answer is the event: its identity, status and amount,
		// and the time it was learned, not the time the delivery claims.
		p := ev.Payment
		if p == nil {
			return fmt.Errorf("webhook: the %s adapter confirmed a delivery by lookup without the PG's answer", name)
		}
		if p.PaymentKey != "" {
			ev.PaymentKey = p.PaymentKey
		}
		if p.OrderID != "" {
			ev.OrderID = p.OrderID
		}
		ev.Status, ev.Amount, ev.OccurredAt = p.Status, p.Amount, in.cfg.Now()
		ev.DedupKey = answerKey(ev)
	}
	if ev.DedupKey == "" {
		// Without a PG-given id, the content identifies the news.
		sum := sha256.Sum256(body)
		ev.DedupKey = "sha256:" + hex.EncodeToString(sum[:])
	}
	if ev.Payment != nil {
		p := *ev.Payment
		p.Secret = ""
		ev.Payment = &p
	}
	for _, f := range []struct {
		field, value string
		max          int
	}{
		{"pg", ev.PG, maxPGLen},
		{"dedup key", ev.DedupKey, maxDedupKeyLen},
		{"payment key", ev.PaymentKey, maxPaymentKeyLen},
		{"order id", ev.OrderID, maxOrderIDLen},
		{"type", string(ev.Type), maxTypeLen},
		{"status", string(ev.Status), maxStatusLen},
	} {
		if len(f.value) > f.max {
			return fmt.Errorf("webhook: event %s is longer than %d bytes", f.field, f.max)
		}
		if !utf8.ValidString(f.value) {
			return fmt.Errorf("webhook: event %s is not valid UTF-8", f.field)
		}
	}
	return nil
}

// applyEffect runs the effect, turning a panic into an error so the
// transaction rolls back and the server survives.
func (in *Intake) applyEffect(ctx context.Context, tx *sql.Tx, ev pg.WebhookEvent) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = fmt.Errorf("webhook: effect panicked: %v", v)
		}
	}()
	if err := in.cfg.Effect(ctx, tx, ev); err != nil {
		return fmt.Errorf("webhook: effect: %w", err)
	}
	return nil
}

// Replay runs a recorded delivery's effect again, in one transaction that
// locks the delivery (so two operators' replays of it run one after the
// other) and counts the replay. It is for an operator who fixed what made an
// effect wrong, or wants to re-apply news the host's data lost; it is safe
// only because effects are idempotent and monotonic (see Effect), which is
// what makes replaying a delivery that was already applied change nothing.
// The effect gets the stored event, exactly as at intake; the adapter is not
// asked again. An unknown id is an error wrapping ErrNotFound; a failing
// effect rolls everything back and returns its error.
func (in *Intake) Replay(ctx context.Context, id string) error {
	err := in.cfg.Store.InTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		d, err := in.cfg.Store.LockTx(ctx, tx, id)
		if err != nil {
			return err
		}
		if err := in.applyEffect(ctx, tx, d.Event); err != nil {
			return err
		}
		return in.cfg.Store.MarkReplayedTx(ctx, tx, id, in.cfg.Now())
	})
	if err != nil {
		return fmt.Errorf("webhook: replay %s: %w", id, err)
	}
	in.cfg.Logger.Info("webhook: delivery replayed", "id", id)
	return nil
}

func (in *Intake) redactHeader(h http.Header) http.Header {
	out := make(http.Header, len(h))
	for k, vs := range h {
		if in.cfg.RedactHeader(k) {
			out[k] = []string{redacted}
			continue
		}
		out[k] = append([]string(nil), vs...)
	}
	return out
}

func ack(w http.ResponseWriter, gw pg.Gateway) {
	if a, ok := gw.(pg.WebhookAcker); ok {
		a.AckWebhook(w)
		return
	}
	w.WriteHeader(http.StatusOK)
}

func newID() string {
	id, err := uuid.NewV7()
	if err != nil {
		return "whk_" + uuid.NewString()
	}
	return "whk_" + id.String()
}

func digest(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// maxLogText caps what a log line quotes of a delivery or an adapter's
// error.
const maxLogText = 512

func clipLog(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	if len(s) <= maxLogText {
		return s
	}
	cut := maxLogText
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

// logExcerpt is what a log line shows of a refused body: its start, with
// secrets masked, for JSON and form bodies; nothing for a body that cannot
// be masked.
func logExcerpt(contentType string, body []byte, redact func(string, []byte) []byte) string {
	media, _, _ := mime.ParseMediaType(contentType)
	trimmed := bytes.TrimSpace(body)
	isJSON := media == "application/json" || strings.HasSuffix(media, "+json") ||
		(len(trimmed) > 0 && (trimmed[0] == '{' || trimmed[0] == '['))
	if !isJSON && media != "application/x-www-form-urlencoded" {
		return ""
	}
	masked := redact(contentType, body)
	if bytes.Equal(masked, withheld) {
		return ""
	}
	return clipLog(string(masked))
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}

type errorBody struct {
	Success bool `json:"success"`
	Error   struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

func writeError(w http.ResponseWriter, status int, code, message string) {
	var b errorBody
	b.Error.Code, b.Error.Message = code, message
	out, _ := jsonMarshal(b)
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write(out)
}
