package webhook

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

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
	// Logger receives rejected and failed deliveries, never their bodies
	// or secrets; default slog.Default().
	Logger *slog.Logger
}

// Intake is the http.Handler that receives PG notifications. It is safe for
// concurrent use.
type Intake struct {
	cfg Config
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
	return &Intake{cfg: cfg}, nil
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
//     fails, with a log line and nothing stored; 400 when it is malformed;
//     503 when the adapter could not decide, e.g. the PG did not answer its
//     fetch-back);
//  3. in one transaction, record it under its unique (pg, dedup key) and
//     run the effect;
//  4. answer success (the adapter's pg.WebhookAcker answer, else 200) only
//     after that transaction committed. A duplicate, sequential or
//     concurrent, gets the same success answer without a second effect; a
//     failed effect gets 500 and leaves nothing behind, so the PG retries.
func (in *Intake) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		writeError(w, http.StatusMethodNotAllowed, CodeMethodNotAllowed, "webhooks are delivered with POST")
		return
	}
	name := in.cfg.PG
	if name == "" {
		name = r.PathValue("pg")
	}
	gw, err := in.cfg.Registry.Get(name)
	if err != nil {
		writeError(w, http.StatusNotFound, CodeUnknownPG, "no such payment gateway")
		return
	}
	parser, ok := gw.(pg.WebhookParser)
	if !ok {
		writeError(w, http.StatusNotFound, CodeUnknownPG, "this payment gateway sends no webhooks")
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), in.cfg.Timeout)
	defer cancel()
	log := in.cfg.Logger.With("pg", name, "remote", r.RemoteAddr)

	if r.ContentLength > in.cfg.MaxBodyBytes {
		writeError(w, http.StatusRequestEntityTooLarge, CodeTooLarge, fmt.Sprintf("the body exceeds %d bytes", in.cfg.MaxBodyBytes))
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, in.cfg.MaxBodyBytes))
	if err != nil {
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
		log.Warn("webhook: rejected a delivery that failed verification", "err", err)
		writeError(w, http.StatusUnauthorized, CodeRejected, "the webhook failed verification")
		return
	case errors.Is(err, pg.ErrInvalid):
		log.Warn("webhook: refused a malformed delivery", "err", err)
		writeError(w, http.StatusBadRequest, CodeMalformed, "the webhook could not be understood")
		return
	case err != nil:
		log.Error("webhook: could not verify a delivery; the PG will deliver again", "err", err)
		writeError(w, http.StatusServiceUnavailable, CodeNotProcessed, "the webhook could not be verified now; deliver again later")
		return
	case ev == nil:
		// The adapter verified the delivery and found nothing paygate acts
		// on (an event type it does not handle).
		log.Debug("webhook: nothing to do for this delivery")
		ack(w, gw)
		return
	}
	if err := in.normalise(ev, name, body); err != nil {
		log.Error("webhook: refused a verified delivery the log cannot hold", "err", err)
		writeError(w, http.StatusBadRequest, CodeMalformed, "the webhook could not be understood")
		return
	}
	sum := sha256.Sum256(body)
	d := Delivery{
		ID:         newID(),
		PG:         name,
		DedupKey:   ev.DedupKey,
		Event:      *ev,
		Header:     in.redactHeader(r.Header),
		Body:       in.cfg.RedactBody(r.Header.Get("Content-Type"), body),
		BodySHA256: hex.EncodeToString(sum[:]),
		RemoteAddr: truncate(r.RemoteAddr, 64),
		ReceivedAt: in.cfg.Now(),
	}
	log = log.With("dedupKey", d.DedupKey, "type", string(ev.Type))
	err = in.cfg.Store.InTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		if err := in.cfg.Store.InsertTx(ctx, tx, d); err != nil {
			return err
		}
		return in.applyEffect(ctx, tx, d.Event)
	})
	switch {
	case errors.Is(err, ErrDuplicate):
		log.Debug("webhook: duplicate delivery acknowledged without a second effect")
	case err != nil:
		log.Error("webhook: delivery not recorded; the PG will deliver again", "err", err)
		status := http.StatusInternalServerError
		if ctx.Err() != nil {
			status = http.StatusServiceUnavailable
		}
		writeError(w, status, CodeNotProcessed, "the webhook was not processed; deliver again later")
		return
	default:
		log.Info("webhook: delivery recorded", "id", d.ID)
	}
	ack(w, gw)
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
