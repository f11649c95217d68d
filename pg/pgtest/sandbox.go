package pgtest

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/paygate/paygate/pg"
)

// Fault scripts how a sandbox PG answers the approval of one payment.
type Fault string

const (
	// FaultNone: the approval succeeds.
	FaultNone Fault = ""
	// FaultDecline: the PG declines with a card-company refusal.
	FaultDecline Fault = "decline"
	// FaultTimeout: the PG approves (the payment is captured on its side)
	// but the response is lost: the client sees a timeout or a reset.
	FaultTimeout Fault = "timeout"
	// FaultTimeoutUnapproved: the request reaches the PG, nothing is
	// approved, and no response comes back.
	FaultTimeoutUnapproved Fault = "timeout-unapproved"
	// FaultError500: the PG fails with a 5xx before approving.
	FaultError500 Fault = "error500"
)

// Faults lists every scripted fault.
var Faults = []Fault{FaultNone, FaultDecline, FaultTimeout, FaultTimeoutUnapproved, FaultError500}

// Valid reports whether f is a known fault.
func (f Fault) Valid() bool {
	for _, v := range Faults {
		if v == f {
			return true
		}
	}
	return false
}

// PayRequest plays the buyer in the PG's payment window.
type PayRequest struct {
	OrderID string
	Amount  pg.Money
	// Fault scripts the approval of this payment.
	Fault Fault
	// Device is the window the buyer pays in (pg.DevicePC when empty); a
	// sandbox without a window for it refuses the payment.
	Device pg.Device
}

// ErrNoWindow is wrapped by Pay's error for a device the sandbox has no
// payment window for.
var ErrNoWindow = errors.New("pgtest: no payment window for the device")

// CheckDevice returns nil when d is among the devices a sandbox has windows
// for (empty meaning pg.DevicePC), and an error wrapping ErrNoWindow
// otherwise.
func CheckDevice(d pg.Device, windows ...pg.Device) error {
	for _, w := range windows {
		if d.OrPC() == w {
			return nil
		}
	}
	return fmt.Errorf("%w %q", ErrNoWindow, d)
}

// PayResult is what the PG's success redirect would carry back to the shop.
type PayResult struct {
	// PaymentKey is the PG's key when the redirect carries one (Toss).
	PaymentKey string
	// Redirect holds the redirect's parameters by the PG's own names
	// (KakaoPay "pg_token"; Inicis "authToken", "authUrl", "netCancelUrl",
	// "idc_name", ...), exactly what goes into pg.ApproveRequest.Redirect.
	Redirect map[string]string
}

// LedgerEntry is the sandbox PG's own record of one payment: the "PG side"
// that invariant checks compare paygate's data with.
type LedgerEntry struct {
	OrderID    string
	PaymentKey string
	// Approved is the captured amount (unset when never approved).
	Approved pg.Money
	// Canceled is the total refunded.
	Canceled pg.Money
	// Approvals counts approvals applied (must never exceed 1); Cancels
	// counts cancels applied.
	Approvals int
	Cancels   int
	Status    pg.Status
}

// Sandbox is what every sandbox PG (tosspaytest, kakaopaytest, inicistest)
// offers, so tests, benchmarks and the example server treat them alike,
// whatever the PG. A PG-specific feature a harness needs is a small
// interface of its own (WebhookSandbox, VirtualAccountSandbox), never a
// type switch on a sandbox's concrete type.
type Sandbox interface {
	// Handler serves the PG's HTTP API, and the sandbox's test controls
	// under ControlPrefix. It can be mounted under a prefix (the example
	// server serves it under /sandbox/{pg}/) as long as the sandbox was
	// told its public base URL.
	http.Handler
	// Pay plays the buyer for an order that was prepared (where the PG
	// needs Prepare) and returns what the redirect carries.
	Pay(ctx context.Context, req PayRequest) (PayResult, error)
	// Ledger returns the PG-side record of every payment, in creation order.
	Ledger() []LedgerEntry
	// Scripter scripts the next call of an op about an order.
	Scripter
	// SetLatency delays every later answer of the PG's API by d (0 for
	// none); a client that gives up first gets no answer.
	SetLatency(d time.Duration)
	// Close releases the answers the sandbox holds back (lost answers
	// held until HoldMax) and stops what it runs in the background
	// (webhook deliveries). Serving after Close still works.
	Close()
}

// WebhookDelivery is one notification as it arrives at the host: headers,
// raw body and the peer address.
type WebhookDelivery struct {
	Header     http.Header
	Body       []byte
	RemoteAddr string
}

// Request turns the delivery into what pg.WebhookParser takes, with the
// host's lookup of stored payment secrets (nil when it has none).
func (d WebhookDelivery) Request(secret func(ctx context.Context, paymentKey, orderID string) (string, bool)) pg.WebhookRequest {
	return pg.WebhookRequest{Header: d.Header.Clone(), Body: append([]byte(nil), d.Body...), RemoteAddr: d.RemoteAddr, Secret: secret}
}

// WebhookSandbox is implemented by sandboxes of PGs that notify the shop, so
// the conformance suite can check webhook parsing, verification and
// deduplication without a listening host.
type WebhookSandbox interface {
	Sandbox
	// SetWebhookURL changes where the PG sends its notifications ("" for
	// nowhere); the notifications Webhooks returns are kept either way.
	SetWebhookURL(url string)
	// Webhooks returns the PG's notification of the latest news about the
	// order's payment, twice: as first sent, and as the PG's own retry of
	// that same news (new transmission headers, same content).
	Webhooks(ctx context.Context, orderID string) (first, retry WebhookDelivery, err error)
	// ForgedWebhooks returns deliveries an attacker could send about the
	// order (wrong secret, tampered status or amount, unknown payment, wrong
	// source address); a verifying parser must refuse every one of them
	// when the host knows what Approve returned.
	ForgedWebhooks(ctx context.Context, orderID string) ([]WebhookDelivery, error)
}

// VirtualAccountSandbox is implemented by sandboxes of PGs that issue
// virtual accounts (Toss, Inicis): the approval issues the account, the
// buyer's later transfer captures the money and the PG notifies the shop.
type VirtualAccountSandbox interface {
	WebhookSandbox
	// PayVirtualAccount plays a buyer who picks a virtual account; the
	// approval that follows issues it (WAITING_FOR_DEPOSIT).
	PayVirtualAccount(ctx context.Context, req PayRequest) (PayResult, error)
	// Deposit plays the buyer's transfer into the order's account and has
	// the PG notify the shop. It fails for an order without a waiting (or
	// with an expired) account.
	Deposit(ctx context.Context, orderID string) error
}
