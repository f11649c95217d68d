package inicistest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"golang.org/x/text/encoding/korean"

	"github.com/paygate/paygate/pg"
	"github.com/paygate/paygate/pg/pgtest"
)

// PayForm plays the buyer with the form fields the shop's page posts
// through INIStdPay.js (inicis Prepared.Client). It verifies them the way
// the payment window does: the merchant, the signature, the verification
// and the mKey must match, or the window refuses to open. method is "Card"
// or "VBank" (default "Card").
func (s *Sandbox) PayForm(ctx context.Context, form map[string]string, method string, fault pgtest.Fault) (pgtest.PayResult, error) {
	if err := ctx.Err(); err != nil {
		return pgtest.PayResult{}, err
	}
	if err := s.checkForm(form); err != nil {
		return pgtest.PayResult{}, err
	}
	if method == "" {
		method = "Card"
	}
	if method != "Card" && method != "VBank" {
		return pgtest.PayResult{}, fmt.Errorf("%w: method %q is not Card or VBank", ErrNotPrepared, method)
	}
	if !fault.Valid() {
		return pgtest.PayResult{}, fmt.Errorf("%w: unknown fault %q", ErrNotPrepared, fault)
	}
	price, _ := strconv.ParseInt(form["price"], 10, 64)
	return s.authenticate(form["oid"], price, method, fault), nil
}

func (s *Sandbox) checkForm(f map[string]string) error {
	oid, price, ts := f["oid"], f["price"], f["timestamp"]
	switch {
	case f["mid"] != s.cfg.MID:
		return fmt.Errorf("%w: mid %q is not %q", ErrNotPrepared, f["mid"], s.cfg.MID)
	case !validOID(oid):
		return fmt.Errorf("%w: oid must be 1..40 bytes of letters, digits, '-', '_' and '.'", ErrNotPrepared)
	case f["currency"] != "WON":
		return fmt.Errorf("%w: currency %q is not WON", ErrNotPrepared, f["currency"])
	case f["returnUrl"] == "" || f["goodname"] == "":
		return fmt.Errorf("%w: returnUrl and goodname are required", ErrNotPrepared)
	case goodnameLen(f["goodname"]) > 40:
		return fmt.Errorf("%w: goodname is longer than 40 bytes", ErrNotPrepared)
	}
	if n, ok := wonField(price); !ok || n <= 0 {
		return fmt.Errorf("%w: price %q is not a positive whole won amount", ErrNotPrepared, price)
	}
	if f["signature"] != sha256Hex("oid="+oid+"&price="+price+"&timestamp="+ts) {
		return fmt.Errorf("%w: signature mismatch", ErrNotPrepared)
	}
	if f["verification"] != sha256Hex("oid="+oid+"&price="+price+"&signKey="+s.cfg.SignKey+"&timestamp="+ts) {
		return fmt.Errorf("%w: verification mismatch", ErrNotPrepared)
	}
	if f["mKey"] != sha256Hex(s.cfg.SignKey) {
		return fmt.Errorf("%w: mKey mismatch", ErrNotPrepared)
	}
	return nil
}

// payRequest is the body of POST {base}/pay.
type payRequest struct {
	OrderID string          `json:"orderId"`
	Amount  json.RawMessage `json:"amount"`
	Fault   pgtest.Fault    `json:"fault"`
	Method  string          `json:"method"`
}

// servePay plays the buyer over HTTP. A JSON body {orderId, amount, fault,
// method} is Pay; a form body is PayForm with the shop's signed fields (the
// fault and method then come as the form fields "fault" and "method").
// The answer is {"redirect": {...}}, what the returnUrl POST carries.
func (s *Sandbox) servePay(w http.ResponseWriter, r *http.Request, body []byte) {
	var (
		res pgtest.PayResult
		err error
	)
	if strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded") {
		vals, perr := url.ParseQuery(string(body))
		if perr != nil {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "bad form"})
			return
		}
		form := map[string]string{}
		for k := range vals {
			form[k] = vals.Get(k)
		}
		res, err = s.PayForm(r.Context(), form, form["method"], pgtest.Fault(form["fault"]))
	} else {
		var req payRequest
		dec := json.NewDecoder(bytes.NewReader(body))
		dec.DisallowUnknownFields()
		if derr := dec.Decode(&req); derr != nil {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "body must be JSON {orderId, amount, fault, method}"})
			return
		}
		amount, aerr := pg.DecodeAmount(req.Amount)
		var m pg.Money
		if aerr == nil {
			m, aerr = pg.NewMoney(amount, pg.KRW)
		}
		if aerr != nil {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": aerr.Error()})
			return
		}
		switch req.Method {
		case "", "Card":
			res, err = s.Pay(r.Context(), pgtest.PayRequest{OrderID: req.OrderID, Amount: m, Fault: req.Fault})
		case "VBank":
			res, err = s.PayVirtualAccount(r.Context(), pgtest.PayRequest{OrderID: req.OrderID, Amount: m, Fault: req.Fault})
		default:
			err = fmt.Errorf("%w: method %q is not Card or VBank", ErrNotPrepared, req.Method)
		}
	}
	if err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"redirect": res.Redirect})
}

// serveDeposit is Deposit over HTTP: POST {base}/deposit {"orderId": ...}.
func (s *Sandbox) serveDeposit(w http.ResponseWriter, r *http.Request, body []byte) {
	var req struct {
		OrderID string `json:"orderId"`
	}
	if err := json.Unmarshal(body, &req); err != nil || req.OrderID == "" {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": `body must be {"orderId": ...}`})
		return
	}
	if err := s.Deposit(r.Context(), req.OrderID); err != nil {
		status := http.StatusBadGateway
		if errors.Is(err, ErrNoAccount) || errors.Is(err, ErrAccountExpired) {
			status = http.StatusConflict
		}
		writeJSON(w, status, map[string]string{"error": err.Error()})
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"result": "OK"})
}

// Errors from Deposit and CancelDeposit.
var (
	ErrNoAccount      = errors.New("inicistest: no virtual account issued for the order")
	ErrAccountExpired = errors.New("inicistest: virtual account expired; the bank refuses the transfer")
	ErrNoDeposit      = errors.New("inicistest: no deposit standing in the order's virtual account")
	ErrNotAcked       = errors.New("inicistest: notification was not answered OK")
)

// Deposit plays the buyer's bank transfer into the order's issued virtual
// account and sends Inicis's deposit notification (type_msg 0200) to
// Config.NotifyURL. The deposit is a transaction of its own: the
// notification's no_tid is the deposit's tid ("ININPGVBNK…") and no_req_tid
// the payment's. The first call records the deposit; later calls (or a call
// after a failed notification) redeliver the same notification, as Inicis
// does until it gets "OK". A transfer after the account's due time is
// refused. Without a NotifyURL the deposit is recorded and Webhooks returns
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
		p.vact.depositNoti = s.depositNoti(p, now, "0200")
		p.vact.noti = p.vact.depositNoti
	}
	body, target, client := p.vact.depositNoti, s.cfg.NotifyURL, s.cfg.NotifyClient
	s.mu.Unlock()
	return notify(ctx, client, target, body)
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
	body, target, client := p.vact.noti, s.cfg.NotifyURL, s.cfg.NotifyClient
	s.mu.Unlock()
	return notify(ctx, client, target, body)
}

// depositNoti builds a notification form about the account's deposit, in
// the shape Inicis sends: no_tid is the deposit's own tid, no_req_tid the
// payment's, no_msgseq the message's sequence. Callers hold mu.
func (s *Sandbox) depositNoti(p *payment, now time.Time, typeMsg string) []byte {
	text := func(v string) string {
		if s.cfg.UTF8Noti {
			return v
		}
		enc, err := korean.EUCKR.NewEncoder().String(v)
		if err != nil {
			return v
		}
		return enc
	}
	k := now.In(kst)
	s.seq++
	v := url.Values{
		"no_tid": {p.vact.depositTID}, "no_req_tid": {p.tid}, "no_oid": {p.oid}, "id_merchant": {s.cfg.MID},
		"cd_bank": {p.vact.bank}, "cd_deal": {p.vact.bank},
		"dt_trans": {k.Format("20060102")}, "tm_trans": {k.Format("150405")},
		"no_msgseq": {fmt.Sprintf("%010d", 9000000000+s.seq)}, "cd_joinorg": {"20000101"},
		"dt_transbase": {k.Format("20060102")}, "no_transseq": {" "},
		"type_msg": {typeMsg}, "cl_close": {"0"}, "flg_close": {"0"}, "cl_kor": {"2"},
		"no_msgmanage": {" "}, "no_vacct": {p.vact.num},
		"amt_input": {strconv.FormatInt(p.price, 10)}, "amt_check": {"0"},
		"nm_inputbank": {text("국민은행")}, "nm_input": {text("홍길동")},
		"dt_inputstd": {k.Format("20060102")}, "dt_calculstd": {k.Format("20060102")},
		"cl_trans": {"1100"},
	}
	return []byte(v.Encode())
}

func notify(ctx context.Context, client *http.Client, target string, body []byte) error {
	if target == "" {
		// Nowhere to deliver: the deposit is recorded and Webhooks hands
		// the notification out.
		return nil
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("inicistest: notification request: %w", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=EUC-KR")
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("inicistest: send notification: %w", err)
	}
	defer resp.Body.Close()
	ack, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
	if resp.StatusCode != http.StatusOK || strings.TrimSpace(string(ack)) != "OK" {
		return fmt.Errorf("%w: HTTP %d %q", ErrNotAcked, resp.StatusCode, ack)
	}
	return nil
}
