package app

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/paygate/paygate"
	"github.com/paygate/paygate/idempotency"
	"github.com/paygate/paygate/outbox"
	"github.com/paygate/paygate/pg"
	"github.com/paygate/paygate/pg/pgtest"
	"github.com/paygate/paygate/store"
)

// maxBody caps every JSON request body.
const maxBody = 1 << 20

func (a *App) routes() {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", a.health)
	mux.HandleFunc("GET /readyz", a.ready)
	if a.cfg.Metrics != nil {
		mux.Handle("GET /metrics", a.cfg.Metrics)
	}
	mux.HandleFunc("GET /openapi.yaml", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/yaml")
		_, _ = w.Write(OpenAPI)
	})
	mux.Handle("POST /checkouts", a.jsonOnly(http.HandlerFunc(a.createCheckout)))
	mux.Handle("POST /payments/approve", a.jsonOnly(a.keys.Middleware(http.HandlerFunc(a.approve))))
	mux.HandleFunc("GET /payments/{paymentId}", a.getPayment)
	// A refund is the shop's decision: the operator token is checked
	// before anything else, so a stranger's request claims no key.
	mux.Handle("POST /payments/{paymentId}/cancel", a.operator(a.jsonOnly(a.keys.Require(http.HandlerFunc(a.cancel)))))
	mux.HandleFunc("GET /orders/{orderId}", a.getOrder)
	// The operators' console: its pages and its API under /admin/api/.
	mux.Handle("/admin/", a.console)
	mux.Handle("POST /webhooks/{pg}", a.intake)
	mux.HandleFunc("GET /return/{pg}/{outcome}", a.paymentReturn)
	mux.HandleFunc("GET /{$}", a.page)
	for name, s := range a.pgs {
		if s.sandbox == nil {
			continue
		}
		mux.Handle("/sandbox/"+name+"/", sandboxGuard(name, s.sandbox))
		// The API's buyer call, answering in the API's shape; the
		// sandbox's own /pay stays reachable under its other routes, from
		// this machine only.
		mux.Handle("POST /sandbox/"+name+"/pay", a.jsonOnly(a.sandboxPay(name)))
	}
	a.mux = mux
}

// ServeHTTP answers routes the mux has no handler for (404) or not for this
// method (405) in the API's JSON error shape; everything else goes to the
// mux. Every answer carries the security headers (see secureHeaders).
func (a *App) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	sw := secureHeaders(w)
	a.serve(sw, r)
	sw.finish()
}

func (a *App) serve(w http.ResponseWriter, r *http.Request) {
	if _, pattern := a.mux.Handler(r); pattern != "" {
		a.mux.ServeHTTP(w, r)
		return
	}
	rec := httptest.NewRecorder()
	a.mux.ServeHTTP(rec, r)
	if allow := rec.Header().Get("Allow"); allow != "" {
		w.Header().Set("Allow", allow)
	}
	switch rec.Code {
	case http.StatusMethodNotAllowed:
		writeError(w, rec.Code, "METHOD_NOT_ALLOWED", clipText(r.Method, 16)+" is not allowed here")
	case http.StatusNotFound:
		writeError(w, rec.Code, "NOT_FOUND", "no such endpoint")
	default:
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.Code)
		_, _ = w.Write(rec.Body.Bytes())
	}
}

// apiError is the JSON error shape of every endpoint.
type apiError struct {
	Success   bool      `json:"success"`
	PaymentID string    `json:"paymentId,omitempty"`
	Status    pg.Status `json:"status,omitempty"`
	Error     errBody   `json:"error"`
}

type errBody struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status int, code, message string) {
	writeJSON(w, status, apiError{Error: errBody{Code: code, Message: message}})
}

// maxMessage caps an error message: what a client sent (an id, a key) is
// echoed at most this long.
const maxMessage = 300

// fail answers err with the status and code that fit it. An unexpected
// failure is logged and answered without its details.
func (a *App) fail(w http.ResponseWriter, err error) {
	status, code := classify(err)
	var later *paygate.RetryLaterError
	if errors.As(err, &later) {
		w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(later.After.Seconds()))))
	}
	if code == codeDatabaseBusy {
		w.Header().Set("Retry-After", "1")
	}
	msg := err.Error()
	if status >= 500 {
		a.log.Error("request failed", "err", err)
	}
	if code == "INTERNAL_ERROR" || code == codeDatabaseBusy {
		msg = "the request failed; try again later"
	}
	writeError(w, status, code, clipText(strings.ToValidUTF8(msg, "\uFFFD"), maxMessage))
}

// codeDatabaseBusy answers a passing database failure with 503 and
// Retry-After.
const codeDatabaseBusy = "DATABASE_BUSY"

func classify(err error) (int, string) {
	var pe *pg.Error
	switch {
	case errors.Is(err, errUnauthorized):
		return http.StatusUnauthorized, "UNAUTHORIZED"
	case errors.Is(err, errUnsupportedMedia):
		return http.StatusUnsupportedMediaType, "UNSUPPORTED_MEDIA_TYPE"
	case errors.Is(err, errTooLarge):
		return http.StatusRequestEntityTooLarge, "REQUEST_TOO_LARGE"
	case errors.Is(err, paygate.ErrAmountMismatch):
		return http.StatusUnprocessableEntity, "AMOUNT_MISMATCH"
	case errors.Is(err, paygate.ErrNotFound), errors.Is(err, ErrOrderNotFound):
		return http.StatusNotFound, "NOT_FOUND"
	case errors.Is(err, paygate.ErrTooManyAttempts):
		return http.StatusTooManyRequests, "TOO_MANY_ATTEMPTS"
	case errors.Is(err, paygate.ErrPaymentKeyMismatch):
		return http.StatusConflict, "PAYMENT_KEY_MISMATCH"
	case errors.Is(err, paygate.ErrInProgress):
		return http.StatusConflict, "IN_PROGRESS"
	case errors.Is(err, paygate.ErrConflict), errors.Is(err, ErrOrderExists):
		return http.StatusConflict, "CONFLICT"
	case errors.Is(err, paygate.ErrInvalid), errors.Is(err, store.ErrInvalid), errors.Is(err, errBadRequest), errors.Is(err, pg.ErrInvalidMoney):
		return http.StatusBadRequest, "INVALID_REQUEST"
	case errors.Is(err, paygate.ErrPG) && errors.As(err, &pe):
		switch pe.Kind {
		case pg.KindUnavailable:
			return http.StatusBadGateway, "PG_UNAVAILABLE"
		case pg.KindUnknown:
			return http.StatusGatewayTimeout, "PG_TIMEOUT"
		}
		if pe.Code != "" {
			return http.StatusConflict, pe.Code
		}
		return http.StatusConflict, "PG_REFUSED"
	case errors.Is(err, paygate.ErrPG):
		return http.StatusBadGateway, "PG_ERROR"
	case store.IsRetryable(err):
		// A lock wait timeout, deadlock or lost connection that outlasted
		// paygate's own retries: passing, and the client may ask again.
		return http.StatusServiceUnavailable, codeDatabaseBusy
	}
	return http.StatusInternalServerError, "INTERNAL_ERROR"
}

var (
	errBadRequest = errors.New("malformed request")
	errTooLarge   = errors.New("request body over 1 MiB")
)

func money(n json.Number, currency string) (pg.Money, error) {
	if n == "" {
		return pg.Money{}, fmt.Errorf("%w: amount is required", errBadRequest)
	}
	if currency == "" {
		currency = string(pg.KRW)
	}
	m, err := pg.ParseMoney(n.String(), pg.Currency(currency))
	if err != nil {
		return pg.Money{}, err
	}
	if !m.IsPositive() {
		return pg.Money{}, fmt.Errorf("%w: amount must be positive", errBadRequest)
	}
	return m, nil
}

func (a *App) health(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if err := a.db.SQL().PingContext(ctx); err != nil {
		writeError(w, http.StatusServiceUnavailable, "DB_UNAVAILABLE", "the database does not answer")
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

type checkoutRequest struct {
	OrderID    string      `json:"orderId"`
	Amount     json.Number `json:"amount"`
	Currency   string      `json:"currency"`
	PG         string      `json:"pg"`
	OrderName  string      `json:"orderName"`
	CustomerID string      `json:"customerId"`
	Device     string      `json:"device"`
	Sandbox    *struct {
		OrderFailure string `json:"orderFailure"`
		Times        int    `json:"times"`
	} `json:"sandbox"`
}

func (a *App) createCheckout(w http.ResponseWriter, r *http.Request) {
	var req checkoutRequest
	if err := decode(w, r, &req); err != nil {
		a.fail(w, err)
		return
	}
	amount, err := money(req.Amount, req.Currency)
	if err != nil {
		a.fail(w, err)
		return
	}
	s, ok := a.pgs[req.PG]
	if !ok {
		a.fail(w, fmt.Errorf("%w: pg must be one of %s", errBadRequest, strings.Join(a.names, ", ")))
		return
	}
	device, err := deviceOf(req.Device)
	if err != nil {
		a.fail(w, err)
		return
	}
	failMode, failTimes := "", 0
	if req.Sandbox != nil {
		if !s.sandboxMode {
			a.fail(w, fmt.Errorf("%w: sandbox options need %s in sandbox mode", errBadRequest, req.PG))
			return
		}
		switch req.Sandbox.OrderFailure {
		case "", FailPermanent:
		case FailTransient:
			if req.Sandbox.Times < 1 || req.Sandbox.Times > 1000 {
				a.fail(w, fmt.Errorf("%w: sandbox.times must be 1 to 1000", errBadRequest))
				return
			}
		default:
			a.fail(w, fmt.Errorf("%w: sandbox.orderFailure must be permanent or transient", errBadRequest))
			return
		}
		failMode, failTimes = req.Sandbox.OrderFailure, req.Sandbox.Times
	}
	back := a.cfg.PublicURL + "/return/" + req.PG
	q := "?orderId=" + url.QueryEscape(req.OrderID)
	prep := paygate.PrepareRequest{
		OrderID: req.OrderID, OrderName: req.OrderName, Amount: amount, PG: req.PG, CustomerID: req.CustomerID,
		Device:     device,
		SuccessURL: back + "/success" + q, CancelURL: back + "/cancel" + q, FailURL: back + "/fail" + q,
	}
	// Refuse bad input before the shop writes its order.
	if err := a.pay.CheckPrepare(prep); err != nil {
		a.fail(w, err)
		return
	}
	if err := a.orders.Place(r.Context(), req.OrderID, amount, failMode, failTimes); err != nil {
		a.fail(w, err)
		return
	}
	c, err := a.pay.Prepare(r.Context(), prep)
	if err != nil {
		a.fail(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, map[string]any{
		"orderId": c.OrderID, "amount": json.Number(c.Amount.Amount().String()), "currency": c.Amount.Currency(),
		"pg": c.PG, "device": device, "expiresAt": c.ExpiresAt, "client": c.Client,
	})
}

// deviceOf reads the API's device ("pc" when empty).
func deviceOf(s string) (pg.Device, error) {
	d := pg.Device(s).OrPC()
	if !d.Valid() {
		return "", fmt.Errorf("%w: device must be pc, mobile or app", errBadRequest)
	}
	return d, nil
}

type approveRequest struct {
	PG           string      `json:"pg"`
	OrderID      string      `json:"orderId"`
	Amount       json.Number `json:"amount"`
	Currency     string      `json:"currency"`
	PaymentKey   string      `json:"paymentKey"`
	PGToken      string      `json:"pgToken"`
	AuthToken    string      `json:"authToken"`
	AuthURL      string      `json:"authUrl"`
	NetCancelURL string      `json:"netCancelUrl"`
	IDCName      string      `json:"idcName"`
	ResultCode   string      `json:"resultCode"`
	// INIpay Mobile's auth result, by Inicis's own names.
	PStatus  string            `json:"P_STATUS"`
	PTID     string            `json:"P_TID"`
	PReqURL  string            `json:"P_REQ_URL"`
	PRMesg1  string            `json:"P_RMESG1"`
	Redirect map[string]string `json:"redirect"`
}

// redirect assembles what the PG's redirect carried from the API's named
// fields and the raw redirect.
func (req approveRequest) redirect() map[string]string {
	out := map[string]string{}
	for k, v := range req.Redirect {
		out[k] = v
	}
	named := map[string]string{
		"pg_token": req.PGToken, "authToken": req.AuthToken, "authUrl": req.AuthURL,
		"netCancelUrl": req.NetCancelURL, "idc_name": req.IDCName, "resultCode": req.ResultCode,
		"P_STATUS": req.PStatus, "P_TID": req.PTID, "P_REQ_URL": req.PReqURL, "P_RMESG1": req.PRMesg1,
	}
	for k, v := range named {
		if v != "" {
			out[k] = v
		}
	}
	// An authToken only reaches the shop after a successful
	// authentication: the return page calls approve for "0000" alone.
	if out["authToken"] != "" && out["resultCode"] == "" {
		out["resultCode"] = "0000"
	}
	return out
}

func (a *App) approve(w http.ResponseWriter, r *http.Request) {
	var req approveRequest
	if err := decode(w, r, &req); err != nil {
		a.fail(w, err)
		return
	}
	amount, err := money(req.Amount, req.Currency)
	if err != nil {
		a.fail(w, err)
		return
	}
	res, err := a.pay.Approve(r.Context(), paygate.ApproveRequest{
		PG: req.PG, OrderID: req.OrderID, Amount: amount, PaymentKey: req.PaymentKey, Redirect: req.redirect(),
	})
	if err != nil {
		a.fail(w, err)
		return
	}
	writeApproveResult(w, res)
}

func writeApproveResult(w http.ResponseWriter, res *paygate.ApproveResult) {
	switch res.Status {
	case pg.StatusApproved, pg.StatusWaitingForDeposit:
		body := map[string]any{"success": true, "paymentId": res.PaymentID, "status": res.Status}
		if !res.ApprovedAt.IsZero() {
			body["approvedAt"] = res.ApprovedAt
		}
		writeJSON(w, http.StatusOK, body)
	case pg.StatusFailed:
		writeJSON(w, http.StatusPaymentRequired, apiError{PaymentID: res.PaymentID, Status: res.Status,
			Error: errBody{Code: orDefault(res.FailureCode, "DECLINED"), Message: orDefault(res.FailureMessage, "the PG declined the payment")}})
	default:
		writeJSON(w, http.StatusAccepted, map[string]any{"success": false, "paymentId": res.PaymentID, "status": pg.StatusUnknown})
	}
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}

// paymentJSON is a payment as the API shows it. A buyer (GET
// /payments/{id}) sees what the checkout page needs: amounts, status,
// refunds and the event timeline, never the PG's payment key, secrets or
// the PG's error texts. An operator's cancel answer adds each cancel's id.
type paymentJSON struct {
	PaymentID      string       `json:"paymentId"`
	OrderID        string       `json:"orderId"`
	PG             string       `json:"pg"`
	Amount         json.Number  `json:"amount"`
	Currency       pg.Currency  `json:"currency"`
	Status         pg.Status    `json:"status"`
	ApprovedAt     *time.Time   `json:"approvedAt"`
	CanceledAmount json.Number  `json:"canceledAmount"`
	BalanceAmount  json.Number  `json:"balanceAmount"`
	FailureCode    string       `json:"failureCode,omitempty"`
	Cancels        []cancelJSON `json:"cancels,omitempty"`
	Events         []eventJSON  `json:"events"`
}

type cancelJSON struct {
	CancelID string      `json:"cancelId,omitempty"`
	Amount   json.Number `json:"amount"`
	Reason   string      `json:"reason,omitempty"`
	Status   string      `json:"status"`
}

type eventJSON struct {
	EventType  string    `json:"eventType"`
	OccurredAt time.Time `json:"occurredAt"`
}

// toPaymentJSON is the buyer's view of a payment, or with operator the
// operator's.
func toPaymentJSON(v *paygate.PaymentView, operator bool) paymentJSON {
	out := paymentJSON{
		PaymentID: v.PaymentID, OrderID: v.OrderID, PG: v.PG,
		Amount: json.Number(v.Amount.Amount().String()), Currency: v.Amount.Currency(), Status: v.Status,
		CanceledAmount: json.Number(v.CanceledAmount.Amount().String()),
		BalanceAmount:  json.Number(v.Balance.Amount().String()),
		FailureCode:    v.FailureCode, Events: []eventJSON{},
	}
	if !v.ApprovedAt.IsZero() {
		t := v.ApprovedAt
		out.ApprovedAt = &t
	}
	for _, c := range v.Cancels {
		cj := cancelJSON{Amount: json.Number(c.Amount.Amount().String()), Reason: c.Reason, Status: c.Status}
		if operator {
			cj.CancelID = c.CancelID
		}
		out.Cancels = append(out.Cancels, cj)
	}
	for _, e := range v.Events {
		out.Events = append(out.Events, eventJSON{EventType: e.Type, OccurredAt: e.OccurredAt})
	}
	return out
}

// maxIDLen is the longest payment or order id there is (store columns of 64).
const maxIDLen = 64

func (a *App) getPayment(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("paymentId")
	if len(id) > maxIDLen {
		writeError(w, http.StatusNotFound, "NOT_FOUND", "no such payment")
		return
	}
	v, err := a.pay.Payment(r.Context(), id)
	if err != nil {
		a.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, toPaymentJSON(v, false))
}

type cancelRequest struct {
	Amount   json.Number `json:"amount"`
	Currency string      `json:"currency"`
	Reason   string      `json:"reason"`
}

func (a *App) cancel(w http.ResponseWriter, r *http.Request) {
	var req cancelRequest
	if err := decode(w, r, &req); err != nil {
		a.fail(w, err)
		return
	}
	var amount pg.Money
	if req.Amount != "" {
		var err error
		if amount, err = money(req.Amount, req.Currency); err != nil {
			a.fail(w, err)
			return
		}
	}
	key := ""
	if h := idempotency.FromContext(r.Context()); h != nil {
		key = h.Key()
	}
	v, err := a.pay.Cancel(r.Context(), paygate.CancelRequest{
		PaymentID: r.PathValue("paymentId"), Amount: amount, Reason: req.Reason, IdempotencyKey: key,
	})
	if err != nil {
		a.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, toPaymentJSON(v, true))
}

func (a *App) getOrder(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("orderId")
	if len(id) > maxIDLen {
		writeError(w, http.StatusNotFound, "NOT_FOUND", "no such order")
		return
	}
	o, err := a.orders.Get(r.Context(), id)
	if err != nil {
		a.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, o)
}

type sandboxPayRequest struct {
	OrderID  string      `json:"orderId"`
	Amount   json.Number `json:"amount"`
	Currency string      `json:"currency"`
	Fault    string      `json:"fault"`
	Device   string      `json:"device"`
}

func (a *App) sandboxPay(name string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) { a.playBuyer(w, r, a.pgs[name]) }
}

func (a *App) playBuyer(w http.ResponseWriter, r *http.Request, s gatewaySetup) {
	var req sandboxPayRequest
	if err := decode(w, r, &req); err != nil {
		a.fail(w, err)
		return
	}
	amount, err := money(req.Amount, req.Currency)
	if err != nil {
		a.fail(w, err)
		return
	}
	fault := pgtest.Fault(req.Fault)
	if !fault.Valid() {
		a.fail(w, fmt.Errorf("%w: fault must be one of decline, timeout, timeout-unapproved, error500", errBadRequest))
		return
	}
	device, err := deviceOf(req.Device)
	if err != nil {
		a.fail(w, err)
		return
	}
	out, err := sandboxPay(r.Context(), s.sandbox, pgtest.PayRequest{OrderID: req.OrderID, Amount: amount, Fault: fault, Device: device})
	if err != nil {
		writeError(w, http.StatusBadRequest, "SANDBOX_PAY_FAILED", clipText(err.Error(), maxMessage))
		return
	}
	writeJSON(w, http.StatusOK, out)
}

// startShipment moves a paid order on once paygate recorded its creation.
func (a *App) startShipment(ctx context.Context, tx *sql.Tx, d outbox.Delivery) error {
	ev, err := paygate.ParseEvent(d.Payload)
	if err != nil {
		return outbox.Permanent(err)
	}
	return a.orders.StartShipment(ctx, tx, ev.OrderID, ev.PaymentID)
}
