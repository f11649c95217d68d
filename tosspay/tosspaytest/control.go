package tosspaytest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/shopspring/decimal"

	"github.com/paygate/paygate/pg"
	"github.com/paygate/paygate/pg/pgtest"
)

// The test controls, served under pgtest.ControlPrefix:
//
//	POST /_sandbox/pay      {"orderId", "amount", "currency"?, "fault"?, "declineCode"?, "latencyMs"?, "reset"?, "method"?}: Pay
//	POST /_sandbox/faults   {"op", "fault", "orderId"?}: FailNext
//	GET  /_sandbox/ledger   Ledger
//	POST /_sandbox/deposit  {"orderId"}: Deposit
//	POST /_sandbox/webhooks {"orderId", "send", "to"}: sends the order's notifications again
//	                        (pgtest.ServeWebhooks; "latest", "first", "reversed", "forged")
func (s *Sandbox) controlRoutes(m *http.ServeMux) {
	m.HandleFunc("POST "+pgtest.ControlPrefix+"pay", s.handlePay)
	m.HandleFunc("POST "+pgtest.ControlPrefix+"faults", pgtest.ServeFaults(s))
	m.HandleFunc("GET "+pgtest.ControlPrefix+"ledger", pgtest.ServeLedger(s.Ledger))
	m.HandleFunc("POST "+pgtest.ControlPrefix+"deposit", s.handleDeposit)
	m.HandleFunc("POST "+pgtest.ControlPrefix+"webhooks", pgtest.ServeWebhooks(s.webhooks.client, s.pickWebhooks))
}

// playable lists the faults FailNext can script for each op: the confirm
// and the cancel play them all (a declined cancel is
// NOT_CANCELABLE_PAYMENT); a lookup can fail or be lost but not be
// declined. Toss has no prepare call and no net cancel.
var playable = map[pgtest.Op][]pgtest.Fault{
	pgtest.OpApprove: pgtest.Faults,
	pgtest.OpCancel:  pgtest.Faults,
	pgtest.OpLookup:  {pgtest.FaultNone, pgtest.FaultTimeout, pgtest.FaultTimeoutUnapproved, pgtest.FaultError500},
}

// FailNext scripts the next call of op about the order (see
// pgtest.Scripter): OpApprove is POST /v1/payments/confirm (its script
// replaces the payment's own for that call), OpCancel POST
// /v1/payments/{paymentKey}/cancel, OpLookup either GET lookup. A lost
// answer of a call sent with an Idempotency-Key is still kept for its
// resend, as Toss keeps it; a scripted refusal is not (like a
// TossPayments-Test-Code answer), so the same request sent again is
// processed. A confirm's decline is REJECT_CARD_COMPANY and ABORTs the
// payment; a cancel's is NOT_CANCELABLE_PAYMENT.
func (s *Sandbox) FailNext(op pgtest.Op, orderID string, f pgtest.Fault) error {
	if err := pgtest.CheckScript("tosspaytest", op, f, playable[op]); err != nil {
		return err
	}
	s.faults.Push(op, orderID, f)
	return nil
}

// nextFault takes the script of a call of op about the order, if any.
func (s *Sandbox) nextFault(op pgtest.Op, orderID string) (Script, bool) {
	f, ok := s.faults.Next(op, orderID)
	if ok {
		s.log.Debug("scripted fault", "op", op, "orderId", orderID, "fault", f)
	}
	return Script{Fault: f}, ok
}

// ScriptPayment replaces the script of a payment's confirm.
func (s *Sandbox) ScriptPayment(paymentKey string, sc Script) error {
	if !sc.Fault.Valid() {
		return fmt.Errorf("tosspaytest: unknown fault %q", sc.Fault)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.byKey[paymentKey]
	if !ok {
		return fmt.Errorf("tosspaytest: no payment %q", paymentKey)
	}
	p.script = sc
	return nil
}

// SetLatency adds d before every API answer (0 removes it).
func (s *Sandbox) SetLatency(d time.Duration) { s.latency.Store(int64(d)) }

// Errors of Deposit.
var (
	ErrNoDeposit      = errors.New("tosspaytest: no virtual account waits for a deposit for this order")
	ErrDepositExpired = errors.New("tosspaytest: the virtual account expired before the deposit")
)

// Deposit plays the buyer's transfer into the order's virtual account: the
// payment becomes DONE (captured) and Toss sends DEPOSIT_CALLBACK and
// PAYMENT_STATUS_CHANGED (in the background, with Toss's retries). After
// the due date the account is EXPIRED and the deposit is refused.
func (s *Sandbox) Deposit(ctx context.Context, orderID string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.cfg.Now()
	p := s.latestLocked(orderID)
	if p == nil || p.va == nil {
		return ErrNoDeposit
	}
	s.expireLocked(p, now)
	switch p.status {
	case "WAITING_FOR_DEPOSIT":
	case "EXPIRED":
		return ErrDepositExpired
	default:
		return ErrNoDeposit
	}
	p.status, p.deposited, p.approvedAt, p.approvals = "DONE", true, now, p.approvals+1
	p.lastTxKey = randomID(32)
	s.txs = append(s.txs, transaction{key: p.lastTxKey, paymentKey: p.key, orderID: p.orderID, method: p.method,
		status: "DONE", currency: p.currency, amount: p.amount, at: now})
	s.newsLocked(p, now)
	return nil
}

// Ledger returns the PG side of every payment, in creation order.
func (s *Sandbox) Ledger() []pgtest.LedgerEntry {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.cfg.Now()
	out := make([]pgtest.LedgerEntry, 0, len(s.payments))
	for _, p := range s.payments {
		s.expireLocked(p, now)
		e := pgtest.LedgerEntry{OrderID: p.orderID, PaymentKey: p.key, Approvals: p.approvals, Cancels: len(p.cancels), Status: pgStatus(p.status)}
		refunded := decimal.Zero
		for _, c := range p.cancels {
			if c.refund {
				refunded = refunded.Add(c.amount)
			}
		}
		e.Canceled = mustMoney(refunded, p.currency)
		if p.approvals > 0 {
			e.Approved = mustMoney(p.amount, p.currency)
		}
		out = append(out, e)
	}
	return out
}

// Payment is the sandbox's view of one payment, for tests.
type Payment struct {
	PaymentKey, OrderID, Status, Secret string
	Amount, Balance                     pg.Money
	Approvals                           int
	Cancels                             []Cancel
}

// Cancel is one applied cancel.
type Cancel struct {
	TransactionKey string
	Amount         pg.Money
	Reason         string
	CanceledAt     time.Time
}

// Payments returns every payment, in creation order.
func (s *Sandbox) Payments() []Payment {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.cfg.Now()
	out := make([]Payment, 0, len(s.payments))
	for _, p := range s.payments {
		s.expireLocked(p, now)
		v := Payment{PaymentKey: p.key, OrderID: p.orderID, Status: p.status, Secret: p.secret,
			Amount: mustMoney(p.amount, p.currency), Balance: mustMoney(p.balance, p.currency), Approvals: p.approvals}
		for _, c := range p.cancels {
			v.Cancels = append(v.Cancels, Cancel{TransactionKey: c.txKey, Amount: mustMoney(c.amount, p.currency), Reason: c.reason, CanceledAt: c.at})
		}
		out = append(out, v)
	}
	return out
}

// Transactions returns every approval and cancel, in the order they happened.
func (s *Sandbox) Transactions() []pg.Transaction {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]pg.Transaction, 0, len(s.txs))
	for _, t := range s.txs {
		out = append(out, pg.Transaction{TransactionKey: t.key, PaymentKey: t.paymentKey, OrderID: t.orderID,
			Method: pg.MethodCard, Status: pgStatus(t.status), Amount: mustMoney(t.amount, t.currency), Cancel: t.cancel, At: t.at})
	}
	return out
}

// payRequest is POST /_sandbox/pay: the buyer in the payment window.
type payRequest struct {
	OrderID     string          `json:"orderId"`
	Amount      json.RawMessage `json:"amount"`
	Currency    string          `json:"currency"`
	Fault       pgtest.Fault    `json:"fault"`
	DeclineCode string          `json:"declineCode"`
	LatencyMS   int             `json:"latencyMs"`
	// Reset cuts a lost answer's connection at once (Script.Reset).
	Reset bool `json:"reset"`
	// Method "VIRTUAL_ACCOUNT" pays by virtual account; anything else by card.
	Method string `json:"method"`
}

// handlePay plays the buyer over HTTP and answers what Toss's success
// redirect carries: {"paymentKey", "orderId", "amount", "redirect"}.
func (s *Sandbox) handlePay(w http.ResponseWriter, r *http.Request) {
	var req payRequest
	if err := pgtest.DecodeControl(r, &req); err != nil {
		pgtest.ControlError(w, http.StatusBadRequest, "INVALID_REQUEST", "body must be {orderId, amount, ...}: "+err.Error())
		return
	}
	cur := pg.Currency(req.Currency)
	if cur == "" {
		cur = pg.KRW
	}
	d, err := pg.DecodeAmount(req.Amount)
	if err != nil {
		pgtest.ControlError(w, http.StatusBadRequest, "INVALID_REQUEST", err.Error())
		return
	}
	amount, err := pg.NewMoney(d, cur)
	if err != nil {
		pgtest.ControlError(w, http.StatusBadRequest, "INVALID_REQUEST", err.Error())
		return
	}
	sc := Script{Fault: req.Fault, DeclineCode: req.DeclineCode, Latency: time.Duration(req.LatencyMS) * time.Millisecond, Reset: req.Reset}
	method := "카드"
	if req.Method == "VIRTUAL_ACCOUNT" || req.Method == methodVirtualAccount {
		method = methodVirtualAccount
	}
	res, err := s.pay(r.Context(), req.OrderID, amount, sc, method)
	switch {
	case errors.Is(err, ErrDuplicatedOrder):
		pgtest.ControlError(w, http.StatusConflict, "DUPLICATED_ORDER_ID", err.Error())
		return
	case err != nil:
		pgtest.ControlError(w, http.StatusBadRequest, "INVALID_REQUEST", err.Error())
		return
	}
	pgtest.ControlJSON(w, http.StatusOK, map[string]any{"paymentKey": res.PaymentKey, "orderId": req.OrderID,
		"amount": json.Number(d.String()), "redirect": res.Redirect})
}

// handleDeposit is Deposit over HTTP: {"orderId"} answers 204.
func (s *Sandbox) handleDeposit(w http.ResponseWriter, r *http.Request) {
	var req struct {
		OrderID string `json:"orderId"`
	}
	if err := pgtest.DecodeControl(r, &req); err != nil || req.OrderID == "" {
		pgtest.ControlError(w, http.StatusBadRequest, "INVALID_REQUEST", `body must be {"orderId"}`)
		return
	}
	if err := s.Deposit(r.Context(), req.OrderID); err != nil {
		pgtest.ControlError(w, http.StatusConflict, "NO_DEPOSIT", err.Error())
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
