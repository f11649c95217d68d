package tosspaytest

import (
	"encoding/json"
	"time"

	"github.com/shopspring/decimal"
)

// kst is Korea Standard Time (no daylight saving).
var kst = time.FixedZone("KST", 9*60*60)

// formatTime writes Toss's ISO-8601 with the +09:00 offset.
func formatTime(t time.Time) string { return t.In(kst).Format("2006-01-02T15:04:05-07:00") }

func num(d decimal.Decimal) json.Number { return json.Number(d.String()) }

// The Payment object, version 2022-11-16, as Toss writes it: every field
// present, nullable ones as null.
type paymentJSON struct {
	MID                 string            `json:"mId"`
	LastTransactionKey  *string           `json:"lastTransactionKey"`
	PaymentKey          string            `json:"paymentKey"`
	OrderID             string            `json:"orderId"`
	OrderName           string            `json:"orderName"`
	TaxExemptionAmount  json.Number       `json:"taxExemptionAmount"`
	Status              string            `json:"status"`
	RequestedAt         string            `json:"requestedAt"`
	ApprovedAt          *string           `json:"approvedAt"`
	UseEscrow           bool              `json:"useEscrow"`
	CultureExpense      bool              `json:"cultureExpense"`
	Card                *cardJSON         `json:"card"`
	VirtualAccount      any               `json:"virtualAccount"`
	Transfer            any               `json:"transfer"`
	MobilePhone         any               `json:"mobilePhone"`
	GiftCertificate     any               `json:"giftCertificate"`
	CashReceipt         any               `json:"cashReceipt"`
	CashReceipts        any               `json:"cashReceipts"`
	Discount            any               `json:"discount"`
	Cancels             []cancelJSON      `json:"cancels"`
	Secret              *string           `json:"secret"`
	Type                string            `json:"type"`
	EasyPay             any               `json:"easyPay"`
	Country             string            `json:"country"`
	Failure             *failureJSON      `json:"failure"`
	IsPartialCancelable bool              `json:"isPartialCancelable"`
	Receipt             *urlJSON          `json:"receipt"`
	Checkout            *urlJSON          `json:"checkout"`
	Currency            string            `json:"currency"`
	TotalAmount         json.Number       `json:"totalAmount"`
	BalanceAmount       json.Number       `json:"balanceAmount"`
	SuppliedAmount      json.Number       `json:"suppliedAmount"`
	Vat                 json.Number       `json:"vat"`
	TaxFreeAmount       json.Number       `json:"taxFreeAmount"`
	Metadata            map[string]string `json:"metadata"`
	Method              string            `json:"method"`
	Version             string            `json:"version"`
	// v14 writes the object as a merchant pinned to version 1.4 gets it.
	v14 bool
}

// MarshalJSON writes the Payment in the merchant's API version.
func (p paymentJSON) MarshalJSON() ([]byte, error) {
	type plain paymentJSON
	b, err := json.Marshal(plain(p))
	if err != nil || !p.v14 {
		return b, err
	}
	return toV14(b)
}

// toV14 rewrites a 2022-11-16 Payment the way version 1.4 shaped it:
// transactionKey for lastTransactionKey, institutions by name
// (card.company, virtualAccount.bank, transfer.bank) instead of numeric
// codes, easyPay as the provider's name alone.
func toV14(b []byte) ([]byte, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, err
	}
	rename := func(obj map[string]json.RawMessage, from, to string, names map[string]string) {
		raw, ok := obj[from]
		if !ok {
			return
		}
		delete(obj, from)
		var code string
		if json.Unmarshal(raw, &code) == nil {
			if name, ok := names[code]; ok {
				raw, _ = json.Marshal(name)
			}
		}
		obj[to] = raw
	}
	sub := func(key string, fn func(map[string]json.RawMessage)) error {
		var obj map[string]json.RawMessage
		if raw := m[key]; len(raw) == 0 || json.Unmarshal(raw, &obj) != nil || obj == nil {
			return nil // null or absent
		}
		fn(obj)
		raw, err := json.Marshal(obj)
		m[key] = raw
		return err
	}
	rename(m, "lastTransactionKey", "transactionKey", nil)
	if err := sub("card", func(c map[string]json.RawMessage) {
		rename(c, "issuerCode", "company", cardNames)
		delete(c, "acquirerCode")
	}); err != nil {
		return nil, err
	}
	for _, k := range []string{"virtualAccount", "transfer"} {
		if err := sub(k, func(o map[string]json.RawMessage) { rename(o, "bankCode", "bank", bankNames) }); err != nil {
			return nil, err
		}
	}
	var easy struct {
		Provider *string `json:"provider"`
	}
	if raw := m["easyPay"]; len(raw) > 0 && json.Unmarshal(raw, &easy) == nil && easy.Provider != nil {
		m["easyPay"], _ = json.Marshal(*easy.Provider)
	}
	m["version"] = json.RawMessage(`"1.4"`)
	return json.Marshal(m)
}

// Names version 1.4 used for the institutions the sandbox issues, by the
// numeric codes of 2022-11-16.
var (
	cardNames = map[string]string{
		"11": "국민", "21": "하나", "31": "비씨", "33": "우리", "41": "신한",
		"51": "삼성", "61": "현대", "71": "롯데", "91": "농협",
	}
	bankNames = map[string]string{
		"02": "산업", "03": "기업", "04": "국민", "07": "수협", "11": "농협", "20": "우리",
		"23": "SC제일", "27": "씨티", "31": "대구", "32": "부산", "34": "광주", "35": "제주",
		"37": "전북", "39": "경남", "45": "새마을", "48": "신협", "71": "우체국", "81": "하나",
		"88": "신한", "89": "케이뱅크", "90": "카카오뱅크", "92": "토스뱅크",
	}
)

type cardJSON struct {
	IssuerCode            string      `json:"issuerCode"`
	AcquirerCode          string      `json:"acquirerCode"`
	Number                string      `json:"number"`
	InstallmentPlanMonths int         `json:"installmentPlanMonths"`
	IsInterestFree        bool        `json:"isInterestFree"`
	InterestPayer         *string     `json:"interestPayer"`
	ApproveNo             string      `json:"approveNo"`
	UseCardPoint          bool        `json:"useCardPoint"`
	CardType              string      `json:"cardType"`
	OwnerType             string      `json:"ownerType"`
	AcquireStatus         string      `json:"acquireStatus"`
	Amount                json.Number `json:"amount"`
}

type cancelJSON struct {
	TransactionKey         string      `json:"transactionKey"`
	CancelReason           string      `json:"cancelReason"`
	TaxExemptionAmount     json.Number `json:"taxExemptionAmount"`
	CanceledAt             string      `json:"canceledAt"`
	TransferDiscountAmount json.Number `json:"transferDiscountAmount"`
	EasyPayDiscountAmount  json.Number `json:"easyPayDiscountAmount"`
	ReceiptKey             string      `json:"receiptKey"`
	CancelAmount           json.Number `json:"cancelAmount"`
	TaxFreeAmount          json.Number `json:"taxFreeAmount"`
	RefundableAmount       json.Number `json:"refundableAmount"`
	CardDiscountAmount     json.Number `json:"cardDiscountAmount"`
	CancelStatus           string      `json:"cancelStatus"`
	CancelRequestID        *string     `json:"cancelRequestId"`
}

type failureJSON struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

type urlJSON struct {
	URL string `json:"url"`
}

type transactionJSON struct {
	MID            string      `json:"mId"`
	TransactionKey string      `json:"transactionKey"`
	PaymentKey     string      `json:"paymentKey"`
	OrderID        string      `json:"orderId"`
	Method         string      `json:"method"`
	CustomerKey    *string     `json:"customerKey"`
	UseEscrow      bool        `json:"useEscrow"`
	ReceiptURL     string      `json:"receiptUrl"`
	Status         string      `json:"status"`
	TransactionAt  string      `json:"transactionAt"`
	Currency       string      `json:"currency"`
	Amount         json.Number `json:"amount"`
}

type feeJSON struct {
	Type string      `json:"type"`
	Fee  json.Number `json:"fee"`
}

type settlementJSON struct {
	MID            string      `json:"mId"`
	PaymentKey     string      `json:"paymentKey"`
	TransactionKey string      `json:"transactionKey"`
	OrderID        string      `json:"orderId"`
	Currency       string      `json:"currency"`
	Method         string      `json:"method"`
	Amount         json.Number `json:"amount"`
	InterestFee    json.Number `json:"interestFee"`
	Fee            json.Number `json:"fee"`
	Fees           []feeJSON   `json:"fees,omitempty"`
	SupplyAmount   json.Number `json:"supplyAmount"`
	Vat            json.Number `json:"vat"`
	PayOutAmount   json.Number `json:"payOutAmount"`
	ApprovedAt     string      `json:"approvedAt"`
	SoldDate       string      `json:"soldDate"`
	PaidOutDate    string      `json:"paidOutDate"`
	Cancel         any         `json:"cancel"`
}

func (s *Sandbox) paymentJSONLocked(p *payment) paymentJSON {
	vat := p.amount.Div(decimal.NewFromInt(11)).Round(0)
	out := paymentJSON{
		MID: s.opts.MID, PaymentKey: p.key, OrderID: p.orderID, OrderName: p.orderName,
		TaxExemptionAmount: "0", Status: p.status, RequestedAt: formatTime(p.requestedAt),
		Cancels: nil, Type: "NORMAL", Country: "KR", IsPartialCancelable: true,
		Currency: string(p.currency), TotalAmount: num(p.amount), BalanceAmount: num(p.balance),
		SuppliedAmount: num(p.amount.Sub(vat)), Vat: num(vat), TaxFreeAmount: "0",
		Method: p.method, Version: "2022-11-16", v14: s.opts.APIVersion == APIVersion14,
		Checkout: &urlJSON{URL: s.opts.BaseURL + "/checkout/" + p.key},
	}
	if p.va == nil && (p.status == "READY" || p.status == "IN_PROGRESS" || p.status == "EXPIRED") {
		out.Method = ""
	}
	secret := p.secret
	out.Secret = &secret
	if p.lastTxKey != "" {
		k := p.lastTxKey
		out.LastTransactionKey = &k
	}
	if !p.approvedAt.IsZero() {
		a := formatTime(p.approvedAt)
		out.ApprovedAt = &a
		out.Receipt = &urlJSON{URL: s.opts.BaseURL + "/receipt/" + p.key}
	}
	if !p.approvedAt.IsZero() && p.method != methodVirtualAccount {
		out.Card = &cardJSON{IssuerCode: "61", AcquirerCode: "31", Number: "43301234****123*", ApproveNo: "00000000",
			CardType: "신용", OwnerType: "개인", AcquireStatus: "READY", Amount: num(p.amount)}
	}
	if p.va != nil {
		refund := "NONE"
		if len(p.cancels) > 0 && p.deposited {
			refund = "COMPLETED"
		}
		out.VirtualAccount = map[string]any{
			"accountType": "일반", "accountNumber": p.va.number, "bankCode": p.va.bank,
			"customerName": p.va.holder, "dueDate": formatTime(p.va.due), "refundStatus": refund,
			"expired": p.status == "EXPIRED", "settlementStatus": "INCOMPLETED", "refundReceiveAccount": nil,
		}
	}
	if p.failure != nil {
		out.Failure = &failureJSON{Code: p.failure.code, Message: p.failure.message}
	}
	for _, c := range p.cancels {
		out.Cancels = append(out.Cancels, cancelJSON{
			TransactionKey: c.txKey, CancelReason: c.reason, TaxExemptionAmount: "0", CanceledAt: formatTime(c.at),
			TransferDiscountAmount: "0", EasyPayDiscountAmount: "0", ReceiptKey: "rk_" + c.txKey[:16],
			CancelAmount: num(c.amount), TaxFreeAmount: "0", RefundableAmount: num(c.refundable),
			CardDiscountAmount: "0", CancelStatus: "DONE",
		})
	}
	return out
}
