package pgtest

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/shopspring/decimal"

	"github.com/paygate/paygate/pg"
)

// Op names a call of a PG's API that a sandbox can be scripted to fail.
type Op string

// The calls a Scripter scripts. Each sandbox documents which it can play.
const (
	// OpPrepare is the PG's own preparation of a payment before the
	// buyer's window opens (KakaoPay ready).
	OpPrepare Op = "prepare"
	// OpApprove is the approval (Toss confirm, KakaoPay approve, the
	// Inicis authUrl approval).
	OpApprove Op = "approve"
	// OpCancel is a full or partial cancel (Toss cancel, KakaoPay cancel,
	// Inicis refund and partialRefund).
	OpCancel Op = "cancel"
	// OpLookup is a payment lookup (Toss by paymentKey or orderId,
	// KakaoPay order, Inicis inquiry).
	OpLookup Op = "lookup"
	// OpNetCancel undoes an approval whose answer the shop could not
	// process (Inicis net cancel).
	OpNetCancel Op = "netCancel"
)

// Ops lists every Op.
var Ops = []Op{OpPrepare, OpApprove, OpCancel, OpLookup, OpNetCancel}

// Valid reports whether o is a known op.
func (o Op) Valid() bool {
	for _, v := range Ops {
		if v == o {
			return true
		}
	}
	return false
}

// ErrUnsupported is wrapped by a Scripter's refusal of an op, or of a fault
// for an op, that its PG has no way to play (a decline of a lookup, a net
// cancel at a PG that has none).
var ErrUnsupported = errors.New("pgtest: the sandbox cannot play this")

// Scripter scripts faults into a sandbox PG's answers, whatever the PG.
// Every sandbox implements it.
type Scripter interface {
	// FailNext makes the sandbox's next call of op about the order
	// orderID answer with f; an empty orderID scripts the next call of op
	// about any order. Scripts queue up, each used up by one call; a call
	// takes its order's first script before one for any order. A call
	// the sandbox refuses before it gets to the fault (a bad signature,
	// an unknown payment) uses nothing up; a call the sandbox cannot tie
	// to an order (a lookup of a key it never issued) only takes scripts
	// for any order.
	//
	// FaultDecline: the PG refuses for good (an approval declined, a
	// cancel not cancelable). FaultTimeout: the PG does what was asked and
	// the answer is lost (the connection is cut once the client gives up
	// or the sandbox's HoldMax passes). FaultTimeoutUnapproved: nothing is
	// done and no answer comes. FaultError500: a 5xx, nothing done.
	// FaultNone: the call is answered normally.
	//
	// It returns an error for an unknown op or fault, and one wrapping
	// ErrUnsupported for an op or a fault of that op the PG cannot play.
	FailNext(op Op, orderID string, f Fault) error
}

// FaultQueue holds the scripts a Scripter was given, by op and order: the
// bookkeeping every sandbox's FailNext needs. The zero FaultQueue is empty
// and ready; it is safe for concurrent use.
type FaultQueue struct {
	mu sync.Mutex
	q  map[faultKey][]Fault
}

type faultKey struct {
	op      Op
	orderID string
}

// Push queues f for a call of op about orderID ("" for any order).
func (q *FaultQueue) Push(op Op, orderID string, f Fault) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.q == nil {
		q.q = map[faultKey][]Fault{}
	}
	k := faultKey{op, orderID}
	q.q[k] = append(q.q[k], f)
}

// Next takes the script of this call of op about orderID: the order's own
// first, then one for any order. ok is false when none was queued.
func (q *FaultQueue) Next(op Op, orderID string) (f Fault, ok bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	keys := []faultKey{{op, orderID}}
	if orderID != "" {
		keys = append(keys, faultKey{op, ""})
	}
	for _, k := range keys {
		if s := q.q[k]; len(s) > 0 {
			if len(s) == 1 {
				delete(q.q, k)
			} else {
				q.q[k] = s[1:]
			}
			return s[0], true
		}
	}
	return FaultNone, false
}

// Clear drops every script queued for op about orderID.
func (q *FaultQueue) Clear(op Op, orderID string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	delete(q.q, faultKey{op, orderID})
}

// CheckScript is the part of FailNext every sandbox shares: op and f must
// be known, and f one of playable (each sandbox lists what it can play for
// op; nil when it cannot play op at all). name prefixes the errors.
func CheckScript(name string, op Op, f Fault, playable []Fault) error {
	switch {
	case !op.Valid():
		return fmt.Errorf("%s: unknown op %q", name, op)
	case !f.Valid():
		return fmt.Errorf("%s: unknown fault %q", name, f)
	case len(playable) == 0:
		return fmt.Errorf("%w: %s has no %s call", ErrUnsupported, name, op)
	}
	for _, p := range playable {
		if p == f {
			return nil
		}
	}
	return fmt.Errorf("%w: %s cannot play %q on %s", ErrUnsupported, name, f, op)
}

// ControlPrefix is the path, under a sandbox's base URL, where every sandbox
// serves its test-control endpoints, apart from the PG's own paths:
//
//	POST {ControlPrefix}pay      plays the buyer (Sandbox.Pay): {"orderId", "amount", "fault"?, ...}
//	POST {ControlPrefix}faults   scripts a fault (Scripter.FailNext): {"op", "fault", "orderId"?}
//	GET  {ControlPrefix}ledger   the PG side's books (Sandbox.Ledger)
//
// and PG-specific ones under the same prefix (a deposit into a virtual
// account, ...). A host that serves a sandbox to other machines keeps this
// prefix to its own (the example server answers it to loopback peers
// only); everything else a sandbox serves is what the PG itself serves.
const ControlPrefix = "/_sandbox/"

// IsControlPath reports whether path, relative to a sandbox's base URL, is
// one of its test-control endpoints.
func IsControlPath(path string) bool {
	return path == strings.TrimSuffix(ControlPrefix, "/") || strings.HasPrefix(path, ControlPrefix)
}

// maxControlBody bounds a test-control request body.
const maxControlBody = 64 << 10

// ControlError answers a test-control request with a refusal, in the shape
// of the example server's errors: {"success": false, "error": {"code",
// "message"}}.
func ControlError(w http.ResponseWriter, status int, code, message string) {
	ControlJSON(w, status, map[string]any{"success": false, "error": map[string]string{"code": code, "message": message}})
}

// ControlJSON answers a test-control request with v as JSON.
func ControlJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// DecodeControl reads a test-control request's JSON body into v strictly:
// at most 64 KiB, one JSON value, no field v does not have.
func DecodeControl(r *http.Request, v any) error {
	dec := json.NewDecoder(io.LimitReader(r.Body, maxControlBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return errors.New("trailing data after the JSON body")
	}
	return nil
}

// faultsRequest is the body of POST {ControlPrefix}faults.
type faultsRequest struct {
	Op      Op     `json:"op"`
	Fault   Fault  `json:"fault"`
	OrderID string `json:"orderId"`
}

// ServeFaults serves POST {ControlPrefix}faults for s: the body
// {"op", "fault", "orderId"?} is Scripter.FailNext; the answer is 204, or
// 400 for a body, op or fault the sandbox cannot take.
func ServeFaults(s Scripter) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var req faultsRequest
		if err := DecodeControl(r, &req); err != nil {
			ControlError(w, http.StatusBadRequest, "INVALID_REQUEST", `body must be {"op", "fault", "orderId"?}: `+err.Error())
			return
		}
		if err := s.FailNext(req.Op, req.OrderID, req.Fault); err != nil {
			code := "INVALID_REQUEST"
			if errors.Is(err, ErrUnsupported) {
				code = "UNSUPPORTED"
			}
			ControlError(w, http.StatusBadRequest, code, err.Error())
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}
}

// ServeLedger serves GET {ControlPrefix}ledger: the entries ledger returns,
// as JSON (see LedgerEntry.MarshalJSON).
func ServeLedger(ledger func() []LedgerEntry) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		entries := ledger()
		if entries == nil {
			entries = []LedgerEntry{}
		}
		ControlJSON(w, http.StatusOK, entries)
	}
}

// ledgerJSON is a LedgerEntry on the wire.
type ledgerJSON struct {
	OrderID    string      `json:"orderId"`
	PaymentKey string      `json:"paymentKey"`
	Approved   json.Number `json:"approved"`
	Canceled   json.Number `json:"canceled"`
	Currency   pg.Currency `json:"currency"`
	Approvals  int         `json:"approvals"`
	Cancels    int         `json:"cancels"`
	Status     pg.Status   `json:"status"`
}

// MarshalJSON writes the entry as GET {ControlPrefix}ledger serves it:
// {"orderId", "paymentKey", "approved", "canceled", "currency",
// "approvals", "cancels", "status"}, amounts as JSON numbers in the
// currency's unit (approved is 0 when nothing was approved).
func (e LedgerEntry) MarshalJSON() ([]byte, error) {
	out := ledgerJSON{OrderID: e.OrderID, PaymentKey: e.PaymentKey, Approved: "0", Canceled: "0",
		Approvals: e.Approvals, Cancels: e.Cancels, Status: e.Status}
	if e.Approved.IsSet() {
		out.Approved, out.Currency = json.Number(e.Approved.Amount().String()), e.Approved.Currency()
	}
	if e.Canceled.IsSet() {
		out.Canceled, out.Currency = json.Number(e.Canceled.Amount().String()), e.Canceled.Currency()
	}
	return json.Marshal(out)
}

// UnmarshalJSON reads what MarshalJSON writes: Approved is set when
// anything was approved, Canceled whenever the entry has a currency.
func (e *LedgerEntry) UnmarshalJSON(b []byte) error {
	var in ledgerJSON
	if err := json.Unmarshal(b, &in); err != nil {
		return err
	}
	out := LedgerEntry{OrderID: in.OrderID, PaymentKey: in.PaymentKey, Approvals: in.Approvals, Cancels: in.Cancels, Status: in.Status}
	money := func(n json.Number) (pg.Money, error) {
		d, err := decimal.NewFromString(n.String())
		if err != nil {
			return pg.Money{}, fmt.Errorf("pgtest: ledger amount %q: %w", n, err)
		}
		return pg.NewMoney(d, in.Currency)
	}
	if in.Currency != "" {
		var err error
		if out.Canceled, err = money(orZero(in.Canceled)); err != nil {
			return err
		}
		if in.Approvals > 0 || (in.Approved != "" && in.Approved != "0") {
			if out.Approved, err = money(orZero(in.Approved)); err != nil {
				return err
			}
		}
	}
	*e = out
	return nil
}

func orZero(n json.Number) json.Number {
	if n == "" {
		return "0"
	}
	return n
}

// Mount is where a sandbox is served: its public base URL and the path
// prefix that comes with it ("http://127.0.0.1:8080/sandbox/tosspay" is
// served under /sandbox/tosspay). A sandbox keeps one so it works mounted
// under a prefix with or without http.StripPrefix, and so its address can
// be set once the listener is known. The zero Mount is served at the root;
// it is safe for concurrent use.
type Mount struct{ p atomic.Pointer[mountAt] }

type mountAt struct{ base, prefix string }

// Set changes the base URL (a trailing slash is ignored).
func (m *Mount) Set(baseURL string) {
	at := &mountAt{base: strings.TrimRight(baseURL, "/")}
	if u, err := url.Parse(at.base); err == nil {
		at.prefix = strings.TrimRight(u.Path, "/")
	}
	m.p.Store(at)
}

// BaseURL is the public base URL, without a trailing slash.
func (m *Mount) BaseURL() string {
	if at := m.p.Load(); at != nil {
		return at.base
	}
	return ""
}

// Prefix is the base URL's path, without a trailing slash: "" at the root.
func (m *Mount) Prefix() string {
	if at := m.p.Load(); at != nil {
		return at.prefix
	}
	return ""
}

// Strip returns r with the base URL's path prefix removed from its path
// when the path still carries it, and r itself otherwise.
func (m *Mount) Strip(r *http.Request) *http.Request {
	at := m.p.Load()
	if at == nil || at.prefix == "" {
		return r
	}
	rest, ok := strings.CutPrefix(r.URL.Path, at.prefix)
	if !ok || (rest != "" && rest[0] != '/') {
		return r
	}
	r2 := new(http.Request)
	*r2 = *r
	u := *r.URL
	u.Path, u.RawPath = rest, ""
	r2.URL = &u
	return r2
}
