package inicis

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/shopspring/decimal"

	"github.com/paygate/paygate/pg"
)

// kst is Korea Standard Time. Korea has kept UTC+9 without daylight saving
// since 1988, so a fixed zone is exact and needs no tzdata.
var kst = time.FixedZone("KST", 9*60*60)

// apiTimestamp formats INIAPI's timestamp, YYYYMMDDhhmmss in KST.
func apiTimestamp(t time.Time) string { return t.In(kst).Format("20060102150405") }

// formTimestamp is the standard payment's timestamp: epoch milliseconds.
func formTimestamp(t time.Time) string { return strconv.FormatInt(t.UnixMilli(), 10) }

// parseKST reads a YYYYMMDD date and an optional hhmmss time as KST. Empty
// input is the zero time.
func parseKST(date, clock string) (time.Time, error) {
	date, clock = strings.TrimSpace(date), strings.TrimSpace(clock)
	if date == "" {
		return time.Time{}, nil
	}
	if clock == "" {
		clock = "000000"
	}
	if len(date) != 8 || len(clock) != 6 {
		return time.Time{}, fmt.Errorf("bad date/time %q %q", date, clock)
	}
	t, err := time.ParseInLocation("20060102150405", date+clock, kst)
	if err != nil {
		return time.Time{}, fmt.Errorf("bad date/time %q %q", date, clock)
	}
	return t, nil
}

// parseWon reads an Inicis amount (a string or number of whole won) exactly.
func parseWon(s string) (pg.Money, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return pg.Money{}, fmt.Errorf("%w: missing amount", pg.ErrInvalidMoney)
	}
	if len(s) > 20 {
		return pg.Money{}, fmt.Errorf("%w: amount too long", pg.ErrInvalidMoney)
	}
	d, err := decimal.NewFromString(s)
	if err != nil {
		return pg.Money{}, fmt.Errorf("%w: %q is not a number", pg.ErrInvalidMoney, s)
	}
	return pg.NewMoney(d, pg.KRW)
}

// wonString formats a KRW amount the way Inicis expects it: whole won, no
// separators. Other currencies are refused: the standard payment and INIAPI
// take won only.
func wonString(m pg.Money) (string, error) {
	if !m.IsSet() {
		return "", fmt.Errorf("%w: amount is required", pg.ErrInvalidMoney)
	}
	if m.Currency() != pg.KRW {
		return "", fmt.Errorf("%w: inicis takes KRW only, got %s", pg.ErrInvalidMoney, m.Currency())
	}
	return m.Amount().StringFixed(0), nil
}

// fields is a JSON object whose values are kept raw, so string and number
// amounts both decode exactly.
type fields map[string]json.RawMessage

// maxBody caps what is read from a response or a notification.
const maxBody = 1 << 20

var errNotObject = errors.New("not a JSON object")

func decodeFields(body []byte) (fields, error) {
	body = bytes.TrimSpace(body)
	if len(body) == 0 || body[0] != '{' {
		return nil, errNotObject
	}
	var f fields
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := dec.Decode(&f); err != nil {
		return nil, err
	}
	return f, nil
}

// str returns a field as text: strings unquoted, numbers as written, null
// and missing as "".
func (f fields) str(name string) string {
	raw, ok := f[name]
	if !ok {
		return ""
	}
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return ""
	}
	if raw[0] == '"' {
		var s string
		if json.Unmarshal(raw, &s) == nil {
			return strings.TrimSpace(s)
		}
		return ""
	}
	if raw[0] == '{' || raw[0] == '[' {
		return ""
	}
	return string(raw)
}

// obj returns a nested object, or nil.
func (f fields) obj(name string) fields {
	sub, err := decodeFields(f[name])
	if err != nil {
		return nil
	}
	return sub
}

// list returns a nested array of objects; entries that are not objects are
// skipped.
func (f fields) list(name string) []fields {
	var raws []json.RawMessage
	if json.Unmarshal(f[name], &raws) != nil {
		return nil
	}
	out := make([]fields, 0, len(raws))
	for _, r := range raws {
		if sub, err := decodeFields(r); err == nil {
			out = append(out, sub)
		}
	}
	return out
}

// marshalData encodes an INIAPI data object the way the hash is computed
// over it: no HTML escaping, "/" and non-ASCII as they are, no trailing
// newline.
func marshalData(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimRight(b.Bytes(), "\n"), nil
}

// methodOf maps Inicis payMethod / paymethod codes onto pg methods.
func methodOf(payMethod string) pg.Method {
	switch strings.ToLower(strings.TrimSpace(payMethod)) {
	case "card", "vcard", "isp":
		return pg.MethodCard
	case "vbank", "vacct":
		return pg.MethodVirtualAccount
	case "directbank", "bank", "acct":
		return pg.MethodTransfer
	case "hpp", "mobile":
		return pg.MethodMobilePhone
	case "":
		return ""
	case "kakaopay", "naverpay", "payco", "tosspay", "samsungpay", "lpay", "ssgpay", "applepay":
		return pg.MethodEasyPay
	default:
		return pg.MethodOther
	}
}

// methodOfAnswer is the method of an approval or inquiry answer: its
// paymethod, or, when the answer names none, a virtual account if it carries
// the account's details or its tid has the virtual-account prefix
// ("StdpayVBNK…", "INIMX_VBNK…": the 10-byte prefix ends in the method).
// An answer that names no method is never taken for a card: an issued
// account read as a card would read as captured.
func methodOfAnswer(payMethod, tid string, hasAccount bool) pg.Method {
	if m := methodOf(payMethod); m != "" {
		return m
	}
	if hasAccount || (len(tid) >= 10 && tid[6:10] == "VBNK") {
		return pg.MethodVirtualAccount
	}
	return ""
}

// goPayMethod is the form's gopaymethod for a requested method; empty lets
// the buyer choose in the window.
func goPayMethod(m pg.Method) (string, error) {
	switch m {
	case "":
		return "", nil
	case pg.MethodCard:
		return "Card", nil
	case pg.MethodVirtualAccount:
		return "VBank", nil
	case pg.MethodTransfer:
		return "DirectBank", nil
	case pg.MethodMobilePhone:
		return "HPP", nil
	default:
		return "", fmt.Errorf("inicis does not offer method %q in the standard window", m)
	}
}

// parseApproval reads the authUrl's answer.
func parseApproval(status int, body []byte) (*pg.Payment, error) {
	const op = "approve"
	f, err := decodeFields(body)
	if err != nil {
		if status != http.StatusOK {
			return nil, httpFailure(op, status, false)
		}
		// A 200 we cannot read may be an approval.
		return nil, fail(op, pg.KindUnknown, "", "unreadable approval response", status, err)
	}
	code := f.str("resultCode")
	if code == "" && status != http.StatusOK {
		return nil, httpFailure(op, status, false)
	}
	o := lookupCode(apiApprove, code)
	if !o.ok {
		e := fail(op, o.kind, code, firstNonEmpty(f.str("resultMsg"), o.reason), status, nil)
		e.Retryable = o.retryable
		return nil, e
	}
	bad := func(what string, cause error) error {
		// Inicis said approved but the record does not make sense: the money
		// may be captured, so this is unknown, to be looked up.
		return fail(op, pg.KindUnknown, code, "approved, but "+what, status, cause)
	}
	tid := f.str("tid")
	if tid == "" {
		return nil, bad("no tid", nil)
	}
	amount, err := parseWon(f.str("TotPrice"))
	if err != nil {
		return nil, bad("TotPrice unreadable", err)
	}
	approvedAt, err := parseKST(f.str("applDate"), f.str("applTime"))
	if err != nil {
		return nil, bad("applDate/applTime unreadable", err)
	}
	payMethod := f.str("payMethod")
	p := &pg.Payment{
		PG:         Name,
		PaymentKey: tid,
		RequestID:  tid,
		OrderID:    firstNonEmpty(f.str("MOID"), f.str("oid"), f.str("orderNumber")),
		Status:     pg.StatusApproved,
		PGStatus:   code,
		Method:     methodOfAnswer(payMethod, tid, f.str("VACT_Num") != ""),
		Amount:     amount,
		Balance:    amount,
		ApprovedAt: approvedAt,
		Data:       map[string]string{"tid": tid, "paymethod": payMethod, "mid": f.str("mid")},
	}
	if p.Method == pg.MethodVirtualAccount {
		due, err := parseKST(f.str("VACT_Date"), f.str("VACT_Time"))
		if err != nil {
			return nil, bad("VACT_Date/VACT_Time unreadable", err)
		}
		p.Status = pg.StatusWaitingForDeposit
		p.Balance = pg.Won(0)
		p.VirtualAccount = &pg.VirtualAccount{
			Bank:          f.str("VACT_BankCode"),
			AccountNumber: f.str("VACT_Num"),
			HolderName:    f.str("VACT_Name"),
			DueDate:       due,
		}
	}
	return p, nil
}

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
		Status: pg.StatusCanceled, PGStatus: "CANCEL", Method: req.Method, RequestID: tid,
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
		Status: status, PGStatus: "PART_CANCEL", Method: req.Method, RequestID: cancelTID,
		Amount: total, Balance: remain,
		Cancels: []pg.CancelRecord{{TransactionKey: cancelTID, Amount: amount, Reason: req.Reason, CanceledAt: at}},
		Data:    map[string]string{"tid": tid, "prtcCnt": f.str("prtcCnt")},
	}, nil
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
