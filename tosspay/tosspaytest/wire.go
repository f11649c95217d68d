package tosspaytest

import (
	"encoding/json"
	"net/http"
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

// apiError is a Toss error answer {code, message}.
type apiError struct {
	status        int
	code, message string
}

// reply is a complete answer, as stored for idempotent replays.
type reply struct {
	status int
	body   []byte
}

func errReply(e *apiError) reply {
	b, _ := json.Marshal(map[string]string{"code": e.code, "message": e.message})
	return reply{e.status, b}
}

func okReply(v any) reply {
	b, _ := json.Marshal(v)
	return reply{http.StatusOK, b}
}

func writeReply(w http.ResponseWriter, rep reply) {
	w.Header().Set("Content-Type", "application/json;charset=UTF-8")
	w.WriteHeader(rep.status)
	_, _ = w.Write(rep.body)
}

func writeError(w http.ResponseWriter, e *apiError) { writeReply(w, errReply(e)) }

type confirmRequest struct {
	PaymentKey string          `json:"paymentKey"`
	OrderID    string          `json:"orderId"`
	Amount     json.RawMessage `json:"amount"`
}

// issueRequest is POST /v1/virtual-accounts. Toss took the orderId of a
// live issue as a JSON number (71); a string or a number is read.
type issueRequest struct {
	Amount       json.RawMessage `json:"amount"`
	OrderID      json.RawMessage `json:"orderId"`
	OrderName    string          `json:"orderName"`
	CustomerName string          `json:"customerName"`
	Bank         string          `json:"bank"`
	ValidHours   int             `json:"validHours"`
}

type cancelRequest struct {
	CancelReason         string          `json:"cancelReason"`
	CancelAmount         json.RawMessage `json:"cancelAmount"`
	RefundableAmount     json.RawMessage `json:"refundableAmount"`
	TaxFreeAmount        json.RawMessage `json:"taxFreeAmount"`
	Currency             string          `json:"currency"`
	RefundReceiveAccount *struct {
		Bank          string `json:"bank"`
		AccountNumber string `json:"accountNumber"`
		HolderName    string `json:"holderName"`
	} `json:"refundReceiveAccount"`
}

// testCodes gives the HTTP status of each error code a test key may ask
// for with TossPayments-Test-Code (pg-apis.md 1.7).
var testCodes = map[string]int{
	"ALREADY_PROCESSED_PAYMENT": 400, "PROVIDER_ERROR": 400, "EXCEED_MAX_CARD_INSTALLMENT_PLAN": 400,
	"INVALID_REQUEST": 400, "NOT_ALLOWED_POINT_USE": 400, "INVALID_API_KEY": 400, "INVALID_REJECT_CARD": 400,
	"BELOW_MINIMUM_AMOUNT": 400, "INVALID_CARD_EXPIRATION": 400, "INVALID_STOPPED_CARD": 400,
	"EXCEED_MAX_DAILY_PAYMENT_COUNT": 400, "NOT_SUPPORTED_INSTALLMENT_PLAN_CARD_OR_MERCHANT": 400,
	"INVALID_CARD_INSTALLMENT_PLAN": 400, "NOT_SUPPORTED_MONTHLY_INSTALLMENT_PLAN": 400,
	"EXCEED_MAX_PAYMENT_AMOUNT": 400, "NOT_FOUND_TERMINAL_ID": 400, "INVALID_AUTHORIZE_AUTH": 400,
	"INVALID_CARD_LOST_OR_STOLEN": 400, "RESTRICTED_TRANSFER_ACCOUNT": 400, "INVALID_CARD_NUMBER": 400,
	"INVALID_UNREGISTERED_SUBMALL": 400, "NOT_REGISTERED_BUSINESS": 400, "EXCEED_MAX_ONE_DAY_WITHDRAW_AMOUNT": 400,
	"EXCEED_MAX_ONE_TIME_WITHDRAW_AMOUNT": 400, "CARD_PROCESSING_ERROR": 400, "EXCEED_MAX_AMOUNT": 400,
	"INVALID_ACCOUNT_INFO_RE_REGISTER": 400, "NOT_AVAILABLE_PAYMENT": 400, "UNAPPROVED_ORDER_ID": 400,
	"EXCEED_MAX_MONTHLY_PAYMENT_AMOUNT": 400, "UNAUTHORIZED_KEY": 401,
	"REJECT_CARD_PAYMENT": 403, "REJECT_CARD_COMPANY": 403, "FORBIDDEN_REQUEST": 403, "REJECT_ACCOUNT_PAYMENT": 403,
	"REJECT_TOSSPAY_INVALID_ACCOUNT": 403, "EXCEED_MAX_AUTH_COUNT": 403, "EXCEED_MAX_ONE_DAY_AMOUNT": 403,
	"NOT_AVAILABLE_BANK": 403, "INVALID_PASSWORD": 403, "INCORRECT_BASIC_AUTH_FORMAT": 403, "FDS_ERROR": 403,
	"NOT_FOUND_PAYMENT": 404, "NOT_FOUND_PAYMENT_SESSION": 404, "NOT_FOUND": 404,
	"FAILED_INTERNAL_SYSTEM_PROCESSING": 500, "FAILED_PAYMENT_INTERNAL_SYSTEM_PROCESSING": 500, "UNKNOWN_PAYMENT_ERROR": 500,
	"NOT_SUPPORTED_MONTHLY_INSTALLMENT_PLAN_BELOW_AMOUNT": 400, "FORBIDDEN_CONSECUTIVE_REQUEST": 403,
	"ALREADY_CANCELED_PAYMENT": 400, "INVALID_REFUND_ACCOUNT_INFO": 400, "EXCEED_CANCEL_AMOUNT_DISCOUNT_AMOUNT": 400,
	"INVALID_REFUND_ACCOUNT_NUMBER": 400, "INVALID_BANK": 400, "NOT_MATCHES_REFUNDABLE_AMOUNT": 400,
	"REFUND_REJECTED": 400, "ALREADY_REFUND_PAYMENT": 400, "FORBIDDEN_BANK_REFUND_REQUEST": 400,
	"NOT_CANCELABLE_AMOUNT": 403, "NOT_CANCELABLE_PAYMENT": 403, "EXCEED_MAX_REFUND_DUE": 403,
	"NOT_ALLOWED_PARTIAL_REFUND_WAITING_DEPOSIT": 403, "NOT_ALLOWED_PARTIAL_REFUND": 403,
	"NOT_CANCELABLE_PAYMENT_FOR_DORMANT_USER": 403, "EXCEED_CANCEL_LIMIT": 403,
	"FAILED_REFUND_PROCESS": 500, "FAILED_PARTIAL_REFUND": 500, "FAILED_METHOD_HANDLING_CANCEL": 500, "COMMON_ERROR": 500,
	"DUPLICATED_ORDER_ID": 400, "DUPLICATED_REQUEST": 400, "ALREADY_COMPLETED_PAYMENT": 400, "ALREADY_REFUNDING_PAYMENT": 400,
	"INVALID_ORDER_ID": 400, "API_VERSION_UPDATE_NEEDED": 400, "MAINTAINED_METHOD": 400,
	"PAY_PROCESS_CANCELED": 400, "PAY_PROCESS_ABORTED": 400, "EXCEED_MAX_REFUND_AMOUNT": 403,
	"NOT_FOUND_BILLING": 404, "NOT_FOUND_MERCHANT": 404, "FAILED_DB_PROCESSING": 500, "FAILED_METHOD_HANDLING": 500,
	"UNKNOWN_ERROR": 500, "FAILED_BILLING_AUTO_CANCEL": 500, "IDEMPOTENT_REQUEST_PROCESSING": 409,
	"INVALID_IDEMPOTENCY_KEY": 400,
}
