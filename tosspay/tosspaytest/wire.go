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
}

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
	Fees           []feeJSON   `json:"fees"`
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
		Method: p.method, Version: "2022-11-16",
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
