package tosspay

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/paygate/paygate/pg"
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
	Version            string              `json:"version"`
	PaymentKey         string              `json:"paymentKey"`
	Type               string              `json:"type"`
	OrderID            string              `json:"orderId"`
	OrderName          string              `json:"orderName"`
	MID                string              `json:"mId"`
	Currency           string              `json:"currency"`
	Method             string              `json:"method"`
	TotalAmount        json.RawMessage     `json:"totalAmount"`
	BalanceAmount      json.RawMessage     `json:"balanceAmount"`
	Status             string              `json:"status"`
	RequestedAt        string              `json:"requestedAt"`
	ApprovedAt         string              `json:"approvedAt"`
	LastTransactionKey string              `json:"lastTransactionKey"`
	Cancels            []cancelJSON        `json:"cancels"`
	VirtualAccount     *virtualAccountJSON `json:"virtualAccount"`
	Secret             string              `json:"secret"`
	Failure            *struct {
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

type virtualAccountJSON struct {
	AccountType    string `json:"accountType"`
	AccountNumber  string `json:"accountNumber"`
	BankCode       string `json:"bankCode"`
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
		Amount: total, Balance: balance, Secret: pj.Secret,
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
	if va := pj.VirtualAccount; va != nil {
		v := &pg.VirtualAccount{Bank: va.BankCode, AccountNumber: va.AccountNumber, HolderName: va.CustomerName}
		if va.DueDate != "" {
			if v.DueDate, err = parseTime(va.DueDate); err != nil {
				return nil, fmt.Errorf("%w: virtualAccount.dueDate: %v", ErrMalformed, err)
			}
		}
		p.VirtualAccount = v
	}
	if pj.LastTransactionKey != "" || pj.Failure != nil {
		p.Data = map[string]string{}
		if pj.LastTransactionKey != "" {
			p.Data["lastTransactionKey"] = pj.LastTransactionKey
		}
		if pj.Failure != nil && pj.Failure.Code != "" {
			p.Data["failureCode"] = pj.Failure.Code
		}
	}
	return p, nil
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
