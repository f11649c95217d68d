package tosspay

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/paygate/paygate/pg"
	"github.com/paygate/paygate/pg/pghttp"
)

// Request bodies. Amounts are JSON numbers written from the decimal, never
// through float64.

type confirmJSON struct {
	PaymentKey string      `json:"paymentKey"`
	OrderID    string      `json:"orderId"`
	Amount     json.Number `json:"amount"`
}

type cancelRequestJSON struct {
	CancelReason         string             `json:"cancelReason"`
	CancelAmount         json.Number        `json:"cancelAmount,omitempty"`
	RefundReceiveAccount *refundAccountJSON `json:"refundReceiveAccount,omitempty"`
	TaxFreeAmount        json.Number        `json:"taxFreeAmount,omitempty"`
	Currency             string             `json:"currency,omitempty"`
	RefundableAmount     json.Number        `json:"refundableAmount,omitempty"`
}

type refundAccountJSON struct {
	Bank          string `json:"bank"`
	AccountNumber string `json:"accountNumber"`
	HolderName    string `json:"holderName"`
}

func amountJSON(m pg.Money) json.Number { return json.Number(m.Amount().String()) }

// errorJSON is the core API error body {code, message}; the v2 resource APIs
// nest it under "error".
type errorJSON struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Error   *struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// paymentJSON is the Payment object (version 2022-11-16), the fields the
// adapter reads. Unknown fields are ignored: Toss adds fields without a new
// version.
type paymentJSON struct {
	Version            string          `json:"version"`
	PaymentKey         string          `json:"paymentKey"`
	Type               string          `json:"type"`
	OrderID            string          `json:"orderId"`
	OrderName          string          `json:"orderName"`
	MID                string          `json:"mId"`
	Currency           string          `json:"currency"`
	Method             string          `json:"method"`
	TotalAmount        json.RawMessage `json:"totalAmount"`
	BalanceAmount      json.RawMessage `json:"balanceAmount"`
	Status             string          `json:"status"`
	RequestedAt        string          `json:"requestedAt"`
	ApprovedAt         string          `json:"approvedAt"`
	LastTransactionKey string          `json:"lastTransactionKey"`
	// TransactionKey is what version 1.4 and older call lastTransactionKey.
	TransactionKey string              `json:"transactionKey"`
	Cancels        []cancelJSON        `json:"cancels"`
	Card           json.RawMessage     `json:"card"`
	VirtualAccount *virtualAccountJSON `json:"virtualAccount"`
	Transfer       json.RawMessage     `json:"transfer"`
	// EasyPay is an object {provider, amount, discountAmount} since
	// version 2022-06-08 and the provider's name as a bare string up to
	// 1.4; see easyPayProvider.
	EasyPay json.RawMessage `json:"easyPay"`
	Secret  string          `json:"secret"`
	Failure *struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"failure"`
}

type cancelJSON struct {
	CancelAmount     json.RawMessage `json:"cancelAmount"`
	CancelReason     string          `json:"cancelReason"`
	TaxFreeAmount    json.RawMessage `json:"taxFreeAmount"`
	RefundableAmount json.RawMessage `json:"refundableAmount"`
	CanceledAt       string          `json:"canceledAt"`
	TransactionKey   string          `json:"transactionKey"`
	ReceiptKey       string          `json:"receiptKey"`
	CancelStatus     string          `json:"cancelStatus"`
	CancelRequestID  string          `json:"cancelRequestId"`
	// Present on CANCEL_STATUS_CHANGED deliveries.
	PaymentKey string `json:"paymentKey"`
	OrderID    string `json:"orderId"`
}

// Institutions are named by numeric codes since version 2022-11-16
// (card.issuerCode and acquirerCode, virtualAccount.bankCode,
// transfer.bankCode). Merchants pinned to an older version (1.4 and before,
// and the 2022-06-08 and 2022-07-27 versions) get names instead:
// card.company, virtualAccount.bank, transfer.bank. Both shapes are read.

type cardJSON struct {
	IssuerCode   string `json:"issuerCode"`
	AcquirerCode string `json:"acquirerCode"`
	Company      string `json:"company"`
}

type transferJSON struct {
	BankCode string `json:"bankCode"`
	Bank     string `json:"bank"`
}

type virtualAccountJSON struct {
	AccountType    string `json:"accountType"`
	AccountNumber  string `json:"accountNumber"`
	BankCode       string `json:"bankCode"`
	Bank           string `json:"bank"`
	CustomerName   string `json:"customerName"`
	DueDate        string `json:"dueDate"`
	RefundStatus   string `json:"refundStatus"`
	Expired        bool   `json:"expired"`
	SettlementStat string `json:"settlementStatus"`
}

// methods maps Toss method names (Korean by default, English with
// Accept-Language: en-US) onto pg methods.
var methods = map[string]pg.Method{
	"카드": pg.MethodCard, "CARD": pg.MethodCard,
	"가상계좌": pg.MethodVirtualAccount, "VIRTUAL_ACCOUNT": pg.MethodVirtualAccount,
	"간편결제": pg.MethodEasyPay, "EASY_PAY": pg.MethodEasyPay,
	"휴대폰": pg.MethodMobilePhone, "MOBILE_PHONE": pg.MethodMobilePhone,
	"계좌이체": pg.MethodTransfer, "TRANSFER": pg.MethodTransfer,
	"문화상품권": pg.MethodOther, "CULTURE_GIFT_CERTIFICATE": pg.MethodOther,
	"도서문화상품권": pg.MethodOther, "BOOK_GIFT_CERTIFICATE": pg.MethodOther,
	"게임문화상품권": pg.MethodOther, "GAME_GIFT_CERTIFICATE": pg.MethodOther,
}

func methodOf(s string) pg.Method {
	if s == "" {
		return ""
	}
	if m, ok := methods[s]; ok {
		return m
	}
	return pg.MethodOther
}

// Keys of pg.Payment.Data. Institutions are Toss's numeric codes, or, for
// merchants pinned to a version before 2022-11-16, the names Toss sent
// instead; the key says which.
const (
	DataLastTransactionKey = "lastTransactionKey"
	DataFailureCode        = "failureCode"
	// DataCardIssuerCode and DataCardAcquirerCode are card.issuerCode and
	// card.acquirerCode; DataCardCompany is card.company, the card
	// company's name older versions send instead.
	DataCardIssuerCode   = "cardIssuerCode"
	DataCardAcquirerCode = "cardAcquirerCode"
	DataCardCompany      = "cardCompany"
	// DataBankCode is the bankCode of a virtual account or transfer;
	// DataBankName is the bank's name older versions send in "bank".
	// pg.VirtualAccount.Bank holds the code, or the name when only the
	// name came.
	DataBankCode = "bankCode"
	DataBankName = "bankName"
	// DataEasyPayProvider is the easy-pay provider's name (easyPay.provider,
	// or easyPay itself up to version 1.4).
	DataEasyPayProvider = "easyPayProvider"
)

// ErrMalformed is wrapped by decoding errors of Toss answers and webhooks.
var ErrMalformed = errors.New("tosspay: malformed message")

// decodePayment reads a Payment object into a pg.Payment. Amounts are
// decoded exactly in the payment's currency; a status the adapter does not
// know is an error, never a guess.
func decodePayment(data []byte) (*pg.Payment, error) {
	var pj paymentJSON
	if err := json.Unmarshal(data, &pj); err != nil {
		return nil, fmt.Errorf("%w: payment: %v", ErrMalformed, err)
	}
	return pj.toPayment()
}

func (pj *paymentJSON) toPayment() (*pg.Payment, error) {
	if pj.PaymentKey == "" && pj.OrderID == "" {
		return nil, fmt.Errorf("%w: payment without paymentKey and orderId", ErrMalformed)
	}
	info, ok := statuses[pj.Status]
	if !ok {
		return nil, fmt.Errorf("%w: unknown payment status %q", ErrMalformed, pj.Status)
	}
	cur := pg.Currency(pj.Currency)
	if cur == "" {
		cur = pg.KRW
	}
	total, err := money(pj.TotalAmount, cur, "totalAmount")
	if err != nil {
		return nil, err
	}
	balance := total
	if len(pj.BalanceAmount) > 0 && string(pj.BalanceAmount) != "null" {
		if balance, err = money(pj.BalanceAmount, cur, "balanceAmount"); err != nil {
			return nil, err
		}
	}
	p := &pg.Payment{
		PG: Name, PaymentKey: pj.PaymentKey, OrderID: pj.OrderID,
		Status: info.status, PGStatus: pj.Status, Method: methodOf(pj.Method),
		Amount: total, Balance: balance, Secret: pj.Secret, RequestID: pj.lastTxKey(),
	}
	if pj.ApprovedAt != "" {
		if p.ApprovedAt, err = parseTime(pj.ApprovedAt); err != nil {
			return nil, fmt.Errorf("%w: approvedAt: %v", ErrMalformed, err)
		}
	}
	for i, c := range pj.Cancels {
		// Only applied cancels count; an asynchronous one still IN_PROGRESS
		// or ABORTED moved no money.
		if c.CancelStatus != "" && c.CancelStatus != "DONE" {
			continue
		}
		amt, err := money(c.CancelAmount, cur, fmt.Sprintf("cancels[%d].cancelAmount", i))
		if err != nil {
			return nil, err
		}
		rec := pg.CancelRecord{TransactionKey: c.TransactionKey, Amount: amt, Reason: c.CancelReason}
		if c.CanceledAt != "" {
			if rec.CanceledAt, err = parseTime(c.CanceledAt); err != nil {
				return nil, fmt.Errorf("%w: cancels[%d].canceledAt: %v", ErrMalformed, i, err)
			}
		}
		p.Cancels = append(p.Cancels, rec)
	}
	data := map[string]string{}
	set := func(k, v string) {
		if v != "" {
			data[k] = v
		}
	}
	if va := pj.VirtualAccount; va != nil {
		v := &pg.VirtualAccount{Bank: va.BankCode, AccountNumber: va.AccountNumber, HolderName: va.CustomerName}
		if v.Bank == "" {
			v.Bank = va.Bank // the name, for merchants on an older version
		}
		if va.DueDate != "" {
			if v.DueDate, err = parseTime(va.DueDate); err != nil {
				return nil, fmt.Errorf("%w: virtualAccount.dueDate: %v", ErrMalformed, err)
			}
		}
		p.VirtualAccount = v
		set(DataBankCode, va.BankCode)
		set(DataBankName, va.Bank)
	}
	// card and transfer are information for operators: a shape the
	// adapter cannot read leaves them out rather than failing the payment.
	var c cardJSON
	if json.Unmarshal(pj.Card, &c) == nil {
		set(DataCardIssuerCode, c.IssuerCode)
		set(DataCardAcquirerCode, c.AcquirerCode)
		set(DataCardCompany, c.Company)
	}
	var t transferJSON
	if json.Unmarshal(pj.Transfer, &t) == nil {
		set(DataBankCode, t.BankCode)
		set(DataBankName, t.Bank)
	}
	set(DataEasyPayProvider, easyPayProvider(pj.EasyPay))
	set(DataLastTransactionKey, pj.lastTxKey())
	if pj.Failure != nil {
		set(DataFailureCode, pj.Failure.Code)
	}
	if len(data) > 0 {
		p.Data = data
	}
	return p, nil
}

// lastTxKey is the key of the payment's latest transaction, by its current
// name or the one of version 1.4 and older.
func (pj *paymentJSON) lastTxKey() string {
	if pj.LastTransactionKey != "" {
		return pj.LastTransactionKey
	}
	return pj.TransactionKey
}

// easyPayProvider reads easyPay in either shape: {"provider": "토스페이", …}
// (2022-06-08 and later) or "토스페이" (1.4 and before). Anything else, or
// null, has no provider; easyPay is information, never a reason to refuse
// the payment.
func easyPayProvider(raw json.RawMessage) string {
	var name string
	if json.Unmarshal(raw, &name) == nil {
		return name
	}
	var obj struct {
		Provider string `json:"provider"`
	}
	if json.Unmarshal(raw, &obj) == nil {
		return obj.Provider
	}
	return ""
}

func money(raw json.RawMessage, cur pg.Currency, field string) (pg.Money, error) {
	d, err := pg.DecodeAmount(raw)
	if err != nil {
		return pg.Money{}, fmt.Errorf("%w: %s: %w", ErrMalformed, field, err)
	}
	m, err := pg.NewMoney(d, cur)
	if err != nil {
		return pg.Money{}, fmt.Errorf("%w: %s: %w", ErrMalformed, field, err)
	}
	return m, nil
}

// seoul is Korea Standard Time; Korea keeps no daylight saving time, so a
// fixed zone is exact and needs no tz database.
var seoul = time.FixedZone("KST", 9*60*60)

// parseTime reads Toss timestamps: ISO-8601 with an offset
// ("2022-01-01T00:00:00+09:00"), or without one in Asia/Seoul (webhook
// createdAt "2026-01-02T14:46:59.65327", settlement dates "2022-01-01").
func parseTime(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	for _, layout := range []string{"2006-01-02T15:04:05.999999999", "2006-01-02T15:04:05", "2006-01-02"} {
		if t, err := time.ParseInLocation(layout, s, seoul); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("unrecognised time %q", s)
}

// paymentOrError decodes a 200 Payment answer, or maps an error answer.
func (g *Gateway) paymentOrError(op string, resp *pghttp.Response) (*pg.Payment, error) {
	if resp.StatusCode != http.StatusOK {
		return nil, errorFromResponse(op, resp)
	}
	p, err := decodePayment(resp.Body)
	if err != nil {
		// Toss answered 200 and we cannot read it: the call happened.
		return nil, &pg.Error{PG: Name, Op: op, Kind: pg.KindUnknown, Code: "UNREADABLE_RESPONSE",
			HTTPStatus: resp.StatusCode, Message: "cannot decode the payment; look it up", Err: err}
	}
	return p, nil
}
