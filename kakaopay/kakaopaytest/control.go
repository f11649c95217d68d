package kakaopaytest

import (
	"encoding/json"
	"errors"
	"net/http"
	"time"

	"github.com/paygate/paygate/pg"
	"github.com/paygate/paygate/pg/pgtest"
)

// The test controls, served under pgtest.ControlPrefix:
//
//	POST /_sandbox/pay     {"orderId", "amount"?, "fault"?, "method"?}: Pay
//	POST /_sandbox/faults  {"op", "fault", "orderId"?}: FailNext
//	GET  /_sandbox/ledger  Ledger
func (s *Sandbox) controlRoutes(m *http.ServeMux) {
	m.HandleFunc("POST "+pgtest.ControlPrefix+"pay", s.handlePay)
	m.HandleFunc("POST "+pgtest.ControlPrefix+"faults", pgtest.ServeFaults(s))
	m.HandleFunc("GET "+pgtest.ControlPrefix+"ledger", pgtest.ServeLedger(s.Ledger))
}

// playable lists the faults FailNext can script for each op. A declined
// ready has no code KakaoPay documents, and KakaoPay has no net cancel.
var playable = map[pgtest.Op][]pgtest.Fault{
	pgtest.OpPrepare: {pgtest.FaultNone, pgtest.FaultTimeout, pgtest.FaultTimeoutUnapproved, pgtest.FaultError500},
	pgtest.OpApprove: pgtest.Faults,
	pgtest.OpCancel:  pgtest.Faults,
	pgtest.OpLookup:  {pgtest.FaultNone, pgtest.FaultTimeout, pgtest.FaultTimeoutUnapproved, pgtest.FaultError500},
}

// FailNext scripts the next call of op about the order (see
// pgtest.Scripter): OpPrepare is ready (FaultTimeout readies the tid and
// loses the answer), OpApprove approve (its script takes the call before
// the fault Pay gave the payment, which then waits for the next approval;
// a decline is -780 and fails the payment), OpCancel cancel (a decline is
// -781), OpLookup order. A call refused for its parameters, its key, its
// tid or the payment's state uses nothing up.
func (s *Sandbox) FailNext(op pgtest.Op, orderID string, f pgtest.Fault) error {
	if err := pgtest.CheckScript("kakaopaytest", op, f, playable[op]); err != nil {
		return err
	}
	s.faults.Push(op, orderID, f)
	return nil
}

// nextFault takes the script of a call of op about the order, if any.
func (s *Sandbox) nextFault(op pgtest.Op, orderID string) (pgtest.Fault, bool) {
	f, ok := s.faults.Next(op, orderID)
	if ok {
		s.log.Debug("scripted fault", "op", op, "orderId", orderID, "fault", f)
	}
	return f, ok
}

// ScriptCancel makes the next cancel of the order's payment fail with f,
// replacing what was scripted for it before; FaultNone removes the script.
//
// Deprecated: use FailNext(pgtest.OpCancel, orderID, f), which queues.
func (s *Sandbox) ScriptCancel(orderID string, f pgtest.Fault) error {
	if err := pgtest.CheckScript("kakaopaytest", pgtest.OpCancel, f, playable[pgtest.OpCancel]); err != nil {
		return err
	}
	s.faults.Clear(pgtest.OpCancel, orderID)
	if f != pgtest.FaultNone {
		s.faults.Push(pgtest.OpCancel, orderID, f)
	}
	return nil
}

// SetLatency delays every later API call by d (0 for none).
func (s *Sandbox) SetLatency(d time.Duration) { s.latency.Store(int64(d)) }

// Ledger returns the PG side's record of every readied payment, in the
// order they were readied.
func (s *Sandbox) Ledger() []pgtest.LedgerEntry {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.cfg.Now()
	out := make([]pgtest.LedgerEntry, 0, len(s.all))
	for _, p := range s.all {
		s.expireLocked(p, now)
		e := pgtest.LedgerEntry{
			OrderID:    p.partnerOrderID,
			PaymentKey: p.tid,
			Canceled:   pg.Won(p.canceled),
			Approvals:  p.approvals,
			Cancels:    p.cancels,
			Status:     ledgerStatus(p.status),
		}
		if p.approved() {
			e.Approved = pg.Won(p.total)
		}
		out = append(out, e)
	}
	return out
}

// ledgerStatus is the PG side's status in paygate's terms.
func ledgerStatus(status string) pg.Status {
	switch status {
	case StatusSuccessPayment:
		return pg.StatusApproved
	case StatusPartCancelPayment:
		return pg.StatusPartialCanceled
	case StatusCancelPayment:
		return pg.StatusCanceled
	case StatusFailPayment, StatusQuitPayment, StatusFailAuthPassword:
		return pg.StatusFailed
	default:
		return pg.StatusPending
	}
}

// payRequest is the body of POST /_sandbox/pay.
type payRequest struct {
	OrderID string          `json:"orderId"`
	Amount  json.RawMessage `json:"amount"`
	Fault   pgtest.Fault    `json:"fault"`
	Method  string          `json:"method"`
}

// handlePay plays the buyer over HTTP: POST /_sandbox/pay
// {"orderId", "amount"?, "fault"?, "method"?: "CARD"|"MONEY"} answers
// {"redirect": {"pg_token"}, "redirectUrl"} like Pay.
func (s *Sandbox) handlePay(w http.ResponseWriter, r *http.Request) {
	var req payRequest
	if err := pgtest.DecodeControl(r, &req); err != nil {
		pgtest.ControlError(w, http.StatusBadRequest, "INVALID_REQUEST", "body: "+err.Error())
		return
	}
	if req.OrderID == "" {
		pgtest.ControlError(w, http.StatusBadRequest, "INVALID_REQUEST", "orderId is required")
		return
	}
	var amount pg.Money
	if len(req.Amount) > 0 && string(req.Amount) != "null" {
		d, err := pg.DecodeAmount(req.Amount)
		if err == nil {
			amount, err = pg.NewMoney(d, pg.KRW)
		}
		if err != nil {
			pgtest.ControlError(w, http.StatusBadRequest, "INVALID_REQUEST", "amount: "+err.Error())
			return
		}
	}
	if req.Method == "" {
		req.Method = "CARD"
	}
	tok, redirect, err := s.pay(req.OrderID, amount, req.Fault, req.Method)
	switch {
	case errors.Is(err, ErrNoPayment):
		pgtest.ControlError(w, http.StatusNotFound, "NOT_FOUND", err.Error())
	case errors.Is(err, ErrExpired):
		pgtest.ControlError(w, http.StatusConflict, "EXPIRED", err.Error())
	case errors.Is(err, ErrAmount):
		pgtest.ControlError(w, http.StatusUnprocessableEntity, "AMOUNT_MISMATCH", err.Error())
	case err != nil:
		pgtest.ControlError(w, http.StatusBadRequest, "INVALID_REQUEST", err.Error())
	default:
		pgtest.ControlJSON(w, http.StatusOK, map[string]any{
			"redirect":    map[string]string{"pg_token": tok},
			"redirectUrl": redirect,
		})
	}
}
