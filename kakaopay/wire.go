package kakaopay

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/paygate/paygate/pg"
)

// codec is the one switch between KakaoPay's two API generations: where a
// call goes, how it authenticates, how its body is encoded. Responses have
// the same shape in both (errors aside, see errorBody).
type codec struct{ legacy bool }

func (c codec) defaultBaseURL() string {
	if c.legacy {
		return LegacyBaseURL
	}
	return DefaultBaseURL
}

// path is the API path of a call ("ready", "approve", "order", "cancel").
func (c codec) path(call string) string {
	if c.legacy {
		return "/v1/payment/" + call
	}
	return "/online/v1/payment/" + call
}

func (c codec) authorization(key string) string {
	if c.legacy {
		return "KakaoAK " + key
	}
	return "SECRET_KEY " + key
}

// wireRequest is a request body; fields gives its parameters in order, for
// the form encoding of the legacy API.
type wireRequest interface {
	fields() []field
}

// field is one parameter; omitted when empty and optional.
type field struct {
	name     string
	value    string
	optional bool
}

func num(n int64) string { return strconv.FormatInt(n, 10) }

// encode returns the body and its Content-Type.
func (c codec) encode(r wireRequest) ([]byte, string, error) {
	if c.legacy {
		v := url.Values{}
		for _, f := range r.fields() {
			if f.optional && f.value == "" {
				continue
			}
			v.Set(f.name, f.value)
		}
		return []byte(v.Encode()), "application/x-www-form-urlencoded;charset=utf-8", nil
	}
	b, err := json.Marshal(r)
	if err != nil {
		return nil, "", err
	}
	return b, "application/json", nil
}

type readyRequest struct {
	CID               string `json:"cid"`
	CIDSecret         string `json:"cid_secret,omitempty"`
	PartnerOrderID    string `json:"partner_order_id"`
	PartnerUserID     string `json:"partner_user_id"`
	ItemName          string `json:"item_name"`
	Quantity          int64  `json:"quantity"`
	TotalAmount       int64  `json:"total_amount"`
	TaxFreeAmount     int64  `json:"tax_free_amount"`
	ApprovalURL       string `json:"approval_url"`
	CancelURL         string `json:"cancel_url"`
	FailURL           string `json:"fail_url"`
	PaymentMethodType string `json:"payment_method_type,omitempty"`
}

func (r readyRequest) fields() []field {
	return []field{
		{name: "cid", value: r.CID},
		{name: "cid_secret", value: r.CIDSecret, optional: true},
		{name: "partner_order_id", value: r.PartnerOrderID},
		{name: "partner_user_id", value: r.PartnerUserID},
		{name: "item_name", value: r.ItemName},
		{name: "quantity", value: num(r.Quantity)},
		{name: "total_amount", value: num(r.TotalAmount)},
		{name: "tax_free_amount", value: num(r.TaxFreeAmount)},
		{name: "approval_url", value: r.ApprovalURL},
		{name: "cancel_url", value: r.CancelURL},
		{name: "fail_url", value: r.FailURL},
		{name: "payment_method_type", value: r.PaymentMethodType, optional: true},
	}
}

type approveRequest struct {
	CID            string `json:"cid"`
	CIDSecret      string `json:"cid_secret,omitempty"`
	TID            string `json:"tid"`
	PartnerOrderID string `json:"partner_order_id"`
	PartnerUserID  string `json:"partner_user_id"`
	PGToken        string `json:"pg_token"`
	Payload        string `json:"payload,omitempty"`
	// TotalAmount makes KakaoPay refuse an approval for another amount than
	// the one readied. The legacy API has no such field.
	TotalAmount int64 `json:"total_amount,omitempty"`
}

func (r approveRequest) fields() []field {
	return []field{
		{name: "cid", value: r.CID},
		{name: "cid_secret", value: r.CIDSecret, optional: true},
		{name: "tid", value: r.TID},
		{name: "partner_order_id", value: r.PartnerOrderID},
		{name: "partner_user_id", value: r.PartnerUserID},
		{name: "pg_token", value: r.PGToken},
		{name: "payload", value: r.Payload, optional: true},
	}
}

type orderRequest struct {
	CID       string `json:"cid"`
	CIDSecret string `json:"cid_secret,omitempty"`
	TID       string `json:"tid"`
}

func (r orderRequest) fields() []field {
	return []field{
		{name: "cid", value: r.CID},
		{name: "cid_secret", value: r.CIDSecret, optional: true},
		{name: "tid", value: r.TID},
	}
}

type cancelRequest struct {
	CID                 string `json:"cid"`
	CIDSecret           string `json:"cid_secret,omitempty"`
	TID                 string `json:"tid"`
	CancelAmount        int64  `json:"cancel_amount"`
	CancelTaxFreeAmount int64  `json:"cancel_tax_free_amount"`
	// CancelAvailableAmount is the balance guard: KakaoPay refuses the
	// cancel unless the cancelable balance is exactly this, so a partial
	// cancel retried after an unknown outcome is not applied twice.
	CancelAvailableAmount *int64 `json:"cancel_available_amount,omitempty"`
	Payload               string `json:"payload,omitempty"`
}

func (r cancelRequest) fields() []field {
	guard := ""
	if r.CancelAvailableAmount != nil {
		guard = num(*r.CancelAvailableAmount)
	}
	return []field{
		{name: "cid", value: r.CID},
		{name: "cid_secret", value: r.CIDSecret, optional: true},
		{name: "tid", value: r.TID},
		{name: "cancel_amount", value: num(r.CancelAmount)},
		{name: "cancel_tax_free_amount", value: num(r.CancelTaxFreeAmount)},
		{name: "cancel_available_amount", value: guard, optional: true},
		{name: "payload", value: r.Payload, optional: true},
	}
}

// won is a KakaoPay amount: whole won, decoded exactly from a JSON number or
// a string holding one. A missing or null amount stays unset.
type won struct{ pg.Money }

func (w *won) UnmarshalJSON(b []byte) error {
	if s := bytes.TrimSpace(b); len(s) == 0 || bytes.Equal(s, []byte("null")) {
		w.Money = pg.Money{}
		return nil
	}
	d, err := pg.DecodeAmount(b)
	if err != nil {
		return err
	}
	m, err := pg.NewMoney(d, pg.KRW)
	if err != nil {
		return err
	}
	w.Money = m
	return nil
}

// amountJSON is KakaoPay's amount object.
type amountJSON struct {
	Total        won `json:"total"`
	TaxFree      won `json:"tax_free"`
	VAT          won `json:"vat"`
	Point        won `json:"point"`
	Discount     won `json:"discount"`
	GreenDeposit won `json:"green_deposit"`
}

// kakaoTime is a KakaoPay timestamp. KakaoPay sends Seoul time without an
// offset ("2023-07-15T21:18:22"); an offset, when present, is honoured.
type kakaoTime struct{ time.Time }

var seoul = func() *time.Location {
	if loc, err := time.LoadLocation("Asia/Seoul"); err == nil {
		return loc
	}
	// Korea has kept +09:00 without daylight saving since 1988.
	return time.FixedZone("KST", 9*60*60)
}()

var offsetlessLayouts = []string{
	"2006-01-02T15:04:05.999999999",
	"2006-01-02 15:04:05.999999999",
}

func (t *kakaoTime) UnmarshalJSON(b []byte) error {
	if s := bytes.TrimSpace(b); len(s) == 0 || bytes.Equal(s, []byte("null")) {
		t.Time = time.Time{}
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("timestamp: %w", err)
	}
	parsed, err := parseTime(s)
	if err != nil {
		return err
	}
	t.Time = parsed
	return nil
}

// parseTime reads a KakaoPay timestamp; "" is the zero time.
func parseTime(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	for _, layout := range offsetlessLayouts {
		if t, err := time.ParseInLocation(layout, s, seoul); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("timestamp %q is not a KakaoPay date-time", s)
}

type readyResponse struct {
	TID                   string    `json:"tid"`
	NextRedirectAppURL    string    `json:"next_redirect_app_url"`
	NextRedirectMobileURL string    `json:"next_redirect_mobile_url"`
	NextRedirectPCURL     string    `json:"next_redirect_pc_url"`
	AndroidAppScheme      string    `json:"android_app_scheme"`
	IOSAppScheme          string    `json:"ios_app_scheme"`
	CreatedAt             kakaoTime `json:"created_at"`
}

type cardInfoJSON struct {
	KakaopayPurchaseCorp     string `json:"kakaopay_purchase_corp"`
	KakaopayPurchaseCorpCode string `json:"kakaopay_purchase_corp_code"`
	KakaopayIssuerCorp       string `json:"kakaopay_issuer_corp"`
	KakaopayIssuerCorpCode   string `json:"kakaopay_issuer_corp_code"`
	PurchaseCorp             string `json:"purchase_corp"`
	PurchaseCorpCode         string `json:"purchase_corp_code"`
	IssuerCorp               string `json:"issuer_corp"`
	IssuerCorpCode           string `json:"issuer_corp_code"`
	Bin                      string `json:"bin"`
	CardType                 string `json:"card_type"`
	InstallMonth             string `json:"install_month"`
	ApprovedID               string `json:"approved_id"`
	CardMID                  string `json:"card_mid"`
	InterestFreeInstall      string `json:"interest_free_install"`
	InstallmentType          string `json:"installment_type"`
	CardItemCode             string `json:"card_item_code"`
}

type approveResponse struct {
	AID               string        `json:"aid"`
	TID               string        `json:"tid"`
	CID               string        `json:"cid"`
	SID               string        `json:"sid"`
	PartnerOrderID    string        `json:"partner_order_id"`
	PartnerUserID     string        `json:"partner_user_id"`
	PaymentMethodType string        `json:"payment_method_type"`
	Amount            amountJSON    `json:"amount"`
	CardInfo          *cardInfoJSON `json:"card_info"`
	ItemName          string        `json:"item_name"`
	ItemCode          string        `json:"item_code"`
	CreatedAt         kakaoTime     `json:"created_at"`
	ApprovedAt        kakaoTime     `json:"approved_at"`
	Payload           string        `json:"payload"`
}

type actionJSON struct {
	AID               string    `json:"aid"`
	ApprovedAt        kakaoTime `json:"approved_at"`
	Amount            won       `json:"amount"`
	PointAmount       won       `json:"point_amount"`
	DiscountAmount    won       `json:"discount_amount"`
	GreenDeposit      won       `json:"green_deposit"`
	PaymentActionType string    `json:"payment_action_type"`
	Payload           string    `json:"payload"`
}

type orderResponse struct {
	TID                   string       `json:"tid"`
	CID                   string       `json:"cid"`
	Status                string       `json:"status"`
	PartnerOrderID        string       `json:"partner_order_id"`
	PartnerUserID         string       `json:"partner_user_id"`
	PaymentMethodType     string       `json:"payment_method_type"`
	Amount                amountJSON   `json:"amount"`
	CanceledAmount        amountJSON   `json:"canceled_amount"`
	CancelAvailableAmount amountJSON   `json:"cancel_available_amount"`
	ItemName              string       `json:"item_name"`
	ItemCode              string       `json:"item_code"`
	CreatedAt             kakaoTime    `json:"created_at"`
	ApprovedAt            kakaoTime    `json:"approved_at"`
	CanceledAt            kakaoTime    `json:"canceled_at"`
	PaymentActionDetails  []actionJSON `json:"payment_action_details"`
}

type cancelResponse struct {
	AID                   string     `json:"aid"`
	TID                   string     `json:"tid"`
	CID                   string     `json:"cid"`
	Status                string     `json:"status"`
	PartnerOrderID        string     `json:"partner_order_id"`
	PartnerUserID         string     `json:"partner_user_id"`
	PaymentMethodType     string     `json:"payment_method_type"`
	Amount                amountJSON `json:"amount"`
	ApprovedCancelAmount  amountJSON `json:"approved_cancel_amount"`
	CanceledAmount        amountJSON `json:"canceled_amount"`
	CancelAvailableAmount amountJSON `json:"cancel_available_amount"`
	ItemName              string     `json:"item_name"`
	ItemCode              string     `json:"item_code"`
	CreatedAt             kakaoTime  `json:"created_at"`
	ApprovedAt            kakaoTime  `json:"approved_at"`
	CanceledAt            kakaoTime  `json:"canceled_at"`
	Payload               string     `json:"payload"`
}

// decode reads a success body. Unknown fields are ignored: KakaoPay adds
// fields without notice.
func decode(body []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return fmt.Errorf("trailing data after the JSON object")
	}
	return nil
}

func methodOf(t string) pg.Method {
	switch t {
	case "":
		return ""
	case "CARD":
		return pg.MethodCard
	case "MONEY":
		return pg.MethodMoney
	default:
		return pg.MethodOther
	}
}

// errorBody is KakaoPay's error answer: current API
// {"error_code", "error_message", "extras"}, legacy
// {"code", "msg", "extras"}.
type errorBody struct {
	ErrorCode    json.RawMessage            `json:"error_code"`
	ErrorMessage string                     `json:"error_message"`
	Code         json.RawMessage            `json:"code"`
	Msg          string                     `json:"msg"`
	Extras       map[string]json.RawMessage `json:"extras"`
}

// parsedError is an error answer's content.
type parsedError struct {
	code          int
	hasCode       bool
	message       string
	methodCode    string
	methodMessage string
}

// parseError reads an error body of either generation; ok is false when the
// body holds neither shape.
func parseError(body []byte) (parsedError, bool) {
	var b errorBody
	if err := json.Unmarshal(body, &b); err != nil {
		return parsedError{}, false
	}
	var p parsedError
	raw := b.ErrorCode
	if len(bytes.TrimSpace(raw)) == 0 || string(bytes.TrimSpace(raw)) == "null" {
		raw = b.Code
	}
	p.code, p.hasCode = parseCode(raw)
	p.message = b.ErrorMessage
	if p.message == "" {
		p.message = b.Msg
	}
	p.methodCode = extraString(b.Extras, "method_result_code")
	p.methodMessage = extraString(b.Extras, "method_result_message")
	return p, p.hasCode || p.message != ""
}

// parseCode reads an error code sent as a number or as a string.
func parseCode(raw json.RawMessage) (int, bool) {
	s := strings.TrimSpace(string(raw))
	if s == "" || s == "null" {
		return 0, false
	}
	if s[0] == '"' {
		if err := json.Unmarshal(raw, &s); err != nil {
			return 0, false
		}
	}
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil {
		return 0, false
	}
	return n, true
}

func extraString(extras map[string]json.RawMessage, key string) string {
	raw, ok := extras[key]
	if !ok {
		return ""
	}
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		return s
	}
	return strings.TrimSpace(string(raw))
}

// The answers are normalised into pg.Payment here. A success answer missing
// what the money depends on (tid, amounts, a documented status) is a
// KindUnknown error: the call went through and its effect must be looked up,
// not guessed.

func dataOf(tid, cid, orderID, userID string) map[string]string {
	return map[string]string{DataTID: tid, DataCID: cid, DataPartnerOrderID: orderID, DataPartnerUserID: userID}
}

func paymentFromApprove(r approveResponse) (*pg.Payment, error) {
	if r.TID == "" {
		return nil, badResponse(opApprove, http.StatusOK, "approval answer without tid", nil)
	}
	if !r.Amount.Total.IsSet() {
		return nil, badResponse(opApprove, http.StatusOK, "approval answer without amount.total", nil)
	}
	data := dataOf(r.TID, r.CID, r.PartnerOrderID, r.PartnerUserID)
	data[DataAID] = r.AID
	return &pg.Payment{
		PG: Name, PaymentKey: r.TID, OrderID: r.PartnerOrderID,
		Status: pg.StatusApproved, PGStatus: statusSuccessPayment, RequestID: r.AID,
		Method: methodOf(r.PaymentMethodType),
		Amount: r.Amount.Total.Money, Balance: r.Amount.Total.Money,
		ApprovedAt: r.ApprovedAt.Time,
		Data:       data,
	}, nil
}

// paymentFromOrder normalises an order lookup. Cancels lists every cancel
// in payment_action_details, with the action's payload as Reason (Cancel
// sends the CancelID there; KakaoPay keeps no cancel reason).
//
// Entries of payment_action_details may lack amount (seen live). Such an
// entry never fails the lookup: the payment's amount and balance come from
// amount and cancel_available_amount, not from the entries. A cancel
// without an amount gets the one that the canceled total leaves for it
// when it is the only such cancel; otherwise it is left out of Cancels,
// which lists only cancels whose amount is known.
func paymentFromOrder(r orderResponse, op string) (*pg.Payment, error) {
	if r.TID == "" {
		return nil, badResponse(op, http.StatusOK, "lookup answer without tid", nil)
	}
	status, ok := mapStatus(r.Status)
	if !ok {
		return nil, &pg.Error{PG: Name, Op: op, Kind: pg.KindUnknown, Code: "UNKNOWN_STATUS", HTTPStatus: http.StatusOK,
			Message: fmt.Sprintf("KakaoPay status %q is not documented", r.Status)}
	}
	p := &pg.Payment{
		PG: Name, PaymentKey: r.TID, OrderID: r.PartnerOrderID,
		Status: status, PGStatus: r.Status,
		Method:     methodOf(r.PaymentMethodType),
		Amount:     r.Amount.Total.Money,
		ApprovedAt: r.ApprovedAt.Time,
		Data:       dataOf(r.TID, r.CID, r.PartnerOrderID, r.PartnerUserID),
	}
	for _, a := range r.PaymentActionDetails {
		if a.PaymentActionType != "CANCEL" {
			continue
		}
		p.Cancels = append(p.Cancels, pg.CancelRecord{
			TransactionKey: a.AID, Amount: a.Amount.Money, Reason: a.Payload, CanceledAt: a.ApprovedAt.Time,
		})
	}
	if !status.Captured() && status != pg.StatusCanceled {
		p.Balance = r.CancelAvailableAmount.Total.Money
		p.Cancels = withoutUnknownAmounts(p.Cancels)
		return p, nil
	}
	// Money moved: the amounts must add up.
	if !p.Amount.IsSet() {
		return nil, badResponse(op, http.StatusOK, "lookup answer without amount.total for status "+r.Status, nil)
	}
	p.Balance = r.CancelAvailableAmount.Total.Money
	if !p.Balance.IsSet() {
		// Older answers omit the balance; it is what was not canceled.
		canceled := r.CanceledAmount.Total.Money
		if !canceled.IsSet() {
			canceled = pg.Won(0)
		}
		b, err := p.Amount.Sub(canceled)
		if err != nil {
			return nil, badResponse(op, http.StatusOK, "canceled amount exceeds the amount", err)
		}
		p.Balance = b
	}
	if c, err := p.Balance.Cmp(p.Amount); err != nil || c > 0 {
		return nil, badResponse(op, http.StatusOK, fmt.Sprintf("cancelable %s exceeds the amount %s", p.Balance, p.Amount), err)
	}
	if status == pg.StatusCanceled && !p.Balance.IsZero() {
		return nil, badResponse(op, http.StatusOK, "CANCEL_PAYMENT with a cancelable balance of "+p.Balance.String(), nil)
	}
	canceled, err := p.Amount.Sub(p.Balance)
	if err != nil {
		return nil, badResponse(op, http.StatusOK, "amount minus balance", err)
	}
	p.Cancels = fillMissingCancel(p.Cancels, canceled)
	return p, nil
}

// fillMissingCancel gives the one cancel without an amount what canceled
// (the payment's canceled total) leaves after the others, and drops
// cancels whose amount stays unknown: several without one, or totals that
// do not add up.
func fillMissingCancel(cs []pg.CancelRecord, canceled pg.Money) []pg.CancelRecord {
	missing, rest := -1, canceled
	for i, c := range cs {
		if !c.Amount.IsSet() {
			if missing >= 0 {
				return withoutUnknownAmounts(cs)
			}
			missing = i
			continue
		}
		var err error
		if rest, err = rest.Sub(c.Amount); err != nil {
			return withoutUnknownAmounts(cs)
		}
	}
	if missing >= 0 && rest.IsPositive() {
		cs[missing].Amount = rest
	}
	return withoutUnknownAmounts(cs)
}

func withoutUnknownAmounts(cs []pg.CancelRecord) []pg.CancelRecord {
	out := cs[:0]
	for _, c := range cs {
		if c.Amount.IsSet() {
			out = append(out, c)
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// paymentFromCancel normalises a cancel answer. Cancels holds the cancel just
// applied; the full history is in Lookup.
func paymentFromCancel(r cancelResponse) (*pg.Payment, error) {
	if r.TID == "" {
		return nil, badResponse(opCancel, http.StatusOK, "cancel answer without tid", nil)
	}
	status, ok := mapStatus(r.Status)
	if !ok || (status != pg.StatusPartialCanceled && status != pg.StatusCanceled) {
		return nil, badResponse(opCancel, http.StatusOK, fmt.Sprintf("cancel answered with status %q", r.Status), nil)
	}
	amount, balance, canceled := r.Amount.Total.Money, r.CancelAvailableAmount.Total.Money, r.ApprovedCancelAmount.Total.Money
	if !amount.IsSet() || !balance.IsSet() || !canceled.IsSet() {
		return nil, badResponse(opCancel, http.StatusOK, "cancel answer without amount, approved_cancel_amount or cancel_available_amount", nil)
	}
	if c, err := balance.Cmp(amount); err != nil || c > 0 {
		return nil, badResponse(opCancel, http.StatusOK, fmt.Sprintf("cancelable %s exceeds the amount %s", balance, amount), err)
	}
	data := dataOf(r.TID, r.CID, r.PartnerOrderID, r.PartnerUserID)
	return &pg.Payment{
		PG: Name, PaymentKey: r.TID, OrderID: r.PartnerOrderID,
		Status: status, PGStatus: r.Status, RequestID: r.AID,
		Method: methodOf(r.PaymentMethodType),
		Amount: amount, Balance: balance,
		ApprovedAt: r.ApprovedAt.Time,
		Cancels: []pg.CancelRecord{{
			TransactionKey: r.AID, Amount: canceled, Reason: r.Payload, CanceledAt: r.CanceledAt.Time,
		}},
		Data: data,
	}, nil
}
