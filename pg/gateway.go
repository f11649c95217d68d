package pg

import (
	"context"
	"log/slog"
	"net/http"
	"time"
)

// Gateway is what every PG adapter implements: the smallest set of calls the
// payment flow cannot do without. Everything else a PG may offer is an
// optional interface (Preparer, WebhookParser, NetCanceler,
// TransactionReporter, SettlementReporter) that the flow discovers by type
// assertion, the way database/sql discovers optional driver interfaces.
//
// Adapters only build requests and parse responses; they must be safe for
// concurrent use and must return *Error (or an error wrapping one) for every
// failed PG call, so callers can branch on the Kind.
type Gateway interface {
	// Name is the adapter's registry name ("tosspay", "kakaopay", "inicis").
	Name() string
	// Capabilities declares what the PG supports; the flow never guesses.
	Capabilities() Capabilities
	// Approve captures the payment the buyer authenticated. It must send the
	// amount of the request (the flow has checked it against the checkout)
	// and, where the PG supports one, an idempotency key derived from
	// req.PaymentID so a resend after a timeout is safe. A KindUnknown error
	// means the approval may have happened: the caller resolves it by
	// Lookup, never by approving again blindly.
	Approve(ctx context.Context, req ApproveRequest) (*Payment, error)
	// Cancel refunds req.Amount (the whole remaining balance when the amount
	// is unset) and returns the payment as the PG sees it afterwards. The PG's
	// balance guard carries req.Balance where the PG has one, so a retried
	// partial cancel cannot be applied twice.
	Cancel(ctx context.Context, req CancelRequest) (*Payment, error)
	// Lookup returns the PG's current view of a payment, by the PG's key
	// when known, otherwise by our order id (after a timeout the PG's key
	// may be unknown). A payment the PG does not have is a KindNotFound
	// error.
	Lookup(ctx context.Context, req LookupRequest) (*Payment, error)
}

// Method is a payment method.
type Method string

const (
	MethodCard           Method = "CARD"
	MethodVirtualAccount Method = "VIRTUAL_ACCOUNT"
	MethodTransfer       Method = "TRANSFER"
	MethodMobilePhone    Method = "MOBILE_PHONE"
	MethodEasyPay        Method = "EASY_PAY"
	MethodMoney          Method = "MONEY" // a wallet balance, e.g. KakaoPay money
	MethodOther          Method = "OTHER"
)

// Capabilities are declared by each adapter.
type Capabilities struct {
	PartialCancel   bool       // cancels of part of the amount
	IdempotencyKeys bool       // the PG honours an idempotency key on writes
	LookupByOrderID bool       // Lookup works with only our order id
	Webhooks        bool       // the PG notifies status changes
	VirtualAccounts bool       // the PG issues virtual accounts
	Currencies      []Currency // accepted currencies; empty means KRW only
	Methods         []Method   // methods offered; empty means any
	MinAmount       Money      // smallest amount accepted, unset if none
}

// SupportsCurrency reports whether c is accepted.
func (c Capabilities) SupportsCurrency(cur Currency) bool {
	if len(c.Currencies) == 0 {
		return cur == KRW
	}
	for _, v := range c.Currencies {
		if v == cur {
			return true
		}
	}
	return false
}

// SupportsMethod reports whether m is offered.
func (c Capabilities) SupportsMethod(m Method) bool {
	if len(c.Methods) == 0 || m == "" {
		return true
	}
	for _, v := range c.Methods {
		if v == m {
			return true
		}
	}
	return false
}

// ApproveRequest asks the PG to capture an authenticated payment.
type ApproveRequest struct {
	// PaymentID is paygate's id of this attempt ("pay_…"). Adapters derive
	// the PG idempotency key from it, so it is stable across retries and
	// restarts.
	PaymentID string
	OrderID   string
	Amount    Money
	// PaymentKey is the PG's key for the payment when the redirect carried
	// one (Toss paymentKey; KakaoPay tid comes from Prepared).
	PaymentKey string
	// Redirect holds what the PG's redirect back to the shop carried, by the
	// PG's own field names (KakaoPay "pg_token"; Inicis "authToken",
	// "authUrl", "netCancelUrl", "idc_name", ...).
	Redirect map[string]string
	// Prepared is what Prepare stored with the checkout (KakaoPay "tid",
	// "partner_user_id", ...). Empty for PGs without Prepare.
	Prepared map[string]string
}

// CancelRequest refunds all or part of a payment.
type CancelRequest struct {
	// CancelID is paygate's id of this cancel; adapters derive the PG
	// idempotency key from it.
	CancelID   string
	PaymentKey string
	OrderID    string
	// Amount to refund; unset (zero Money) means the whole balance.
	Amount Money
	// Balance is the refundable amount before this cancel, sent as the PG's
	// balance guard (Toss refundableAmount, KakaoPay
	// cancel_available_amount, Inicis confirmPrice).
	Balance Money
	// TaxFree is the tax-free part of Amount, if any.
	TaxFree Money
	Reason  string
	Method  Method
	// RefundAccount receives the refund of a deposited virtual account.
	RefundAccount *RefundAccount
	Prepared      map[string]string
}

// IsFull reports whether the request refunds the whole balance.
func (r CancelRequest) IsFull() bool {
	if !r.Amount.IsSet() {
		return true
	}
	return r.Balance.IsSet() && r.Amount.Equal(r.Balance)
}

// RefundAccount is a bank account for refunding a virtual-account payment.
type RefundAccount struct {
	Bank          string // bank code
	AccountNumber string
	HolderName    string
}

// LogValue keeps account numbers out of logs.
func (a RefundAccount) LogValue() slog.Value {
	return slog.GroupValue(slog.String("bank", a.Bank), slog.String("account", "****"))
}

// LookupRequest names a payment by the PG's key, or by our order id.
type LookupRequest struct {
	PaymentKey string
	OrderID    string
	Prepared   map[string]string
}

// Payment is the PG's view of a payment, normalised.
type Payment struct {
	PG         string
	PaymentKey string
	OrderID    string
	Status     Status
	// PGStatus is the PG's own status string, kept for operators.
	PGStatus string
	Method   Method
	// Amount is the total approved (or requested) amount; Balance is what
	// can still be refunded.
	Amount     Money
	Balance    Money
	ApprovedAt time.Time
	Cancels    []CancelRecord
	// VirtualAccount is set for virtual-account payments.
	VirtualAccount *VirtualAccount
	// Secret is a per-payment secret some PGs return and later repeat in
	// webhooks (Toss), stored to verify them.
	Secret string
	// Data is adapter-specific data the flow stores and hands back in later
	// calls' Prepared (e.g. Inicis paymethod).
	Data map[string]string
	// RequestID is the PG's id of the transaction this answer reports, when
	// the answer carries one (Toss lastTransactionKey, KakaoPay aid, Inicis
	// tid of the approval or cancel), for tracing and support requests.
	RequestID string
}

// LogValue keeps the webhook secret out of logs.
func (p Payment) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("pg", p.PG), slog.String("paymentKey", p.PaymentKey),
		slog.String("orderId", p.OrderID), slog.String("status", string(p.Status)),
		slog.String("amount", p.Amount.String()))
}

// CancelRecord is one cancel as the PG recorded it.
type CancelRecord struct {
	TransactionKey string
	Amount         Money
	Reason         string
	CanceledAt     time.Time
}

// VirtualAccount describes an issued virtual account.
type VirtualAccount struct {
	Bank          string
	AccountNumber string
	HolderName    string
	DueDate       time.Time
}

// Preparer is implemented by PGs that need a server-side call or signature
// before the buyer opens the payment window (KakaoPay ready, Inicis form
// signing).
type Preparer interface {
	Prepare(ctx context.Context, req PrepareRequest) (*Prepared, error)
}

// PrepareValidator is implemented by PGs with rules of their own for a
// checkout: the order id's alphabet and length, the lengths of the order
// name and customer id. ValidatePrepare must not call the PG or change
// anything; the flow calls it before it writes anything, so a checkout the
// PG would refuse leaves nothing behind. It returns a *Error of KindInvalid
// (Code naming the field) for a request the PG would refuse.
type PrepareValidator interface {
	ValidatePrepare(req PrepareRequest) error
}

// PrepareRequest describes the checkout being prepared.
type PrepareRequest struct {
	OrderID    string
	OrderName  string
	Amount     Money
	TaxFree    Money
	CustomerID string
	Method     Method
	// Device is where the buyer pays; the zero value is DevicePC. Adapters
	// whose PG opens a different window per device answer, in
	// Prepared.Client, the one for this device.
	Device Device
	// URLs the PG redirects the buyer to.
	SuccessURL string
	CancelURL  string
	FailURL    string
}

// Device is where the buyer opens the PG's payment window.
type Device string

// The devices a checkout is prepared for.
const (
	// DevicePC is a desktop browser (the zero value means it too).
	DevicePC Device = "pc"
	// DeviceMobile is a phone's web browser.
	DeviceMobile Device = "mobile"
	// DeviceApp is the shop's own app (a web view that can hand the buyer
	// to the PG's app).
	DeviceApp Device = "app"
)

// Valid reports whether d is a known device or empty (DevicePC).
func (d Device) Valid() bool {
	switch d {
	case "", DevicePC, DeviceMobile, DeviceApp:
		return true
	}
	return false
}

// OrPC returns d, or DevicePC when d is empty.
func (d Device) OrPC() Device {
	if d == "" {
		return DevicePC
	}
	return d
}

// Prepared is Prepare's result.
type Prepared struct {
	// Client is what the browser needs to open the PG window (redirect URL,
	// signed form fields); safe to send to the buyer.
	Client map[string]string
	// Data is stored with the checkout and handed back in ApproveRequest,
	// CancelRequest and LookupRequest.Prepared.
	Data      map[string]string
	ExpiresAt time.Time
}

// WebhookParser is implemented by PGs that send notifications. Parse must
// verify the delivery (by the payment's secret, a signature, the source
// address, or by fetching the payment back from the PG) and refuse forged
// ones with an error wrapping ErrWebhookRejected, before anything is stored.
// A genuine delivery the adapter has nothing to act on (an event type that
// carries no payment news) returns (nil, nil): the PG is answered with
// success and nothing is stored, so it does not deliver again.
type WebhookParser interface {
	ParseWebhook(ctx context.Context, req WebhookRequest) (*WebhookEvent, error)
}

// WebhookAcker is implemented by PGs that expect a particular success answer
// (Inicis: the plain text "OK"). Without it the answer is 200 with an empty
// body.
type WebhookAcker interface {
	AckWebhook(w http.ResponseWriter)
}

// ErrWebhookRejected is wrapped by ParseWebhook errors for deliveries that
// failed verification.
var ErrWebhookRejected = &Error{Kind: KindInvalid, Code: "WEBHOOK_REJECTED", Message: "webhook failed verification"}

// WebhookRequest is one delivery as received.
type WebhookRequest struct {
	Header     http.Header
	Body       []byte
	RemoteAddr string // the connection's peer address, "ip:port"
	// Secret looks up the per-payment secret stored from Payment.Secret, by
	// PG payment key or order id; ok is false when none is known.
	Secret func(ctx context.Context, paymentKey, orderID string) (secret string, ok bool)
}

// WebhookType says what a notification is about.
type WebhookType string

const (
	WebhookPaymentStatus WebhookType = "PAYMENT_STATUS_CHANGED"
	WebhookDeposit       WebhookType = "DEPOSIT"
	WebhookCancelStatus  WebhookType = "CANCEL_STATUS_CHANGED"
)

// WebhookEvent is a verified notification, normalised.
type WebhookEvent struct {
	PG   string
	Type WebhookType
	// DedupKey identifies the delivery's content: the same news delivered
	// twice has the same key.
	DedupKey   string
	PaymentKey string
	OrderID    string
	Status     Status
	Amount     Money
	OccurredAt time.Time
	// Payment is the PG's view of the payment, with its balance and
	// cancels, when the adapter has it: fetched back from the PG to verify
	// the delivery, or the delivery's own when the payment's secret
	// verified it. Nil when the delivery carries only a status.
	Payment *Payment
	// ByLookup reports that the delivery proved nothing by itself (no
	// signature or secret could be checked) and the adapter confirmed it by
	// looking the payment up at the PG instead: Payment (which must be set)
	// is the PG's answer, and nothing else of the delivery is trusted. The
	// webhook intake then keys the event by that answer and keeps no copy
	// of the delivery, so a stranger can replay a real payment's news but
	// cannot add records by varying the bytes.
	ByLookup bool
}

// NetCanceler is implemented by PGs whose approval must be undone through a
// separate net-cancel call when the merchant fails right after approving
// (Inicis 망취소). It takes the same request Approve took.
type NetCanceler interface {
	NetCancel(ctx context.Context, req ApproveRequest) error
}

// ReportQuery selects a time range of PG records, in the PG's business time
// zone (Asia/Seoul).
type ReportQuery struct {
	From, To time.Time
}

// Transaction is one approval or cancel in the PG's own records.
type Transaction struct {
	TransactionKey string
	PaymentKey     string
	OrderID        string
	Method         Method
	Status         Status
	Amount         Money // positive for approvals, the cancel amount for cancels
	Cancel         bool
	At             time.Time
}

// TransactionReporter fetches the PG's transaction records for
// reconciliation.
type TransactionReporter interface {
	Transactions(ctx context.Context, q ReportQuery) ([]Transaction, error)
}

// Settlement is one settled payment, or one cancel of it, as the PG reports
// it. Money holds no negative amounts: a cancel's amount, fee and payout,
// which the PG subtracts, are reported by magnitude with Cancel set.
type Settlement struct {
	PaymentKey string
	OrderID    string
	Method     Method
	Amount     Money
	Fee        Money
	Payout     Money
	// Cancel marks the record of a cancel, subtracted from the payout.
	Cancel    bool
	SoldDate  time.Time
	PaidOutAt time.Time
}

// SettlementReporter fetches the PG's settlement records.
type SettlementReporter interface {
	Settlements(ctx context.Context, q ReportQuery) ([]Settlement, error)
}
