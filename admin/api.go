package admin

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/shopspring/decimal"

	"github.com/paygate/paygate"
	"github.com/paygate/paygate/idempotency"
	"github.com/paygate/paygate/pg"
)

// Seoul is the time zone of the console's dates and times.
var Seoul = func() *time.Location {
	loc, err := time.LoadLocation("Asia/Seoul")
	if err != nil {
		return time.FixedZone("KST", 9*60*60) // Korea keeps no daylight saving time
	}
	return loc
}()

const dateLayout = "2006-01-02"

func contextWith(r *http.Request, op Operator) context.Context {
	return context.WithValue(r.Context(), operatorKey{}, op)
}

// apiError is the JSON error shape, the example server's.
type apiError struct {
	Success bool    `json:"success"`
	Error   errBody `json:"error"`
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
	writeJSON(w, status, apiError{Error: errBody{Code: code, Message: clip(message, 300)}})
}

func clip(s string, n int) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n]) + "…"
}

// badRequest is an input error: 400 INVALID_REQUEST with its message.
type badRequest struct{ msg string }

func (e badRequest) Error() string { return e.msg }

func invalid(format string, args ...any) error { return badRequest{fmt.Sprintf(format, args...)} }

// fail answers err with the status and code an operator can act on.
func (h *Handler) fail(w http.ResponseWriter, err error) {
	status, code, msg := h.classify(err)
	if status >= 500 {
		h.log.Error("admin: request failed", "err", err)
	}
	writeError(w, status, code, msg)
}

func (h *Handler) classify(err error) (int, string, string) {
	var br badRequest
	var pe *pg.Error
	switch {
	case errors.As(err, &br):
		return http.StatusBadRequest, "INVALID_REQUEST", br.msg
	case errors.Is(err, paygate.ErrNotFound), errors.Is(err, ErrNotFound):
		return http.StatusNotFound, "NOT_FOUND", "no such payment or item"
	case errors.Is(err, paygate.ErrInProgress):
		return http.StatusConflict, "IN_PROGRESS", err.Error()
	case errors.Is(err, paygate.ErrConflict):
		return http.StatusConflict, "CONFLICT", err.Error()
	case errors.Is(err, paygate.ErrInvalid), errors.Is(err, pg.ErrInvalidMoney):
		return http.StatusBadRequest, "INVALID_REQUEST", err.Error()
	case errors.Is(err, paygate.ErrPG) && errors.As(err, &pe):
		msg := "the PG refused: " + pe.Code
		if pe.Message != "" {
			msg += " — " + pe.Message
		}
		switch pe.Kind {
		case pg.KindUnavailable:
			return http.StatusBadGateway, "PG_UNAVAILABLE", "the PG is unavailable; nothing was refunded, try again later"
		case pg.KindUnknown:
			return http.StatusGatewayTimeout, "PG_TIMEOUT", "the PG did not answer in time; the refund's outcome is being looked up"
		}
		return http.StatusBadGateway, "PG_REFUSED", msg
	case errors.Is(err, paygate.ErrPG):
		return http.StatusBadGateway, "PG_ERROR", "the PG failed; try again later"
	}
	return http.StatusInternalServerError, "INTERNAL_ERROR", "the request failed; try again later"
}

func amountJSON(m pg.Money) json.Number {
	if !m.IsSet() {
		return "0"
	}
	return json.Number(m.Amount().String())
}

func timeJSON(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	t = t.UTC()
	return &t
}

// paymentItem is a payment in the search's list.
type paymentItem struct {
	PaymentID      string      `json:"paymentId"`
	OrderID        string      `json:"orderId"`
	OrderName      string      `json:"orderName"`
	PG             string      `json:"pg"`
	Method         string      `json:"method"`
	Status         pg.Status   `json:"status"`
	Currency       pg.Currency `json:"currency"`
	Amount         json.Number `json:"amount"`
	ApprovedAmount json.Number `json:"approvedAmount"`
	CanceledAmount json.Number `json:"canceledAmount"`
	FailureCode    string      `json:"failureCode,omitempty"`
	CreatedAt      time.Time   `json:"createdAt"`
	ApprovedAt     *time.Time  `json:"approvedAt,omitempty"`
}

func toItem(p Payment) paymentItem {
	return paymentItem{
		PaymentID: p.ID, OrderID: p.OrderID, OrderName: p.OrderName, PG: p.PG, Method: p.Method, Status: p.Status,
		Currency: p.Amount.Currency(), Amount: amountJSON(p.Amount), ApprovedAmount: amountJSON(p.ApprovedAmount),
		CanceledAmount: amountJSON(p.CanceledAmount), FailureCode: p.FailureCode, CreatedAt: p.CreatedAt.UTC(),
		ApprovedAt: timeJSON(p.ApprovedAt),
	}
}

// searchResult is a page of the search.
type searchResult struct {
	Items      []paymentItem `json:"items"`
	NextCursor string        `json:"nextCursor,omitempty"`
	filter     PaymentFilter
	payments   []Payment
}

// DefaultLimit is the search's page size when none is asked for.
const DefaultLimit = 50

// parseDay reads a YYYY-MM-DD date as the start of that day in Seoul.
func parseDay(name, v string) (time.Time, error) {
	d, err := time.ParseInLocation(dateLayout, v, Seoul)
	if err != nil {
		return time.Time{}, invalid("%s must be a date YYYY-MM-DD", name)
	}
	return d, nil
}

// parseFilter reads the search's query parameters.
func parseFilter(q url.Values) (PaymentFilter, error) {
	f := PaymentFilter{Limit: DefaultLimit}
	for name, vs := range q {
		if len(vs) > 1 {
			return f, invalid("%s is given more than once", name)
		}
		switch name {
		case "from", "to", "status", "pg", "method", "orderId", "paymentId", "minAmount", "maxAmount", "currency", "q", "limit", "cursor", "lang":
		default:
			return f, invalid("unknown parameter %q", clip(name, 40))
		}
	}
	var err error
	if v := q.Get("from"); v != "" {
		if f.From, err = parseDay("from", v); err != nil {
			return f, err
		}
	}
	if v := q.Get("to"); v != "" {
		var to time.Time
		if to, err = parseDay("to", v); err != nil {
			return f, err
		}
		f.To = to.AddDate(0, 0, 1)
	}
	if !f.From.IsZero() && !f.To.IsZero() && !f.From.Before(f.To) {
		return f, invalid("from must not be after to")
	}
	if v := q.Get("status"); v != "" {
		if !pg.Status(v).Valid() {
			return f, invalid("status %q is not a payment status", clip(v, 40))
		}
		f.Status = v
	}
	for _, p := range []struct {
		name string
		dst  *string
		max  int
	}{{"pg", &f.PG, 32}, {"method", &f.Method, 64}, {"orderId", &f.OrderID, 64}, {"paymentId", &f.PaymentID, 64}, {"q", &f.Text, 100}} {
		v := q.Get(p.name)
		if !utf8.ValidString(v) || utf8.RuneCountInString(v) > p.max {
			return f, invalid("%s must be valid text of at most %d characters", p.name, p.max)
		}
		*p.dst = strings.TrimSpace(v)
	}
	cur := pg.Currency(q.Get("currency"))
	if cur == "" {
		cur = pg.KRW
	}
	if !cur.Valid() {
		return f, invalid("currency %q is unknown", clip(string(cur), 8))
	}
	for _, a := range []struct {
		name string
		dst  *pg.Money
	}{{"minAmount", &f.MinAmount}, {"maxAmount", &f.MaxAmount}} {
		v := q.Get(a.name)
		if v == "" {
			continue
		}
		m, err := pg.ParseMoney(v, cur)
		if err != nil || m.Amount().IsNegative() {
			return f, invalid("%s must be an amount in %s", a.name, cur)
		}
		*a.dst = m
	}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > MaxLimit {
			return f, invalid("limit must be 1 to %d", MaxLimit)
		}
		f.Limit = n
	}
	if v := q.Get("cursor"); v != "" {
		c, err := decodeCursor(v)
		if err != nil {
			return f, invalid("cursor is not one this console gave")
		}
		f.After = &c
	}
	return f, nil
}

// The cursor is opaque to clients: base64url of "<unix micros>:<id>".
func encodeCursor(p Payment) string {
	return base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatInt(p.CreatedAt.UnixMicro(), 10) + ":" + p.ID))
}

func decodeCursor(s string) (Cursor, error) {
	if len(s) > 200 {
		return Cursor{}, errors.New("too long")
	}
	raw, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return Cursor{}, err
	}
	micros, id, ok := strings.Cut(string(raw), ":")
	n, err := strconv.ParseInt(micros, 10, 64)
	if !ok || err != nil || id == "" || !utf8.ValidString(id) {
		return Cursor{}, errors.New("malformed")
	}
	return Cursor{CreatedAt: time.UnixMicro(n).UTC(), ID: id}, nil
}

// search runs the filter and cuts the page, asking for one more row to
// know whether there is a next page.
func (h *Handler) search(ctx context.Context, f PaymentFilter) (searchResult, error) {
	want := f.Limit
	f.Limit = want + 1
	ps, err := h.store.SearchPayments(ctx, f)
	if err != nil {
		return searchResult{}, err
	}
	f.Limit = want
	res := searchResult{Items: []paymentItem{}, filter: f}
	more := len(ps) > want
	if more {
		ps = ps[:want]
	}
	for _, p := range ps {
		res.Items = append(res.Items, toItem(p))
	}
	res.payments = ps
	if more && len(ps) > 0 {
		res.NextCursor = encodeCursor(ps[len(ps)-1])
	}
	return res, nil
}

func (h *Handler) listPayments(w http.ResponseWriter, r *http.Request, _ Operator) {
	f, err := parseFilter(r.URL.Query())
	if err != nil {
		h.fail(w, err)
		return
	}
	res, err := h.search(r.Context(), f)
	if err != nil {
		h.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, res)
}

// Detail is a payment's whole story, as GET /api/payments/{id} answers it.
type detailJSON struct {
	paymentItem
	PaymentKey      string       `json:"paymentKey,omitempty"`
	FailureMessage  string       `json:"failureMessage,omitempty"`
	BalanceAmount   json.Number  `json:"balanceAmount"`
	Cancels         []cancelJSON `json:"cancels"`
	Events          []eventJSON  `json:"events"`
	Sagas           []sagaJSON   `json:"sagas"`
	Ledger          []ledgerJSON `json:"ledger"`
	Webhooks        []hookJSON   `json:"webhooks"`
	OperatorActions []actionJSON `json:"operatorActions"`
}

type cancelJSON struct {
	CancelID  string      `json:"cancelId"`
	Amount    json.Number `json:"amount"`
	Reason    string      `json:"reason"`
	Status    string      `json:"status"`
	CreatedAt time.Time   `json:"createdAt"`
}

type eventJSON struct {
	EventID    string          `json:"eventId"`
	EventType  string          `json:"eventType"`
	OccurredAt time.Time       `json:"occurredAt"`
	Amount     json.Number     `json:"amount,omitempty"`
	Status     string          `json:"status,omitempty"`
	Reason     string          `json:"reason,omitempty"`
	Data       json.RawMessage `json:"data,omitempty"`
}

type sagaJSON struct {
	ID          string     `json:"id"`
	Definition  string     `json:"definition"`
	BusinessKey string     `json:"businessKey"`
	State       string     `json:"state"`
	Reason      string     `json:"reason,omitempty"`
	CreatedAt   time.Time  `json:"createdAt"`
	UpdatedAt   time.Time  `json:"updatedAt"`
	Steps       []stepJSON `json:"steps"`
}

type stepJSON struct {
	Step      string    `json:"step"`
	Op        string    `json:"op"`
	Status    string    `json:"status"`
	Attempts  int       `json:"attempts"`
	LastError string    `json:"lastError,omitempty"`
	UpdatedAt time.Time `json:"updatedAt"`
}

type ledgerJSON struct {
	ID           string      `json:"id"`
	Type         string      `json:"type"`
	BusinessDate string      `json:"businessDate"`
	PayoutDate   string      `json:"payoutDate"`
	Gross        json.Number `json:"gross"`
	Fee          json.Number `json:"fee"`
	VAT          json.Number `json:"vat"`
	Net          json.Number `json:"net"`
}

type hookJSON struct {
	ID          string    `json:"id"`
	PG          string    `json:"pg"`
	EventType   string    `json:"eventType"`
	Status      string    `json:"status,omitempty"`
	RemoteAddr  string    `json:"remoteAddr,omitempty"`
	ReceivedAt  time.Time `json:"receivedAt"`
	ReplayCount int       `json:"replayCount"`
	Body        string    `json:"body"`
}

type actionJSON struct {
	EventID  string      `json:"eventId"`
	At       time.Time   `json:"at"`
	Operator string      `json:"operator"`
	Action   string      `json:"action"`
	Kind     string      `json:"kind,omitempty"`
	ID       string      `json:"id,omitempty"`
	CancelID string      `json:"cancelId,omitempty"`
	Amount   json.Number `json:"amount,omitempty"`
	Reason   string      `json:"reason,omitempty"`
}

// maxIDLen is the longest payment id there is.
const maxIDLen = 64

// detail gathers a payment's story.
func (h *Handler) detail(ctx context.Context, id string) (*detailJSON, error) {
	if id == "" || len(id) > maxIDLen {
		return nil, fmt.Errorf("%w: payment", ErrNotFound)
	}
	row, err := h.store.Payment(ctx, id)
	if err != nil {
		return nil, err
	}
	v, err := h.pay.Payment(ctx, id)
	if err != nil {
		return nil, err
	}
	row.Status, row.ApprovedAmount, row.CanceledAmount = v.Status, v.ApprovedAmount, v.CanceledAmount
	d := &detailJSON{
		paymentItem: toItem(row), PaymentKey: v.PaymentKey, FailureMessage: v.FailureMessage,
		BalanceAmount: amountJSON(v.Balance), Cancels: []cancelJSON{}, Events: []eventJSON{}, Sagas: []sagaJSON{},
		Ledger: []ledgerJSON{}, Webhooks: []hookJSON{}, OperatorActions: []actionJSON{},
	}
	var cancelIDs []string
	for _, c := range v.Cancels {
		d.Cancels = append(d.Cancels, cancelJSON{CancelID: c.CancelID, Amount: amountJSON(c.Amount), Reason: c.Reason, Status: c.Status, CreatedAt: c.CreatedAt.UTC()})
		cancelIDs = append(cancelIDs, c.CancelID)
	}
	events, err := h.store.Events(ctx, id)
	if err != nil {
		return nil, err
	}
	for _, e := range events {
		ej := eventJSON{EventID: e.ID, EventType: e.Type, OccurredAt: e.OccurredAt.UTC()}
		if ev, err := paygate.ParseEvent(e.Payload); err == nil {
			ej.Amount, ej.Status, ej.Reason, ej.Data = ev.Amount, ev.Status, ev.Reason, ev.Data
			if e.Type == paygate.EventOperatorAction {
				var a paygate.OperatorAction
				_ = json.Unmarshal(ev.Data, &a)
				d.OperatorActions = append(d.OperatorActions, actionJSON{EventID: e.ID, At: ej.OccurredAt, Operator: a.Operator,
					Action: a.Action, Kind: a.Kind, ID: a.ID, CancelID: a.CancelID, Amount: ev.Amount, Reason: ev.Reason})
			}
		}
		d.Events = append(d.Events, ej)
	}
	sagas, err := h.store.Sagas(ctx, id, cancelIDs)
	if err != nil {
		return nil, err
	}
	for _, g := range sagas {
		sj := sagaJSON{ID: g.ID, Definition: g.Definition, BusinessKey: g.BusinessKey, State: g.State, Reason: g.Reason,
			CreatedAt: g.CreatedAt, UpdatedAt: g.UpdatedAt, Steps: []stepJSON{}}
		for _, s := range g.Steps {
			sj.Steps = append(sj.Steps, stepJSON{Step: s.Step, Op: s.Op, Status: s.Status, Attempts: s.Attempts, LastError: s.LastError, UpdatedAt: s.UpdatedAt})
		}
		d.Sagas = append(d.Sagas, sj)
	}
	ledger, err := h.store.Ledger(ctx, id)
	if err != nil {
		return nil, err
	}
	for _, e := range ledger {
		d.Ledger = append(d.Ledger, ledgerJSON{ID: e.ID, Type: e.Type, BusinessDate: e.BusinessDate, PayoutDate: e.PayoutDate,
			Gross: amountJSON(e.Gross), Fee: amountJSON(e.Fee), VAT: amountJSON(e.VAT), Net: amountJSON(e.Net)})
	}
	hooks, err := h.store.Webhooks(ctx, v.PG, v.PaymentKey, v.OrderID)
	if err != nil {
		return nil, err
	}
	for _, wh := range hooks {
		d.Webhooks = append(d.Webhooks, hookJSON{ID: wh.ID, PG: wh.PG, EventType: wh.EventType, Status: wh.Status,
			RemoteAddr: wh.RemoteAddr, ReceivedAt: wh.ReceivedAt, ReplayCount: wh.ReplayCount, Body: wh.Body})
	}
	return d, nil
}

func (h *Handler) getPayment(w http.ResponseWriter, r *http.Request, _ Operator) {
	d, err := h.detail(r.Context(), r.PathValue("id"))
	if err != nil {
		h.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, d)
}

// maxBody caps a JSON request body.
const maxBody = 64 << 10

// decode reads a JSON object body strictly: Content-Type application/json,
// known fields only, one value.
func decode(w http.ResponseWriter, r *http.Request, v any) (int, string, error) {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/json" {
		return http.StatusUnsupportedMediaType, "UNSUPPORTED_MEDIA_TYPE", errors.New("send the body as Content-Type: application/json")
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		return http.StatusRequestEntityTooLarge, "REQUEST_TOO_LARGE", fmt.Errorf("the body is over %d bytes", maxBody)
	}
	if !utf8.Valid(body) {
		return http.StatusBadRequest, "INVALID_REQUEST", errors.New("the body is not valid UTF-8")
	}
	dec := json.NewDecoder(strings.NewReader(string(body)))
	dec.DisallowUnknownFields()
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		return http.StatusBadRequest, "INVALID_REQUEST", errors.New("the body must be one JSON object with the documented fields")
	}
	if _, err := dec.Token(); err != io.EOF {
		return http.StatusBadRequest, "INVALID_REQUEST", errors.New("the body has data after its JSON object")
	}
	return 0, "", nil
}

type refundRequest struct {
	Amount json.RawMessage `json:"amount"`
	Reason string          `json:"reason"`
}

// refund is an operator's manual refund through Cancel, recorded with the
// operator; the Idempotency-Key middleware in front makes a double click
// one refund. The payment's state is checked first only to answer in an
// operator's words (over-refund, nothing to refund); Cancel decides.
func (h *Handler) refund(w http.ResponseWriter, r *http.Request, op Operator) {
	var req refundRequest
	if status, code, err := decode(w, r, &req); err != nil {
		writeError(w, status, code, err.Error())
		return
	}
	id := r.PathValue("id")
	if len(id) > maxIDLen {
		h.fail(w, fmt.Errorf("%w: payment", ErrNotFound))
		return
	}
	req.Reason = strings.TrimSpace(req.Reason)
	if req.Reason == "" || utf8.RuneCountInString(req.Reason) > 200 {
		writeError(w, http.StatusBadRequest, "REASON_REQUIRED", "a refund needs a reason of 1 to 200 characters")
		return
	}
	v, err := h.pay.Payment(r.Context(), id)
	if err != nil {
		h.fail(w, err)
		return
	}
	var amount pg.Money
	if len(req.Amount) > 0 && string(req.Amount) != "null" {
		// A JSON number, not a string holding one.
		raw := string(req.Amount)
		if raw[0] != '-' && (raw[0] < '0' || raw[0] > '9') {
			writeError(w, http.StatusBadRequest, "INVALID_REQUEST", "amount must be a JSON number")
			return
		}
		amount, err = pg.ParseMoney(raw, v.Amount.Currency())
		if err != nil || !amount.IsPositive() {
			writeError(w, http.StatusBadRequest, "INVALID_AMOUNT", fmt.Sprintf("the amount must be a positive amount in %s without fractions it does not have", v.Amount.Currency()))
			return
		}
	}
	switch v.Status {
	case pg.StatusApproved, pg.StatusPartialCanceled:
		if amount.IsSet() {
			if c, err := amount.Cmp(v.Balance); err == nil && c > 0 {
				writeError(w, http.StatusConflict, "OVER_REFUND", fmt.Sprintf("a refund of %s is more than the %s left to refund", amount, v.Balance))
				return
			}
		}
	case pg.StatusApproving, pg.StatusUnknown:
		writeError(w, http.StatusConflict, "IN_PROGRESS", "the payment's approval is still being resolved; refund once it is known")
		return
	default:
		writeError(w, http.StatusConflict, "NOT_REFUNDABLE", fmt.Sprintf("the payment is %s: nothing to refund", v.Status))
		return
	}
	key := ""
	if hd := idempotency.FromContext(r.Context()); hd != nil {
		key = hd.Key()
	}
	_, err = h.pay.Cancel(r.Context(), paygate.CancelRequest{PaymentID: id, Amount: amount, Reason: req.Reason, IdempotencyKey: key, Operator: op.ID})
	if err != nil {
		h.fail(w, err)
		return
	}
	h.log.Info("admin: refund by an operator", "payment", id, "operator", op.ID, "amount", amount)
	d, err := h.detail(r.Context(), id)
	if err != nil {
		h.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, d)
}

type attentionJSON struct {
	Kind      string    `json:"kind"`
	ID        string    `json:"id"`
	PaymentID string    `json:"paymentId,omitempty"`
	State     string    `json:"state"`
	Reason    string    `json:"reason,omitempty"`
	Since     time.Time `json:"since"`
	Attempts  int       `json:"attempts"`
}

// maxAttention is how many items the queue lists per kind.
const maxAttention = 500

func (h *Handler) attention(ctx context.Context, older time.Duration) ([]attentionJSON, error) {
	list, err := h.pay.Unresolved(ctx, older, maxAttention)
	if err != nil {
		return nil, err
	}
	items := make([]attentionJSON, 0, len(list))
	for _, it := range list {
		items = append(items, attentionJSON{Kind: it.Kind, ID: it.ID, PaymentID: it.PaymentID, State: it.State,
			Reason: it.Reason, Since: it.Since.UTC(), Attempts: it.Attempts})
	}
	return items, nil
}

func (h *Handler) listAttention(w http.ResponseWriter, r *http.Request, _ Operator) {
	var older time.Duration
	if v := r.URL.Query().Get("olderThan"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 {
			h.fail(w, invalid("olderThan must be a duration such as 30s or 1h"))
			return
		}
		older = d
	}
	items, err := h.attention(r.Context(), older)
	if err != nil {
		h.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": items})
}

type actionResult struct {
	Success bool   `json:"success"`
	Kind    string `json:"kind"`
	ID      string `json:"id"`
	Action  string `json:"action"`
}

// attentionTarget checks the item's kind: only sagas are acted on by hand.
func attentionTarget(w http.ResponseWriter, r *http.Request, action string) (kind, id string, ok bool) {
	kind, id = r.PathValue("kind"), r.PathValue("id")
	if kind != paygate.AttentionSaga {
		writeError(w, http.StatusBadRequest, "NOT_ACTIONABLE",
			fmt.Sprintf("only saga items can be %s by hand; payments and cancels with unknown outcomes are looked up at the PG until known", action))
		return "", "", false
	}
	if id == "" || len(id) > maxIDLen {
		writeError(w, http.StatusNotFound, "NOT_FOUND", "no such item")
		return "", "", false
	}
	return kind, id, true
}

func (h *Handler) retry(w http.ResponseWriter, r *http.Request, op Operator) {
	kind, id, ok := attentionTarget(w, r, "retried")
	if !ok {
		return
	}
	if err := h.pay.RetryAttention(r.Context(), kind, id, paygate.ByOperator(op.ID)); err != nil {
		h.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, actionResult{Success: true, Kind: kind, ID: id, Action: paygate.ActionRetry})
}

type resolveRequest struct {
	Note string `json:"note"`
}

func (h *Handler) resolve(w http.ResponseWriter, r *http.Request, op Operator) {
	kind, id, ok := attentionTarget(w, r, "resolved")
	if !ok {
		return
	}
	var req resolveRequest
	if status, code, err := decode(w, r, &req); err != nil {
		writeError(w, status, code, err.Error())
		return
	}
	req.Note = strings.TrimSpace(req.Note)
	if req.Note == "" || utf8.RuneCountInString(req.Note) > 300 {
		writeError(w, http.StatusBadRequest, "NOTE_REQUIRED", "resolving needs a note of 1 to 300 characters saying what was done")
		return
	}
	if err := h.pay.ResolveAttention(r.Context(), kind, id, req.Note, paygate.ByOperator(op.ID)); err != nil {
		h.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, actionResult{Success: true, Kind: kind, ID: id, Action: paygate.ActionResolve})
}

// statsJSON is the dashboard's answer.
type statsJSON struct {
	From           string      `json:"from"`
	To             string      `json:"to"`
	Currency       pg.Currency `json:"currency"`
	Count          int64       `json:"count"`
	Captured       int64       `json:"captured"`
	ApprovedAmount json.Number `json:"approvedAmount"`
	RefundedAmount json.Number `json:"refundedAmount"`
	ApprovalRate   float64     `json:"approvalRate"`
	RefundRate     float64     `json:"refundRate"`
	OpenUnknown    int64       `json:"openUnknown"`
	ByPG           []groupJSON `json:"byPG"`
	ByDay          []groupJSON `json:"byDay"`
	stats          Stats
}

type groupJSON struct {
	PG             string      `json:"pg,omitempty"`
	Date           string      `json:"date,omitempty"`
	Count          int64       `json:"count"`
	Captured       int64       `json:"captured"`
	ApprovedAmount json.Number `json:"approvedAmount"`
	RefundedAmount json.Number `json:"refundedAmount"`
	ApprovalRate   float64     `json:"approvalRate"`
}

// rate is part/whole, computed exactly and rounded to four places for the
// JSON number; 0 for an empty whole.
func rate(part, whole decimal.Decimal) float64 {
	if !whole.IsPositive() {
		return 0
	}
	return part.DivRound(whole, 4).InexactFloat64()
}

func count(n int64) decimal.Decimal { return decimal.NewFromInt(n) }

// maxStatsDays bounds the dashboard's range.
const maxStatsDays = 366

// statsRange reads from and to (YYYY-MM-DD, Seoul, inclusive); default the
// last 30 days.
func (h *Handler) statsRange(q url.Values) (from, to time.Time, err error) {
	today := h.now().In(Seoul)
	to = time.Date(today.Year(), today.Month(), today.Day(), 0, 0, 0, 0, Seoul)
	from = to.AddDate(0, 0, -29)
	if v := q.Get("from"); v != "" {
		if from, err = parseDay("from", v); err != nil {
			return
		}
	}
	if v := q.Get("to"); v != "" {
		if to, err = parseDay("to", v); err != nil {
			return
		}
	}
	if to.Before(from) {
		return from, to, invalid("from must not be after to")
	}
	if to.Sub(from) > maxStatsDays*24*time.Hour {
		return from, to, invalid("the range is at most %d days", maxStatsDays)
	}
	return from, to, nil
}

func (h *Handler) statsFor(ctx context.Context, from, to time.Time) (statsJSON, error) {
	st, err := h.store.Stats(ctx, StatsFilter{From: from, To: to.AddDate(0, 0, 1), Currency: pg.KRW})
	if err != nil {
		return statsJSON{}, err
	}
	out := statsJSON{
		From: from.Format(dateLayout), To: to.Format(dateLayout), Currency: pg.KRW,
		Count: st.Count, Captured: st.Captured, ApprovedAmount: amountJSON(st.ApprovedAmount), RefundedAmount: amountJSON(st.RefundedAmount),
		ApprovalRate: rate(count(st.Captured), count(st.Count)), RefundRate: rate(st.RefundedAmount.Amount(), st.ApprovedAmount.Amount()),
		OpenUnknown: st.OpenUnknown, ByPG: []groupJSON{}, ByDay: []groupJSON{}, stats: st,
	}
	group := func(g GroupStats) groupJSON {
		return groupJSON{Count: g.Count, Captured: g.Captured, ApprovedAmount: amountJSON(g.ApprovedAmount),
			RefundedAmount: amountJSON(g.RefundedAmount), ApprovalRate: rate(count(g.Captured), count(g.Count))}
	}
	for _, g := range st.ByPG {
		gj := group(g)
		gj.PG = g.Key
		out.ByPG = append(out.ByPG, gj)
	}
	for _, g := range st.ByDay {
		gj := group(g)
		gj.Date = g.Key
		out.ByDay = append(out.ByDay, gj)
	}
	return out, nil
}

func (h *Handler) stats(w http.ResponseWriter, r *http.Request, _ Operator) {
	from, to, err := h.statsRange(r.URL.Query())
	if err != nil {
		h.fail(w, err)
		return
	}
	out, err := h.statsFor(r.Context(), from, to)
	if err != nil {
		h.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, out)
}
