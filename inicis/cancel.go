package inicis

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/paygate/paygate/pg"
)

// INIAPI v2 types; each is also the last path segment of its URL.
const (
	typeRefund        = "refund"
	typePartialRefund = "partialRefund"
	typeInquiry       = "inquiry"
)

const jsonContentType = "application/json;charset=utf-8"

// envelope is INIAPI v2's request body. Data is sent exactly as it was
// hashed.
type envelope struct {
	MID       string          `json:"mid"`
	Type      string          `json:"type"`
	Timestamp string          `json:"timestamp"`
	ClientIP  string          `json:"clientIp"`
	Data      json.RawMessage `json:"data"`
	HashData  string          `json:"hashData"`
}

// Field order in these structs is the order on the wire, and so in the hash.
type refundData struct {
	TID            string `json:"tid"`
	Msg            string `json:"msg"`
	RefundAcctNum  string `json:"refundAcctNum,omitempty"`
	RefundBankCode string `json:"refundBankCode,omitempty"`
	RefundAcctName string `json:"refundAcctName,omitempty"`
}

type partialRefundData struct {
	TID            string `json:"tid"`
	Msg            string `json:"msg"`
	Price          string `json:"price"`
	ConfirmPrice   string `json:"confirmPrice"`
	Currency       string `json:"currency"`
	Tax            string `json:"tax"`
	TaxFree        string `json:"taxfree"`
	RefundAcctNum  string `json:"refundAcctNum,omitempty"`
	RefundBankCode string `json:"refundBankCode,omitempty"`
	RefundAcctName string `json:"refundAcctName,omitempty"`
}

type inquiryData struct {
	TID string `json:"tid,omitempty"`
	OID string `json:"oid,omitempty"`
}

// callAPI signs and sends one INIAPI v2 request and returns the answer's
// fields. Non-success result codes become errors by the code table.
func (g *Gateway) callAPI(ctx context.Context, op, typ string, a api, data any) (fields, error) {
	if g.cfg.APIKey == "" || g.cfg.ClientIP == "" {
		return nil, invalid(op, "INIAPI needs Config.APIKey and Config.ClientIP")
	}
	raw, err := marshalData(data)
	if err != nil {
		return nil, fail(op, pg.KindInvalid, "", "encode data", 0, err)
	}
	ts := apiTimestamp(g.cfg.Now())
	body, err := marshalData(envelope{
		MID: g.cfg.MID, Type: typ, Timestamp: ts, ClientIP: g.cfg.ClientIP,
		Data: raw, HashData: apiHash(g.cfg.APIKey, g.cfg.MID, typ, ts, raw),
	})
	if err != nil {
		return nil, fail(op, pg.KindInvalid, "", "encode request", 0, err)
	}
	status, resp, err := g.post(ctx, op, g.cfg.APIBaseURL+"/v2/pg/"+typ, jsonContentType, body, a == apiInquiry)
	if err != nil {
		return nil, err
	}
	return parseAPIResponse(op, a, status, resp)
}

// parseAPIResponse reads an INIAPI answer. A refund answer that cannot be
// read is unknown (the refund may have happened); an inquiry answer that
// cannot be read changed nothing.
func parseAPIResponse(op string, a api, status int, body []byte) (fields, error) {
	idempotent := a == apiInquiry
	f, err := decodeFields(body)
	if err != nil {
		if status != http.StatusOK {
			return nil, httpFailure(op, status, idempotent)
		}
		kind := pg.KindUnknown
		if idempotent {
			kind = pg.KindUnavailable
		}
		return nil, fail(op, kind, "", "unreadable response", status, err)
	}
	code := f.str("resultCode")
	if code == "" && status != http.StatusOK {
		return nil, httpFailure(op, status, idempotent)
	}
	detail, resultMsg := f.str("detailResultCode"), f.str("resultMsg")
	if o := lookupAnswer(a, code, detail, resultMsg); !o.ok {
		msg := firstNonEmpty(resultMsg, o.reason)
		if detail != "" {
			msg += " (" + detail + ")"
		}
		e := fail(op, o.kind, code, msg, status, nil)
		e.Retryable = o.retryable
		return nil, e
	}
	return f, nil
}

// tidOf finds the payment's tid in the request or the stored data.
func tidOf(key string, prepared map[string]string) string {
	return firstNonEmpty(key, prepared["tid"])
}

// checkTID refuses tids that cannot be Inicis's (40 bytes, printable).
func checkTID(op, tid string) error {
	if len(tid) == 0 || len(tid) > 64 {
		return invalid(op, "tid must be 1..64 bytes")
	}
	for _, c := range []byte(tid) {
		if c <= ' ' || c > '~' {
			return invalid(op, "tid %q has a non-printable character", tid)
		}
	}
	return nil
}

// Cancel refunds through INIAPI v2. With no amount, or an amount equal to
// the balance of a payment never partially canceled, it is a full refund
// (/v2/pg/refund); otherwise a partial refund (/v2/pg/partialRefund) whose
// confirmPrice is req.Balance minus req.Amount, so Inicis refuses it if the
// balance moved since (an earlier attempt went through): the guard that
// makes a retried partial refund apply once. A partial refund therefore
// needs req.Balance.
//
// INIAPI has no idempotency key. A KindUnknown error means the refund may
// have happened: look the payment up and compare its balance before trying
// again; never resend blindly.
func (g *Gateway) Cancel(ctx context.Context, req pg.CancelRequest) (*pg.Payment, error) {
	const op = "cancel"
	tid := tidOf(req.PaymentKey, req.Prepared)
	if tid == "" {
		if req.OrderID == "" {
			return nil, invalid(op, "payment key (tid) or order id is required")
		}
		found, err := g.Lookup(ctx, pg.LookupRequest{OrderID: req.OrderID, Prepared: req.Prepared})
		if err != nil {
			return nil, fmt.Errorf("inicis: cancel order %q: finding the tid: %w", req.OrderID, err)
		}
		tid = found.PaymentKey
	}
	if err := checkTID(op, tid); err != nil {
		return nil, err
	}
	msg := strings.TrimSpace(req.Reason)
	if msg == "" {
		msg = "취소요청"
	}
	if len(msg) > 100 {
		msg = truncateUTF8(msg, 100)
	}
	acct, err := g.refundAccount(op, req.RefundAccount)
	if err != nil {
		return nil, err
	}
	if req.Method == "" {
		req.Method = methodOf(req.Prepared["paymethod"])
	}
	total := knownTotal(req.Prepared)
	if !req.Amount.IsSet() && req.Balance.IsSet() && total.IsSet() {
		if c, err := req.Balance.Cmp(total); err == nil && c < 0 {
			// The rest of a partially canceled payment: refund it as a
			// partial refund to zero, which keeps the balance guard.
			req.Amount = req.Balance
		}
	}
	full, err := isFullRefund(op, req, total)
	if err != nil {
		return nil, err
	}
	if full {
		f, err := g.callAPI(ctx, op, typeRefund, apiRefund, refundData{
			TID: tid, Msg: msg,
			RefundAcctNum: acct.num, RefundBankCode: acct.bank, RefundAcctName: acct.name,
		})
		if err != nil {
			return nil, err
		}
		return fullRefundPayment(f, tid, req, total)
	}

	price, _ := wonString(req.Amount)
	remain, err := req.Balance.Sub(req.Amount)
	if err != nil {
		return nil, invalid(op, "cancel amount %s exceeds the balance %s", req.Amount, req.Balance)
	}
	taxFree := "0"
	if req.TaxFree.IsSet() {
		if c, err := req.TaxFree.Cmp(req.Amount); err != nil || c > 0 {
			return nil, invalid(op, "tax-free part %s exceeds the cancel amount %s", req.TaxFree, req.Amount)
		}
		taxFree = req.TaxFree.Amount().StringFixed(0)
	}
	f, err := g.callAPI(ctx, op, typePartialRefund, apiRefund, partialRefundData{
		TID: tid, Msg: msg, Price: price, ConfirmPrice: remain.Amount().StringFixed(0),
		Currency: "WON", Tax: "0", TaxFree: taxFree,
		RefundAcctNum: acct.num, RefundBankCode: acct.bank, RefundAcctName: acct.name,
	})
	if err != nil {
		return nil, err
	}
	return partialRefundPayment(f, tid, req, total, remain)
}

// isFullRefund decides between refund and partialRefund, and refuses what
// cannot be sent safely.
func isFullRefund(op string, req pg.CancelRequest, total pg.Money) (bool, error) {
	if !req.Amount.IsSet() {
		return true, nil
	}
	if _, err := wonString(req.Amount); err != nil || !req.Amount.IsPositive() {
		return false, invalid(op, "cancel amount must be a positive KRW amount, got %s", req.Amount)
	}
	if !req.Balance.IsSet() {
		return false, invalid(op, "a partial cancel needs the balance (confirmPrice guard)")
	}
	if c, err := req.Amount.Cmp(req.Balance); err != nil || c > 0 {
		return false, invalid(op, "cancel amount %s exceeds the balance %s", req.Amount, req.Balance)
	}
	// The whole balance of a never partially canceled payment is a full
	// refund; the rest of a partially canceled one is a partial refund to
	// zero, which keeps the confirmPrice guard.
	return req.Amount.Equal(req.Balance) && total.IsSet() && total.Equal(req.Balance), nil
}

// knownTotal is the approved amount from the stored checkout or payment
// data, if any.
func knownTotal(prepared map[string]string) pg.Money {
	for _, k := range []string{"approvedPrice", "price"} {
		if m, err := parseWon(prepared[k]); err == nil && m.IsPositive() {
			return m
		}
	}
	return pg.Money{}
}

type encAccount struct{ num, bank, name string }

func (g *Gateway) refundAccount(op string, a *pg.RefundAccount) (encAccount, error) {
	if a == nil {
		return encAccount{}, nil
	}
	if a.AccountNumber == "" || a.Bank == "" || a.HolderName == "" {
		return encAccount{}, invalid(op, "refund account needs bank, number and holder")
	}
	num, err := encryptField(g.cfg.APIKey, g.cfg.APIIV, a.AccountNumber)
	if err != nil {
		return encAccount{}, fail(op, pg.KindInvalid, "", "encrypt refund account", 0, err)
	}
	return encAccount{num: num, bank: a.Bank, name: a.HolderName}, nil
}

func fullRefundPayment(f fields, tid string, req pg.CancelRequest, total pg.Money) (*pg.Payment, error) {
	at, err := parseKST(f.str("cancelDate"), f.str("cancelTime"))
	if err != nil {
		return nil, fail("cancel", pg.KindUnknown, "00", "canceled, but cancelDate unreadable", 0, err)
	}
	refunded := req.Balance
	if !refunded.IsSet() {
		refunded = total
	}
	if !total.IsSet() {
		total = refunded
	}
	p := &pg.Payment{
		PG: Name, PaymentKey: tid, OrderID: req.OrderID,
		Status: pg.StatusCanceled, PGStatus: "CANCEL", Method: req.Method,
		Amount: total, Balance: pg.Won(0),
		Data: map[string]string{"tid": tid},
	}
	rec := pg.CancelRecord{TransactionKey: tid, Reason: req.Reason, CanceledAt: at}
	if refunded.IsSet() {
		rec.Amount = refunded
	}
	p.Cancels = []pg.CancelRecord{rec}
	return p, nil
}

func partialRefundPayment(f fields, tid string, req pg.CancelRequest, total, remain pg.Money) (*pg.Payment, error) {
	bad := func(what string, err error) error {
		return fail("cancel", pg.KindUnknown, "00", "canceled, but "+what, 0, err)
	}
	// The partial cancel's own tid: sources disagree on whether the answer's
	// prtcTid is the original tid (and tid the new one) or the new one, so
	// either reading is taken, as long as the answer is about this payment.
	newTID, prtc := f.str("tid"), f.str("prtcTid")
	cancelTID := ""
	switch {
	case prtc == "" || prtc == tid:
		cancelTID = newTID
	case newTID == "" || newTID == tid || newTID == prtc:
		cancelTID = prtc
	default:
		return nil, bad(fmt.Sprintf("neither tid %q nor prtcTid %q is the payment's %q", newTID, prtc, tid), nil)
	}
	if cancelTID == tid {
		cancelTID = ""
	}
	amount := req.Amount
	if s := f.str("prtcPrice"); s != "" {
		m, err := parseWon(s)
		if err != nil {
			return nil, bad("prtcPrice unreadable", err)
		}
		amount = m
	}
	if s := f.str("prtcRemains"); s != "" {
		m, err := parseWon(s)
		if err != nil {
			return nil, bad("prtcRemains unreadable", err)
		}
		remain = m
	}
	at, err := parseKST(firstNonEmpty(f.str("prtcDate"), f.str("cancelDate")), firstNonEmpty(f.str("prtcTime"), f.str("cancelTime")))
	if err != nil {
		return nil, bad("prtcDate unreadable", err)
	}
	status := pg.StatusPartialCanceled
	if remain.IsZero() {
		status = pg.StatusCanceled
	}
	if !total.IsSet() {
		total = req.Balance
	}
	return &pg.Payment{
		PG: Name, PaymentKey: tid, OrderID: req.OrderID,
		Status: status, PGStatus: "PART_CANCEL", Method: req.Method,
		Amount: total, Balance: remain,
		Cancels: []pg.CancelRecord{{TransactionKey: cancelTID, Amount: amount, Reason: req.Reason, CanceledAt: at}},
		Data:    map[string]string{"tid": tid, "prtcCnt": f.str("prtcCnt")},
	}, nil
}

// Lookup asks INIAPI v2 inquiry for the payment, by tid when known (the
// request's key or the stored "tid"), otherwise by our order id. A tid or
// order id in the answer that is not the one asked for, or another merchant's
// record, is refused rather than trusted.
func (g *Gateway) Lookup(ctx context.Context, req pg.LookupRequest) (*pg.Payment, error) {
	const op = "lookup"
	data := inquiryData{TID: tidOf(req.PaymentKey, req.Prepared)}
	if data.TID != "" {
		if err := checkTID(op, data.TID); err != nil {
			return nil, err
		}
	} else {
		if req.OrderID == "" {
			return nil, invalid(op, "payment key (tid) or order id is required")
		}
		if err := checkOID(op, req.OrderID); err != nil {
			return nil, err
		}
		data.OID = req.OrderID
	}
	f, err := g.callAPI(ctx, op, typeInquiry, apiInquiry, data)
	if err != nil {
		return nil, err
	}
	p, err := parseInquiry(f)
	if err != nil {
		return nil, err
	}
	switch {
	case data.TID != "" && p.PaymentKey != data.TID:
		return nil, invalid(op, "inquiry answered for tid %q, asked %q", p.PaymentKey, data.TID)
	case req.OrderID != "" && p.OrderID != "" && p.OrderID != req.OrderID:
		return nil, invalid(op, "inquiry answered for order %q, asked %q", p.OrderID, req.OrderID)
	case p.Data["mid"] != "" && p.Data["mid"] != g.cfg.MID:
		return nil, invalid(op, "inquiry answered for merchant %q", p.Data["mid"])
	}
	return p, nil
}

// parseInquiry maps an inquiry answer onto a Payment. It reads what
// production integrations read: transactionStatus, the partial cancels
// (partCancelTransInfo), availablePartCancel and, for a virtual account,
// vacctInfo. A virtual account reports APPROVAL as soon as it is issued, so
// whether it is paid is decided by vacctInfo.depositStatus alone: an issued
// account is never read as captured. Fields that are absent are tolerated;
// fields that are present must make sense, or the answer is refused rather
// than guessed at.
func parseInquiry(f fields) (*pg.Payment, error) {
	const op = "lookup"
	bad := func(what string, err error) error {
		return fail(op, pg.KindInvalid, f.str("resultCode"), "inquiry answer: "+what, 0, err)
	}
	tid := f.str("tid")
	if tid == "" {
		return nil, bad("no tid", nil)
	}
	ts := f.str("transactionStatus")
	status, ok := transactionStatuses[ts]
	if !ok {
		return nil, bad(fmt.Sprintf("unknown transactionStatus %q", ts), nil)
	}
	amount, err := parseWon(f.str("price"))
	if err != nil {
		return nil, bad("price unreadable", err)
	}
	approvedAt, err := parseKST(f.str("approvedDate"), f.str("approvedTime"))
	if err != nil {
		return nil, bad("approvedDate unreadable", err)
	}
	vacct := f.obj("vacctInfo")
	p := &pg.Payment{
		PG: Name, PaymentKey: tid, OrderID: f.str("oid"),
		Status: status, PGStatus: ts, Method: methodOfAnswer(f.str("paymethod"), tid, vacct != nil),
		Amount: amount, ApprovedAt: approvedAt,
		Data: map[string]string{"tid": tid, "mid": f.str("mid"), "paymethod": f.str("paymethod")},
	}
	if v, ok := flag(f.str("availablePartCancel")); ok {
		p.Data["availablePartCancel"] = strconv.FormatBool(v)
	}
	paid := true // a payment that is not a virtual account is paid once approved
	if p.Method == pg.MethodVirtualAccount {
		if paid, err = readVacct(p, vacct); err != nil {
			return nil, bad(err.Error(), nil)
		}
	}
	canceled := pg.Won(0)
	parts := f.list("partCancelTransInfo")
	for _, part := range parts {
		m, err := parseWon(part.str("requestPrice"))
		if err != nil {
			return nil, bad("partCancelTransInfo requestPrice unreadable", err)
		}
		at, err := parseKST(part.str("requestDate"), part.str("requestTime"))
		if err != nil {
			return nil, bad("partCancelTransInfo date unreadable", err)
		}
		p.Cancels = append(p.Cancels, pg.CancelRecord{TransactionKey: part.str("tid"), Amount: m, CanceledAt: at})
		if canceled, err = canceled.Add(m); err != nil {
			return nil, bad("cancel total", err)
		}
	}
	sort.SliceStable(p.Cancels, func(i, j int) bool { return p.Cancels[i].CanceledAt.Before(p.Cancels[j].CanceledAt) })
	left, err := amount.Sub(canceled)
	if err != nil {
		return nil, bad(fmt.Sprintf("partial cancels %s exceed the price %s", canceled, amount), nil)
	}
	// availablePartCancelPrice appears only in third-party fixtures; read it
	// when it is there.
	if s := f.str("availablePartCancelPrice"); s != "" && status != pg.StatusCanceled {
		if left, err = parseWon(s); err != nil {
			return nil, bad("availablePartCancelPrice unreadable", err)
		}
	}
	switch {
	case !paid && (status == pg.StatusApproved || status == pg.StatusPartialCanceled):
		if len(p.Cancels) > 0 {
			return nil, bad("partial cancels of a virtual account that was not paid", nil)
		}
		p.Status, p.Balance = pg.StatusWaitingForDeposit, pg.Won(0)
	case status == pg.StatusCanceled:
		at, err := parseKST(f.str("cancelDate"), f.str("cancelTime"))
		if err != nil {
			return nil, bad("cancelDate unreadable", err)
		}
		// An account canceled before any deposit refunded nothing.
		if left.IsPositive() && paid {
			p.Cancels = append(p.Cancels, pg.CancelRecord{TransactionKey: tid, Amount: left, CanceledAt: at})
		}
		p.Balance = pg.Won(0)
	case status == pg.StatusWaitingForDeposit || status == pg.StatusExpired:
		p.Balance = pg.Won(0)
	case status == pg.StatusPartialCanceled:
		p.Balance = left
		if left.IsZero() {
			p.Status = pg.StatusCanceled
		}
	default:
		p.Balance = left
	}
	return p, nil
}

// readVacct reads an inquiry's vacctInfo into p and says whether the
// account was paid. Only a listed depositStatus reads as paid; without one
// the account is taken as not paid yet. A paid account's deposit must be
// for the price when the answer gives its amount, and its deposit time is
// when the payment was captured.
func readVacct(p *pg.Payment, v fields) (paid bool, err error) {
	if v == nil {
		return false, nil
	}
	due := v.str("validDate")
	dueClock := v.str("validTime")
	if len(due) == 14 && dueClock == "" {
		due, dueClock = due[:8], due[8:]
	}
	dueAt, _ := parseKST(due, dueClock) // informational: an odd format leaves it unset
	p.VirtualAccount = &pg.VirtualAccount{
		Bank: v.str("bankCode"), AccountNumber: v.str("accountNumber"), HolderName: v.str("accountName"), DueDate: dueAt,
	}
	ds := v.str("depositStatus")
	if ds == "" {
		return false, nil
	}
	paid, known := depositStatuses[ds]
	if !known {
		return false, fmt.Errorf("unknown vacctInfo.depositStatus %q", ds)
	}
	p.Data["depositStatus"] = ds
	if !paid {
		return false, nil
	}
	if s := v.str("depositAmount"); s != "" {
		m, err := parseWon(s)
		if err != nil {
			return false, fmt.Errorf("vacctInfo.depositAmount unreadable: %w", err)
		}
		if !m.Equal(p.Amount) {
			return false, fmt.Errorf("deposit of %s for a price of %s", m, p.Amount)
		}
	}
	at, err := parseKST(v.str("depositDate"), v.str("depositTime"))
	if err != nil {
		return false, fmt.Errorf("vacctInfo.depositDate unreadable: %w", err)
	}
	if !at.IsZero() {
		p.ApprovedAt = at
	}
	return true, nil
}

// flag reads a boolean Inicis field: a JSON boolean, or its text.
func flag(s string) (v, ok bool) {
	switch strings.ToLower(s) {
	case "true", "y", "1":
		return true, true
	case "false", "n", "0":
		return false, true
	}
	return false, false
}

// truncateUTF8 cuts s to at most n bytes on a rune boundary.
func truncateUTF8(s string, n int) string {
	for len(s) > n {
		_, size := utf8.DecodeLastRuneInString(s)
		s = s[:len(s)-size]
	}
	return s
}
