package inicistest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/paygate/paygate/pg"
	"github.com/paygate/paygate/pg/pgtest"
)

// The test controls, served under pgtest.ControlPrefix:
//
//	POST /_sandbox/pay             {"orderId", "amount", "fault"?, "method"?, "device"?} or the shop's signed form: Pay, PayVirtualAccount, PayForm, PayMobileForm
//	POST /_sandbox/faults          {"op", "fault", "orderId"?}: FailNext
//	GET  /_sandbox/ledger          Ledger
//	POST /_sandbox/deposit         {"orderId"}: Deposit
//	POST /_sandbox/cancel-deposit  {"orderId"}: CancelDeposit
//	POST /_sandbox/webhooks        {"orderId", "send", "to"}: sends the order's notification again
//	                               ("latest") or ForgedWebhooks ("forged"); see pgtest.ServeWebhooks
func (s *Sandbox) controlRoutes(m *http.ServeMux) {
	m.HandleFunc("POST "+pgtest.ControlPrefix+"pay", s.withBody(s.servePay))
	m.HandleFunc("POST "+pgtest.ControlPrefix+"faults", pgtest.ServeFaults(s))
	m.HandleFunc("GET "+pgtest.ControlPrefix+"ledger", pgtest.ServeLedger(s.Ledger))
	m.HandleFunc("POST "+pgtest.ControlPrefix+"deposit", s.serveDeposit(s.Deposit))
	m.HandleFunc("POST "+pgtest.ControlPrefix+"cancel-deposit", s.serveDeposit(s.CancelDeposit))
	m.HandleFunc("POST "+pgtest.ControlPrefix+"webhooks", pgtest.ServeWebhooks(s.cfg.WebhookClient, s.pickWebhooks))
}

// playable lists the faults FailNext can script for each op. Inicis has no
// server-side prepare (the shop signs the window's form itself), and a
// lookup or a net cancel is never declined.
var playable = map[pgtest.Op][]pgtest.Fault{
	pgtest.OpApprove:   pgtest.Faults,
	pgtest.OpCancel:    pgtest.Faults,
	pgtest.OpLookup:    {pgtest.FaultNone, pgtest.FaultTimeout, pgtest.FaultTimeoutUnapproved, pgtest.FaultError500},
	pgtest.OpNetCancel: {pgtest.FaultNone, pgtest.FaultTimeout, pgtest.FaultTimeoutUnapproved, pgtest.FaultError500},
}

// FailNext scripts the next call of op about the order (see
// pgtest.Scripter): OpApprove is the authUrl approval (its script takes
// the call instead of the fault Pay gave the payment; a decline is V801),
// OpNetCancel the netCancelUrl, OpCancel an INIAPI refund or partialRefund
// (a decline is 500629), OpLookup an INIAPI inquiry. A call refused for its
// signature, hash, merchant or an unknown authToken uses nothing up.
func (s *Sandbox) FailNext(op pgtest.Op, orderID string, f pgtest.Fault) error {
	if err := pgtest.CheckScript("inicistest", op, f, playable[op]); err != nil {
		return err
	}
	s.faults.Push(op, orderID, f)
	return nil
}

// nextFault takes the script of a call of op about the order (FaultNone
// when there is none).
func (s *Sandbox) nextFault(op pgtest.Op, orderID string) (pgtest.Fault, bool) {
	f, ok := s.faults.Next(op, orderID)
	if ok {
		s.log.Debug("scripted fault", "op", op, "orderId", orderID, "fault", f)
	}
	return f, ok
}

// TamperNextApproval makes the next approval answer carry an authSignature
// that is not Inicis's, as a forged or tampered answer would. The approval
// itself happens (the money is captured until the shop net-cancels).
func (s *Sandbox) TamperNextApproval() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tamper = true
}

// SetLatency delays every API answer by d (the wait ends early when the
// caller gives up).
func (s *Sandbox) SetLatency(d time.Duration) { s.latency.Store(int64(d)) }

// Ledger returns the PG-side record of every payment attempt, in creation
// order.
func (s *Sandbox) Ledger() []pgtest.LedgerEntry {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.cfg.Now()
	out := make([]pgtest.LedgerEntry, 0, len(s.all))
	for _, p := range s.all {
		s.expire(p, now)
		e := pgtest.LedgerEntry{
			OrderID: p.oid, PaymentKey: p.tid, Approvals: p.approvals, Cancels: p.cancels,
			Status: p.status, Canceled: pg.Won(p.canceled),
		}
		if p.approvals > 0 {
			e.Approved = pg.Won(p.approved)
		}
		out = append(out, e)
	}
	return out
}

// Errors from Deposit and CancelDeposit.
var (
	ErrNoAccount      = errors.New("inicistest: no virtual account issued for the order")
	ErrAccountExpired = errors.New("inicistest: virtual account expired; the bank refuses the transfer")
	ErrNoDeposit      = errors.New("inicistest: no deposit standing in the order's virtual account")
	ErrNotAcked       = errors.New("inicistest: notification was not answered OK")
	// ErrMobileDepositCancel: the public material shows no P_NOTI_URL
	// notice of a canceled deposit, so the sandbox does not play one for
	// accounts issued in the mobile window.
	ErrMobileDepositCancel = errors.New("inicistest: deposit cancels of INIpay Mobile accounts are not notified")
)

// Deposit plays the buyer's bank transfer into the order's issued virtual
// account and sends Inicis's deposit notification (type_msg 0200) to
// Config.WebhookURL. The deposit is a transaction of its own: the
// notification's no_tid is the deposit's tid ("ININPGVBNK…") and no_req_tid
// the payment's. The first call records the deposit; later calls (or a call
// after a failed notification) redeliver the same notification, as Inicis
// does until it gets "OK". A transfer after the account's due time is
// refused. Without a WebhookURL the deposit is recorded and Webhooks returns
// the notification.
func (s *Sandbox) Deposit(ctx context.Context, orderID string) error {
	s.mu.Lock()
	p := s.byOID[orderID]
	if p == nil || p.vact == nil {
		s.mu.Unlock()
		return fmt.Errorf("%w: %q", ErrNoAccount, orderID)
	}
	now := s.cfg.Now()
	s.expire(p, now)
	switch {
	case p.status == pg.StatusExpired:
		s.mu.Unlock()
		return fmt.Errorf("%w: order %q", ErrAccountExpired, orderID)
	case p.vact.depositNoti == nil && p.status != pg.StatusWaitingForDeposit:
		s.mu.Unlock()
		return fmt.Errorf("%w: order %q is %s", ErrNoAccount, orderID, p.status)
	case p.vact.depositNoti == nil:
		p.vact.depositAt = now
		p.vact.depositTID = s.nextTID("ININPGVBNK", now)
		p.approved = p.price
		p.status = pg.StatusApproved
		if p.mobile {
			p.vact.depositNoti = s.mobileNoti(p, now, "VBANK")
		} else {
			p.vact.depositNoti = s.depositNoti(p, now, "0200")
		}
		p.vact.noti = p.vact.depositNoti
	}
	body, target, client := p.vact.depositNoti, s.webhookURL, s.cfg.WebhookClient
	s.mu.Unlock()
	return s.notify(ctx, client, target, body)
}

// CancelDeposit plays the bank canceling the buyer's deposit (입금취소):
// the money goes back, Inicis records the payment canceled and notifies the
// shop with type_msg 0400, for the same deposit tid, under a message
// sequence of its own. Calling it again for a canceled deposit sends a
// further deposit-cancel notice for it, a new message with a new sequence,
// and changes nothing else. ErrNoDeposit when no deposit was made, or it
// was partly refunded.
func (s *Sandbox) CancelDeposit(ctx context.Context, orderID string) error {
	s.mu.Lock()
	p := s.byOID[orderID]
	if p == nil || p.vact == nil {
		s.mu.Unlock()
		return fmt.Errorf("%w: %q", ErrNoAccount, orderID)
	}
	if p.mobile {
		s.mu.Unlock()
		return fmt.Errorf("%w: order %q", ErrMobileDepositCancel, orderID)
	}
	now := s.cfg.Now()
	switch {
	case p.vact.reversed:
	case p.vact.depositAt.IsZero() || p.status != pg.StatusApproved:
		s.mu.Unlock()
		return fmt.Errorf("%w: order %q is %s", ErrNoDeposit, orderID, p.status)
	default:
		p.vact.reversed = true
		p.canceled = p.approved
		p.cancels++
		p.canceledAt = now
		p.status = pg.StatusCanceled
	}
	p.vact.noti = s.depositNoti(p, now, "0400")
	body, target, client := p.vact.noti, s.webhookURL, s.cfg.WebhookClient
	s.mu.Unlock()
	return s.notify(ctx, client, target, body)
}

// payRequest is the JSON body of POST /_sandbox/pay.
type payRequest struct {
	OrderID string          `json:"orderId"`
	Amount  json.RawMessage `json:"amount"`
	Fault   pgtest.Fault    `json:"fault"`
	Method  string          `json:"method"`
	Device  pg.Device       `json:"device"`
}

// servePay plays the buyer over HTTP. A JSON body {orderId, amount, fault,
// method, device} is Pay (PayVirtualAccount for method VBank) in the window
// of the device; a form body is PayForm with the shop's signed fields, or
// PayMobileForm when they are INIpay Mobile's P_* fields (the fault and
// method then come as the form fields "fault" and "method"). The answer is
// {"redirect": {...}}, what the returnUrl (P_NEXT_URL) POST carries.
func (s *Sandbox) servePay(w http.ResponseWriter, r *http.Request, body []byte) {
	var (
		res pgtest.PayResult
		err error
	)
	if strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded") {
		vals, perr := url.ParseQuery(string(body))
		if perr != nil {
			pgtest.ControlError(w, http.StatusBadRequest, "INVALID_REQUEST", "bad form")
			return
		}
		form := map[string]string{}
		for k := range vals {
			form[k] = vals.Get(k)
		}
		if form["P_MID"] != "" {
			res, err = s.PayMobileForm(r.Context(), form, pgtest.Fault(form["fault"]))
		} else {
			res, err = s.PayForm(r.Context(), form, form["method"], pgtest.Fault(form["fault"]))
		}
	} else {
		var req payRequest
		dec := json.NewDecoder(bytes.NewReader(body))
		dec.DisallowUnknownFields()
		if derr := dec.Decode(&req); derr != nil {
			pgtest.ControlError(w, http.StatusBadRequest, "INVALID_REQUEST", "body must be JSON {orderId, amount, fault, method}")
			return
		}
		amount, aerr := pg.DecodeAmount(req.Amount)
		var m pg.Money
		if aerr == nil {
			m, aerr = pg.NewMoney(amount, pg.KRW)
		}
		if aerr != nil {
			pgtest.ControlError(w, http.StatusBadRequest, "INVALID_REQUEST", aerr.Error())
			return
		}
		pay := pgtest.PayRequest{OrderID: req.OrderID, Amount: m, Fault: req.Fault, Device: req.Device}
		switch req.Method {
		case "", "Card":
			res, err = s.Pay(r.Context(), pay)
		case "VBank":
			res, err = s.PayVirtualAccount(r.Context(), pay)
		default:
			err = fmt.Errorf("%w: method %q is not Card or VBank", ErrNotPrepared, req.Method)
		}
	}
	if err != nil {
		pgtest.ControlError(w, http.StatusBadRequest, "INVALID_REQUEST", err.Error())
		return
	}
	pgtest.ControlJSON(w, http.StatusOK, map[string]any{"redirect": res.Redirect})
}

// serveDeposit serves the bank's side over HTTP: {"orderId"} is Deposit
// (or CancelDeposit), answered 204 once the shop acknowledged the
// notification, 409 for an order without (or with an expired) account or
// deposit, 502 when the shop did not acknowledge.
func (s *Sandbox) serveDeposit(do func(context.Context, string) error) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			OrderID string `json:"orderId"`
		}
		if err := pgtest.DecodeControl(r, &req); err != nil || req.OrderID == "" {
			pgtest.ControlError(w, http.StatusBadRequest, "INVALID_REQUEST", `body must be {"orderId": ...}`)
			return
		}
		if err := do(r.Context(), req.OrderID); err != nil {
			status, code := http.StatusBadGateway, "NOT_ACKNOWLEDGED"
			if errors.Is(err, ErrNoAccount) || errors.Is(err, ErrAccountExpired) || errors.Is(err, ErrNoDeposit) {
				status, code = http.StatusConflict, "NO_DEPOSIT"
			}
			pgtest.ControlError(w, status, code, err.Error())
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}
}
