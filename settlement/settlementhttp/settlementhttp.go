// Package settlementhttp serves settlement to the finance team over HTTP:
// the daily and monthly reports as JSON, CSV and XLSX downloads, and
// reconciliation runs against the PGs' own records. It is an http.Handler
// with no authentication of its own: the operators' console mounts it
// behind its operator auth.
//
//	h, _ := settlementhttp.New(settlementhttp.Config{Ledger: p.Ledger(), Reconciler: p.Reconciler()})
//	mux.Handle("/admin/api/settlements/", requireOperator(h))
//	mux.Handle("/admin/api/reconciliation", requireOperator(h))
//
// Routes, under Config.Prefix (default /admin/api):
//
//	GET  /settlements/daily?from=YYYY-MM-DD&to=YYYY-MM-DD&pg&method&currency
//	GET  /settlements/monthly?from=YYYY-MM&to=YYYY-MM&pg&method&currency
//	GET  /settlements/daily.csv, daily.xlsx, monthly.csv, monthly.xlsx (same query, lang=ko|en)
//	POST /reconciliation {pg, from, to}
//	GET  /reconciliation?pg&limit
//
// Money fields are JSON numbers in the currency's unit, dates YYYY-MM-DD in
// Asia/Seoul, times RFC 3339. Errors are {success:false, error:{code,
// message}}: 400 for bad input (a malformed date, a daily range over 366
// days, an unknown PG), 404, 405, 413, 415, 502/504 when a PG's records
// cannot be fetched, 500 otherwise.
package settlementhttp

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/paygate/paygate/pg"
	"github.com/paygate/paygate/settlement"
)

// Config configures the handler. Ledger and Reconciler are required.
type Config struct {
	Ledger     *settlement.Ledger
	Reconciler *settlement.Reconciler
	// PGs are the PG names a query may name; default the reconciler's
	// gateways.
	PGs []string
	// Prefix is the path the routes are under; default "/admin/api".
	Prefix string
	// Logger defaults to slog.Default().
	Logger *slog.Logger
}

// Handler is the settlement HTTP API.
type Handler struct {
	cfg Config
	mux *http.ServeMux
}

// maxBody bounds a request body.
const maxBody = 16 << 10

// New checks cfg and returns the handler.
func New(cfg Config) (*Handler, error) {
	if cfg.Ledger == nil || cfg.Reconciler == nil {
		return nil, errors.New("settlementhttp: Config.Ledger and Config.Reconciler are required")
	}
	if cfg.PGs == nil {
		cfg.PGs = cfg.Reconciler.PGs()
	}
	if cfg.Prefix == "" {
		cfg.Prefix = "/admin/api"
	}
	cfg.Prefix = strings.TrimSuffix(cfg.Prefix, "/")
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	h := &Handler{cfg: cfg, mux: http.NewServeMux()}
	for _, period := range []settlement.Period{settlement.Daily, settlement.Monthly} {
		h.mux.HandleFunc("GET "+cfg.Prefix+"/settlements/"+string(period), h.report(period, ""))
		for _, f := range []settlement.Format{settlement.CSV, settlement.XLSX} {
			h.mux.HandleFunc("GET "+cfg.Prefix+"/settlements/"+string(period)+"."+string(f), h.report(period, f))
		}
	}
	h.mux.HandleFunc("POST "+cfg.Prefix+"/reconciliation", h.reconcile)
	h.mux.HandleFunc("GET "+cfg.Prefix+"/reconciliation", h.runs)
	return h, nil
}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if _, pattern := h.mux.Handler(r); pattern != "" {
		h.mux.ServeHTTP(w, r)
		return
	}
	// The mux's own 404 and 405 answers are text; answer in the API's
	// error shape, keeping the Allow header of a 405.
	rec := &headerOnly{header: http.Header{}}
	h.mux.ServeHTTP(rec, r)
	if allow := rec.header.Get("Allow"); allow != "" {
		w.Header().Set("Allow", allow)
		writeError(w, http.StatusMethodNotAllowed, "METHOD_NOT_ALLOWED", "this method is not allowed here")
		return
	}
	writeError(w, http.StatusNotFound, "NOT_FOUND", "no such endpoint")
}

// headerOnly records the headers and status of the mux's fallback answers.
type headerOnly struct {
	header http.Header
	status int
}

func (h *headerOnly) Header() http.Header         { return h.header }
func (h *headerOnly) Write(b []byte) (int, error) { return len(b), nil }
func (h *headerOnly) WriteHeader(s int)           { h.status = s }

type errorBody struct {
	Success bool      `json:"success"`
	Error   errDetail `json:"error"`
}

type errDetail struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		status, body = http.StatusInternalServerError, []byte(`{"success":false,"error":{"code":"INTERNAL_ERROR","message":"the answer could not be written"}}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

func writeError(w http.ResponseWriter, status int, code, message string) {
	writeJSON(w, status, errorBody{Error: errDetail{Code: code, Message: clip(message)}})
}

// clip keeps an error message short and valid UTF-8.
func clip(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	if len(s) <= 300 {
		return s
	}
	cut := 300
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

// fail answers err: a refused query is 400, a PG that could not be asked
// 502 or 504, anything else 500 (logged, with a generic message).
func (h *Handler) fail(w http.ResponseWriter, r *http.Request, err error) {
	var pe *pg.Error
	switch {
	case errors.Is(err, settlement.ErrInvalidQuery):
		writeError(w, http.StatusBadRequest, "INVALID_REQUEST", err.Error())
	case errors.As(err, &pe) && pe.Kind == pg.KindUnknown:
		writeError(w, http.StatusGatewayTimeout, "PG_TIMEOUT", "the PG did not answer in time; try again")
	case errors.As(err, &pe):
		writeError(w, http.StatusBadGateway, "PG_UNAVAILABLE", "the PG's records could not be fetched: "+pe.Code)
	default:
		h.cfg.Logger.Error("settlementhttp: request failed", "path", r.URL.Path, "err", err)
		writeError(w, http.StatusInternalServerError, "INTERNAL_ERROR", "the request failed; see the server's log")
	}
}

func badRequest(w http.ResponseWriter, format string, args ...any) {
	writeError(w, http.StatusBadRequest, "INVALID_REQUEST", fmt.Sprintf(format, args...))
}

const (
	dateLayout  = "2006-01-02"
	monthLayout = "2006-01"
)

// parseDay reads a YYYY-MM-DD day in Seoul.
func parseDay(name, v string) (time.Time, error) {
	t, err := time.ParseInLocation(dateLayout, v, settlement.Seoul)
	if err != nil || len(v) != len(dateLayout) {
		return time.Time{}, fmt.Errorf("%s must be a date YYYY-MM-DD, got %q", name, clip(v))
	}
	return t, nil
}

// reportQuery reads a report's query string; period says the date form.
func (h *Handler) reportQuery(r *http.Request, period settlement.Period) (settlement.ReportQuery, settlement.Lang, error) {
	q := r.URL.Query()
	for k, v := range q {
		if len(v) > 1 {
			return settlement.ReportQuery{}, "", fmt.Errorf("%s is given %d times", clip(k), len(v))
		}
	}
	out := settlement.ReportQuery{Period: period}
	layout, form := dateLayout, "YYYY-MM-DD"
	if period == settlement.Monthly {
		layout, form = monthLayout, "YYYY-MM"
	}
	for _, p := range []struct {
		name string
		dst  *time.Time
	}{{"from", &out.From}, {"to", &out.To}} {
		v := q.Get(p.name)
		t, err := time.ParseInLocation(layout, v, settlement.Seoul)
		if v == "" {
			return out, "", fmt.Errorf("%s is required (%s)", p.name, form)
		}
		if err != nil || len(v) != len(layout) {
			return out, "", fmt.Errorf("%s must be %s, got %q", p.name, form, clip(v))
		}
		*p.dst = t
	}
	if v := q.Get("pg"); v != "" {
		if !slices.Contains(h.cfg.PGs, v) {
			return out, "", fmt.Errorf("unknown PG %q (known: %s)", clip(v), strings.Join(h.cfg.PGs, ", "))
		}
		out.PG = v
	}
	if v := q.Get("method"); v != "" {
		if len(v) > 64 || strings.ContainsFunc(v, func(c rune) bool { return c < 0x20 || c == 0x7f }) {
			return out, "", fmt.Errorf("method %q is not a payment method", clip(v))
		}
		out.Method = v
	}
	if v := q.Get("currency"); v != "" {
		if !pg.Currency(v).Valid() {
			return out, "", fmt.Errorf("unknown currency %q", clip(v))
		}
		out.Currency = pg.Currency(v)
	}
	lang := settlement.Korean
	switch v := q.Get("lang"); v {
	case "", "ko":
	case "en":
		lang = settlement.English
	default:
		return out, "", fmt.Errorf("lang must be ko or en, got %q", clip(v))
	}
	return out, lang, nil
}

// rowJSON is one report row; Date is "date" in a daily report and "month"
// in a monthly one.
type rowJSON struct {
	Date        string      `json:"date,omitempty"`
	Month       string      `json:"month,omitempty"`
	PG          string      `json:"pg"`
	Method      string      `json:"method"`
	Currency    string      `json:"currency"`
	SalesCount  int64       `json:"salesCount"`
	RefundCount int64       `json:"refundCount"`
	Gross       json.Number `json:"gross"`
	Refunds     json.Number `json:"refunds"`
	Fee         json.Number `json:"fee"`
	VAT         json.Number `json:"vat"`
	Net         json.Number `json:"net"`
	PayoutDate  string      `json:"payoutDate"`
}

type payoutJSON struct {
	PG         string      `json:"pg"`
	PayoutDate string      `json:"payoutDate"`
	Amount     json.Number `json:"amount"`
}

type totalsJSON struct {
	Currency    string       `json:"currency"`
	SalesCount  int64        `json:"salesCount"`
	RefundCount int64        `json:"refundCount"`
	Gross       json.Number  `json:"gross"`
	Refunds     json.Number  `json:"refunds"`
	Fee         json.Number  `json:"fee"`
	VAT         json.Number  `json:"vat"`
	Net         json.Number  `json:"net"`
	Payouts     []payoutJSON `json:"payouts"`
}

type reportJSON struct {
	Rows   []rowJSON  `json:"rows"`
	Totals totalsJSON `json:"totals"`
}

func amount(v int64, cur pg.Currency) json.Number {
	return json.Number(settlement.Money(v, cur).String())
}

func (h *Handler) report(period settlement.Period, format settlement.Format) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		q, lang, err := h.reportQuery(r, period)
		if err != nil {
			badRequest(w, "%v", err)
			return
		}
		if format != "" {
			h.download(w, r, q, format, lang)
			return
		}
		out := reportJSON{Rows: []rowJSON{}}
		tot, err := h.cfg.Ledger.Report(r.Context(), q, func(row settlement.ReportRow) error {
			j := rowJSON{PG: row.PG, Method: row.Method, Currency: string(row.Currency),
				SalesCount: row.SalesCount, RefundCount: row.RefundCount,
				Gross: amount(row.Gross, row.Currency), Refunds: amount(row.Refunds, row.Currency),
				Fee: amount(row.Fee, row.Currency), VAT: amount(row.VAT, row.Currency), Net: amount(row.Net, row.Currency),
				PayoutDate: row.PayoutDate}
			if period == settlement.Monthly {
				j.Month = row.Date
			} else {
				j.Date = row.Date
			}
			out.Rows = append(out.Rows, j)
			return nil
		})
		if err != nil {
			h.fail(w, r, err)
			return
		}
		cur := tot.Currency
		out.Totals = totalsJSON{Currency: string(cur), SalesCount: tot.SalesCount, RefundCount: tot.RefundCount,
			Gross: amount(tot.Gross, cur), Refunds: amount(tot.Refunds, cur), Fee: amount(tot.Fee, cur),
			VAT: amount(tot.VAT, cur), Net: amount(tot.Net, cur), Payouts: []payoutJSON{}}
		for _, p := range tot.Payouts {
			out.Totals.Payouts = append(out.Totals.Payouts, payoutJSON{PG: p.PG, PayoutDate: p.Date, Amount: amount(p.Amount, cur)})
		}
		writeJSON(w, http.StatusOK, out)
	}
}

// lazyWriter sends the download's headers with its first byte, so a
// report that fails before writing anything is still answered with an
// error.
type lazyWriter struct {
	w       http.ResponseWriter
	started bool
	header  func()
}

func (l *lazyWriter) Write(b []byte) (int, error) {
	if !l.started {
		l.started = true
		l.header()
		l.w.WriteHeader(http.StatusOK)
	}
	return l.w.Write(b)
}

// download streams the report as a file. A CSV goes out as it is read;
// should the database fail midway, the connection is cut (the client sees
// a broken download, never a short file that looks whole). An XLSX is
// written out only once complete.
func (h *Handler) download(w http.ResponseWriter, r *http.Request, q settlement.ReportQuery, f settlement.Format, lang settlement.Lang) {
	layout := dateLayout
	if q.Period == settlement.Monthly {
		layout = monthLayout
	}
	name := fmt.Sprintf("settlement-%s-%s-%s", q.Period, q.From.Format(layout), q.To.Format(layout))
	if q.PG != "" {
		name += "-" + q.PG
	}
	lw := &lazyWriter{w: w, header: func() {
		w.Header().Set("Content-Type", f.ContentType())
		w.Header().Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": name + "." + string(f)}))
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("X-Content-Type-Options", "nosniff")
	}}
	_, err := h.cfg.Ledger.Export(r.Context(), lw, q, f, lang)
	if err == nil {
		return
	}
	if !lw.started {
		h.fail(w, r, err)
		return
	}
	h.cfg.Logger.Error("settlementhttp: download failed midway; cutting the connection", "path", r.URL.Path, "err", err)
	panic(http.ErrAbortHandler)
}

// reconcileRequest is POST /reconciliation.
type reconcileRequest struct {
	PG   *string `json:"pg"`
	From *string `json:"from"`
	To   *string `json:"to"`
}

func (h *Handler) reconcile(w http.ResponseWriter, r *http.Request) {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/json" {
		writeError(w, http.StatusUnsupportedMediaType, "UNSUPPORTED_MEDIA_TYPE", "the body must be application/json")
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			writeError(w, http.StatusRequestEntityTooLarge, "REQUEST_TOO_LARGE", fmt.Sprintf("the body is over %d bytes", maxBody))
			return
		}
		badRequest(w, "the body could not be read")
		return
	}
	var req reconcileRequest
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if !utf8.Valid(body) {
		badRequest(w, "the body is not valid UTF-8")
		return
	}
	if err := dec.Decode(&req); err != nil {
		badRequest(w, "the body must be {pg, from, to}: %v", err)
		return
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		badRequest(w, "the body has data after its object")
		return
	}
	if req.PG == nil || req.From == nil || req.To == nil {
		badRequest(w, "pg, from and to are required")
		return
	}
	if !slices.Contains(h.cfg.PGs, *req.PG) {
		badRequest(w, "unknown PG %q (known: %s)", clip(*req.PG), strings.Join(h.cfg.PGs, ", "))
		return
	}
	from, err := parseDay("from", *req.From)
	if err != nil {
		badRequest(w, "%v", err)
		return
	}
	to, err := parseDay("to", *req.To)
	if err != nil {
		badRequest(w, "%v", err)
		return
	}
	run, err := h.cfg.Reconciler.Reconcile(r.Context(), *req.PG, from, to)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	w.Header().Set("Location", h.cfg.Prefix+"/reconciliation?pg="+*req.PG)
	writeJSON(w, http.StatusCreated, runOf(run))
}

func (h *Handler) runs(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	pgName := q.Get("pg")
	if pgName != "" && !slices.Contains(h.cfg.PGs, pgName) {
		badRequest(w, "unknown PG %q (known: %s)", clip(pgName), strings.Join(h.cfg.PGs, ", "))
		return
	}
	limit := 20
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 100 {
			badRequest(w, "limit must be 1 to 100, got %q", clip(v))
			return
		}
		limit = n
	}
	runs, err := h.cfg.Reconciler.Runs(r.Context(), pgName, limit)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	out := struct {
		Items []runJSON `json:"items"`
	}{Items: []runJSON{}}
	for i := range runs {
		out.Items = append(out.Items, runOf(&runs[i]))
	}
	writeJSON(w, http.StatusOK, out)
}

type runJSON struct {
	ID              string    `json:"id"`
	PG              string    `json:"pg"`
	From            string    `json:"from"`
	To              string    `json:"to"`
	Source          string    `json:"source"`
	StartedAt       time.Time `json:"startedAt"`
	FinishedAt      time.Time `json:"finishedAt"`
	Checked         int       `json:"checked"`
	Sampled         int       `json:"sampled"`
	DifferenceCount int       `json:"differenceCount"`
	Recorded        int       `json:"recorded"`
	Days            []dayJSON `json:"days"`
	Notes           []string  `json:"notes"`
}

type dayJSON struct {
	Date        string           `json:"date"`
	Currency    string           `json:"currency"`
	LedgerNet   json.Number      `json:"ledgerNet"`
	PGNet       *json.Number     `json:"pgNet"`
	Differences []differenceJSON `json:"differences"`
}

// differenceJSON is one difference; ours and theirs are amounts (JSON
// numbers) except for a payout date (a YYYY-MM-DD string), null on the side
// that has nothing.
type differenceJSON struct {
	Kind       string `json:"kind"`
	PaymentID  string `json:"paymentId,omitempty"`
	PaymentKey string `json:"paymentKey,omitempty"`
	OrderID    string `json:"orderId,omitempty"`
	Ours       any    `json:"ours"`
	Theirs     any    `json:"theirs"`
	Recorded   bool   `json:"recorded"`
	Note       string `json:"note,omitempty"`
}

func side(kind settlement.DifferenceKind, v string) any {
	switch {
	case v == "":
		return nil
	case kind == settlement.PayoutDateDiffers:
		return v
	}
	return json.Number(v)
}

func runOf(run *settlement.Run) runJSON {
	out := runJSON{ID: run.ID, PG: run.PG, From: run.From.In(settlement.Seoul).Format(dateLayout),
		To: run.To.In(settlement.Seoul).Format(dateLayout), Source: run.Source,
		StartedAt: run.StartedAt.UTC(), FinishedAt: run.FinishedAt.UTC(), Checked: run.Checked, Sampled: run.Sampled,
		DifferenceCount: run.Differences, Recorded: run.Recorded, Days: []dayJSON{}, Notes: []string{}}
	out.Notes = append(out.Notes, run.Notes...)
	for _, d := range run.Days {
		j := dayJSON{Date: d.Date, Currency: string(d.Currency), LedgerNet: amount(d.LedgerNet, d.Currency), Differences: []differenceJSON{}}
		if d.PGNet != nil {
			n := amount(*d.PGNet, d.Currency)
			j.PGNet = &n
		}
		for _, x := range d.Differences {
			j.Differences = append(j.Differences, differenceJSON{Kind: string(x.Kind), PaymentID: x.PaymentID,
				PaymentKey: x.PaymentKey, OrderID: x.OrderID, Ours: side(x.Kind, x.Ours), Theirs: side(x.Kind, x.Theirs),
				Recorded: x.Recorded, Note: x.Note})
		}
		out.Days = append(out.Days, j)
	}
	return out
}
