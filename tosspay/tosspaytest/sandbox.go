package tosspaytest

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/shopspring/decimal"

	"github.com/paygate/paygate/pg"
	"github.com/paygate/paygate/pg/pgtest"
)

// DefaultSecretKey is the secret key the sandbox accepts when Options sets
// none. It is a test key, so TossPayments-Test-Code is honoured.
const DefaultSecretKey = "test_sk_sandbox_paygate"

// DefaultMID is the merchant id the sandbox reports.
const DefaultMID = "tvivarepublica"

// Toss's time limits (pg-apis.md 1.1) and idempotency key lifetime (1.4).
const (
	WindowTTL      = 30 * time.Minute    // READY: the payment window
	ConfirmTTL     = 10 * time.Minute    // IN_PROGRESS: confirm must follow authentication
	IdempotencyTTL = 15 * 24 * time.Hour // a key is valid 15 days from first use
)

// DefaultWebhookSchedule is Toss's retry schedule: the first send, then 7
// retries after 1, 4, 16, 64, 256, 1024 and 4096 minutes.
var DefaultWebhookSchedule = []time.Duration{
	time.Minute, 4 * time.Minute, 16 * time.Minute, 64 * time.Minute,
	256 * time.Minute, 1024 * time.Minute, 4096 * time.Minute,
}

// Options configure a sandbox.
type Options struct {
	// BaseURL is the sandbox's public address, e.g.
	// "http://127.0.0.1:8080/sandbox/tosspay". Its path is the prefix the
	// sandbox is mounted under: requests are served with or without it.
	// NewServer fills it in.
	BaseURL string
	// SecretKey is the only key accepted (DefaultSecretKey when empty).
	SecretKey string
	// MID is reported as mId (DefaultMID when empty).
	MID string
	// Now is the clock for expiries, timestamps and settlement dates
	// (time.Now when nil).
	Now func() time.Time
	// WebhookURL receives PAYMENT_STATUS_CHANGED deliveries; empty sends
	// none (Webhooks still builds them for tests).
	WebhookURL string
	// WebhookSchedule is the wait before each retry of a failed delivery
	// (DefaultWebhookSchedule); compress it for tests.
	WebhookSchedule []time.Duration
	// WebhookClient sends deliveries (a client with a 10 s timeout when
	// nil, Toss's limit for the receiver's answer).
	WebhookClient *http.Client
	// HoldMax bounds how long a response that is to be lost is held before
	// the connection is cut (1 minute when zero).
	HoldMax time.Duration
	// FeeRate is the settlement fee as a fraction of the amount (0.032 when
	// zero).
	FeeRate decimal.Decimal
	// OmitSettlementFees answers GET /v1/settlements without fees[], as
	// some live answers do; the top-level fee still carries the total.
	OmitSettlementFees bool
	// APIVersion is the Toss API version the merchant is pinned to, which
	// shapes every Payment the sandbox writes: APIVersion14 ("1.4") names
	// institutions (card.company, virtualAccount.bank, transfer.bank),
	// calls lastTransactionKey transactionKey and writes easyPay as a bare
	// string; anything else is version 2022-11-16 with numeric codes.
	APIVersion string
}

// APIVersion14 is the last version before Toss's calendar versions, still
// used by merchants who never moved on.
const APIVersion14 = "1.4"

// Script is what the sandbox does with one payment's confirm (or, through
// FailNext, with the next API call of any kind).
type Script struct {
	Fault pgtest.Fault
	// DeclineCode is the Toss code of a FaultDecline
	// (REJECT_CARD_COMPANY when empty).
	DeclineCode string
	// Latency is added before the sandbox answers.
	Latency time.Duration
	// Reset makes FaultTimeout and FaultTimeoutUnapproved cut the
	// connection at once instead of holding the answer until the client
	// gives up: the client sees a reset rather than a timeout.
	Reset bool
}

// Sandbox is a stateful fake of the Toss Payments core API. It implements
// pgtest.Sandbox and pgtest.WebhookSandbox and is safe for concurrent use.
type Sandbox struct {
	opts   Options
	prefix string
	mux    *http.ServeMux

	mu       sync.Mutex
	payments []*payment            // creation order
	byKey    map[string]*payment   // by paymentKey
	byOrder  map[string][]*payment // attempts per orderId, oldest first
	idem     map[idemScope]*idemEntry
	txs      []transaction
	next     []Script           // one-shot faults for the next API calls
	events   map[string][]event // PAYMENT_STATUS_CHANGED news by paymentKey, in order
	deposits map[string][]event // DEPOSIT_CALLBACK news by paymentKey, in order
	latency  time.Duration

	webhooks *dispatcher
	closed   chan struct{}
	closeMu  sync.Once
}

// payment is the PG side of one payment.
type payment struct {
	key, orderID, orderName string
	currency                pg.Currency
	amount, balance         decimal.Decimal
	method                  string
	status                  string
	requestedAt             time.Time
	authenticatedAt         time.Time
	approvedAt              time.Time
	secret                  string
	lastTxKey               string
	cancels                 []cancelRec
	script                  Script
	approvals               int
	failure                 *apiError
	// Virtual accounts: the account issued at confirm, its due date, and
	// whether the buyer deposited.
	va        *vaInfo
	deposited bool
}

type vaInfo struct {
	number, bank, holder string
	due                  time.Time
}

// methodVirtualAccount is Toss's method name for virtual accounts.
const methodVirtualAccount = "가상계좌"

// VirtualAccountTTL is how long an issued virtual account waits for the
// deposit.
const VirtualAccountTTL = 7 * 24 * time.Hour

type cancelRec struct {
	amount, refundable decimal.Decimal
	reason, txKey      string
	at                 time.Time
	// refund: money had been captured (a virtual account canceled before
	// its deposit refunds nothing).
	refund bool
}

// transaction is one approval or cancel, as GET /v1/transactions serves it.
type transaction struct {
	key, paymentKey, orderID, method, status string
	currency                                 pg.Currency
	amount                                   decimal.Decimal
	at                                       time.Time
	cancel                                   bool
}

// idemScope is what Toss keys an idempotent request by.
type idemScope struct{ key, apiKey, method, path string }

type idemEntry struct {
	firstUse time.Time
	done     bool
	status   int
	body     []byte
}

// event is one piece of webhook news about a payment.
type event struct {
	createdAt time.Time
	body      []byte
}

// New returns a sandbox. Call Close when done if it sends webhooks.
func New(opts Options) *Sandbox {
	if opts.SecretKey == "" {
		opts.SecretKey = DefaultSecretKey
	}
	if opts.MID == "" {
		opts.MID = DefaultMID
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.WebhookSchedule == nil {
		opts.WebhookSchedule = DefaultWebhookSchedule
	}
	if opts.HoldMax <= 0 {
		opts.HoldMax = time.Minute
	}
	if opts.FeeRate.IsZero() {
		opts.FeeRate = decimal.RequireFromString("0.032")
	}
	s := &Sandbox{
		opts:     opts,
		byKey:    map[string]*payment{},
		byOrder:  map[string][]*payment{},
		idem:     map[idemScope]*idemEntry{},
		events:   map[string][]event{},
		deposits: map[string][]event{},
		closed:   make(chan struct{}),
	}
	s.setBaseURL(opts.BaseURL)
	s.routes()
	if opts.WebhookURL != "" {
		s.webhooks = newDispatcher(s)
	}
	return s
}

func (s *Sandbox) setBaseURL(base string) {
	s.opts.BaseURL = strings.TrimRight(base, "/")
	s.prefix = ""
	if u, err := url.Parse(s.opts.BaseURL); err == nil {
		s.prefix = strings.TrimRight(u.Path, "/")
	}
}

// BaseURL is the address adapters are pointed at (tosspay.Config.BaseURL).
func (s *Sandbox) BaseURL() string { return s.opts.BaseURL }

// SecretKey is the key the sandbox accepts.
func (s *Sandbox) SecretKey() string { return s.opts.SecretKey }

// Close stops webhook deliveries and releases held responses.
func (s *Sandbox) Close() {
	s.closeMu.Do(func() {
		close(s.closed)
		if s.webhooks != nil {
			s.webhooks.wait()
		}
	})
}

// SetLatency adds d before every answer (0 removes it).
func (s *Sandbox) SetLatency(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.latency = d
}

// FailNext scripts the next API call, whatever it is: FaultError500 answers
// 500 before processing, FaultTimeoutUnapproved holds the call without
// processing it, FaultTimeout processes it and loses the answer,
// FaultDecline refuses a confirm. Scripts queue up, one per call.
func (s *Sandbox) FailNext(sc Script) error {
	if !sc.Fault.Valid() {
		return fmt.Errorf("tosspaytest: unknown fault %q", sc.Fault)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.next = append(s.next, sc)
	return nil
}

// ScriptPayment replaces the script of a payment's confirm.
func (s *Sandbox) ScriptPayment(paymentKey string, sc Script) error {
	if !sc.Fault.Valid() {
		return fmt.Errorf("tosspaytest: unknown fault %q", sc.Fault)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.byKey[paymentKey]
	if !ok {
		return fmt.Errorf("tosspaytest: no payment %q", paymentKey)
	}
	p.script = sc
	return nil
}

// Errors of Pay and Open.
var (
	ErrBadOrder        = errors.New("tosspaytest: orderId must be 6 to 64 ASCII letters, digits, '-' or '_'")
	ErrBadAmount       = errors.New("tosspaytest: amount must be a positive KRW, USD or JPY amount")
	ErrDuplicatedOrder = errors.New("tosspaytest: DUPLICATED_ORDER_ID: the order was already paid")
	ErrBadValidHours   = errors.New("tosspaytest: validHours must not be negative")
)

// Pay plays the buyer: it opens the payment window for (OrderID, Amount) and
// authenticates, leaving the payment IN_PROGRESS for the shop to confirm
// within ConfirmTTL. The result carries the paymentKey of Toss's success
// redirect (successUrl?paymentKey=…&orderId=…&amount=…). An order already
// paid (DONE, canceled) cannot be paid again; one whose attempt failed or
// expired can.
func (s *Sandbox) Pay(ctx context.Context, req pgtest.PayRequest) (pgtest.PayResult, error) {
	return s.PayScripted(ctx, req.OrderID, req.Amount, Script{Fault: req.Fault})
}

// PayScripted is Pay with a full script (decline code, latency).
func (s *Sandbox) PayScripted(ctx context.Context, orderID string, amount pg.Money, sc Script) (pgtest.PayResult, error) {
	return s.pay(ctx, orderID, amount, sc, "카드")
}

// PayVirtualAccount plays a buyer who picks a virtual account: confirming
// the payment issues the account (WAITING_FOR_DEPOSIT, due after
// VirtualAccountTTL), and Deposit plays the transfer.
func (s *Sandbox) PayVirtualAccount(ctx context.Context, req pgtest.PayRequest) (pgtest.PayResult, error) {
	return s.pay(ctx, req.OrderID, req.Amount, Script{Fault: req.Fault}, methodVirtualAccount)
}

// VirtualAccountRequest is a virtual account issued outside any checkout,
// as POST /v1/virtual-accounts takes it.
type VirtualAccountRequest struct {
	OrderID, OrderName, CustomerName string
	Amount                           pg.Money // KRW
	// Bank is the numeric bank code ("20" when empty).
	Bank string
	// ValidHours is how long the account waits for the deposit
	// (VirtualAccountTTL when 0).
	ValidHours int
}

// IssueVirtualAccount issues a virtual account the way
// POST /v1/virtual-accounts does, outside any checkout: the payment is
// WAITING_FOR_DEPOSIT at once (no confirm), and Deposit plays the
// transfer. Its orderId may be shorter than a checkout's (live Toss issued
// one for the order "71"). It returns the payment's key.
func (s *Sandbox) IssueVirtualAccount(ctx context.Context, req VirtualAccountRequest) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	p, err := s.issueLocked(req)
	if err != nil {
		return "", err
	}
	return p.key, nil
}

func (s *Sandbox) issueLocked(req VirtualAccountRequest) (*payment, error) {
	if !validIssuedOrderID(req.OrderID) {
		return nil, ErrBadOrder
	}
	if !req.Amount.IsSet() || !req.Amount.IsPositive() || req.Amount.Currency() != pg.KRW {
		return nil, ErrBadAmount
	}
	if req.ValidHours < 0 {
		return nil, ErrBadValidHours
	}
	now := s.opts.Now()
	for _, p := range s.byOrder[req.OrderID] {
		s.expireLocked(p, now)
		if p.status == "DONE" || p.status == "CANCELED" || p.status == "PARTIAL_CANCELED" || p.status == "WAITING_FOR_DEPOSIT" {
			return nil, ErrDuplicatedOrder
		}
	}
	ttl := VirtualAccountTTL
	if req.ValidHours > 0 {
		ttl = time.Duration(req.ValidHours) * time.Hour
	}
	name, holder, bank := req.OrderName, req.CustomerName, req.Bank
	if name == "" {
		name = "paygate order " + req.OrderID
	}
	if holder == "" {
		holder = "토스페이먼츠"
	}
	if bank == "" {
		bank = "20"
	}
	p := &payment{
		key: "tsbx" + randomID(20), orderID: req.OrderID, orderName: name,
		currency: pg.KRW, amount: req.Amount.Amount(), balance: req.Amount.Amount(),
		method: methodVirtualAccount, status: "WAITING_FOR_DEPOSIT", requestedAt: now, secret: "ps_" + randomID(20),
		va:        &vaInfo{number: "X" + randomDigits(13), bank: bank, holder: holder, due: now.Add(ttl)},
		lastTxKey: randomID(32),
	}
	s.payments = append(s.payments, p)
	s.byKey[p.key] = p
	s.byOrder[req.OrderID] = append(s.byOrder[req.OrderID], p)
	s.newsLocked(p, now)
	return p, nil
}

func (s *Sandbox) pay(ctx context.Context, orderID string, amount pg.Money, sc Script, method string) (pgtest.PayResult, error) {
	if err := ctx.Err(); err != nil {
		return pgtest.PayResult{}, err
	}
	if !sc.Fault.Valid() {
		return pgtest.PayResult{}, fmt.Errorf("tosspaytest: unknown fault %q", sc.Fault)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	p, err := s.openLocked(orderID, amount)
	if err != nil {
		return pgtest.PayResult{}, err
	}
	p.status = "IN_PROGRESS"
	p.authenticatedAt = s.opts.Now()
	p.script = sc
	p.method = method
	return pgtest.PayResult{PaymentKey: p.key, Redirect: map[string]string{
		"paymentKey": p.key, "orderId": p.orderID, "amount": p.amount.String(),
	}}, nil
}

// Open opens the payment window without the buyer authenticating: the
// payment is READY and expires after WindowTTL. Confirming it fails with
// NOT_FOUND_PAYMENT_SESSION.
func (s *Sandbox) Open(orderID string, amount pg.Money) (paymentKey string, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, err := s.openLocked(orderID, amount)
	if err != nil {
		return "", err
	}
	return p.key, nil
}

func (s *Sandbox) openLocked(orderID string, amount pg.Money) (*payment, error) {
	if !validOrderID(orderID) {
		return nil, ErrBadOrder
	}
	if !amount.IsSet() || !amount.IsPositive() || (amount.Currency() != pg.KRW && amount.Currency() != pg.USD && amount.Currency() != pg.JPY) {
		return nil, ErrBadAmount
	}
	now := s.opts.Now()
	for _, p := range s.byOrder[orderID] {
		s.expireLocked(p, now)
		if p.status == "DONE" || p.status == "CANCELED" || p.status == "PARTIAL_CANCELED" || p.status == "WAITING_FOR_DEPOSIT" {
			return nil, ErrDuplicatedOrder
		}
	}
	p := &payment{
		key: "tsbx" + randomID(20), orderID: orderID, orderName: "paygate order " + orderID,
		currency: amount.Currency(), amount: amount.Amount(), balance: amount.Amount(),
		method: "카드", status: "READY", requestedAt: now, secret: "ps_" + randomID(20),
	}
	s.payments = append(s.payments, p)
	s.byKey[p.key] = p
	s.byOrder[orderID] = append(s.byOrder[orderID], p)
	return p, nil
}

// expireLocked applies Toss's time limits lazily: READY lasts WindowTTL,
// IN_PROGRESS lasts ConfirmTTL.
func (s *Sandbox) expireLocked(p *payment, now time.Time) {
	switch {
	case p.status == "READY" && now.Sub(p.requestedAt) >= WindowTTL,
		p.status == "IN_PROGRESS" && now.Sub(p.authenticatedAt) >= ConfirmTTL,
		p.status == "WAITING_FOR_DEPOSIT" && p.va != nil && !now.Before(p.va.due):
		p.status = "EXPIRED"
		s.newsLocked(p, now)
	}
}

// latestLocked is the order's latest payment attempt, or nil.
func (s *Sandbox) latestLocked(orderID string) *payment {
	ps := s.byOrder[orderID]
	if len(ps) == 0 {
		return nil
	}
	return ps[len(ps)-1]
}

// Errors of Deposit.
var (
	ErrNoDeposit      = errors.New("tosspaytest: no virtual account waits for a deposit for this order")
	ErrDepositExpired = errors.New("tosspaytest: the virtual account expired before the deposit")
)

// Deposit plays the buyer's transfer into the order's virtual account: the
// payment becomes DONE (captured) and Toss sends DEPOSIT_CALLBACK and
// PAYMENT_STATUS_CHANGED. After the due date the account is EXPIRED and the
// deposit is refused.
func (s *Sandbox) Deposit(orderID string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.opts.Now()
	p := s.latestLocked(orderID)
	if p == nil || p.va == nil {
		return ErrNoDeposit
	}
	s.expireLocked(p, now)
	switch p.status {
	case "WAITING_FOR_DEPOSIT":
	case "EXPIRED":
		return ErrDepositExpired
	default:
		return ErrNoDeposit
	}
	p.status, p.deposited, p.approvedAt, p.approvals = "DONE", true, now, p.approvals+1
	p.lastTxKey = randomID(32)
	s.txs = append(s.txs, transaction{key: p.lastTxKey, paymentKey: p.key, orderID: p.orderID, method: p.method,
		status: "DONE", currency: p.currency, amount: p.amount, at: now})
	s.newsLocked(p, now)
	return nil
}

// Ledger returns the PG side of every payment, in creation order.
func (s *Sandbox) Ledger() []pgtest.LedgerEntry {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.opts.Now()
	out := make([]pgtest.LedgerEntry, 0, len(s.payments))
	for _, p := range s.payments {
		s.expireLocked(p, now)
		e := pgtest.LedgerEntry{OrderID: p.orderID, PaymentKey: p.key, Approvals: p.approvals, Cancels: len(p.cancels), Status: pgStatus(p.status)}
		refunded := decimal.Zero
		for _, c := range p.cancels {
			if c.refund {
				refunded = refunded.Add(c.amount)
			}
		}
		e.Canceled = mustMoney(refunded, p.currency)
		if p.approvals > 0 {
			e.Approved = mustMoney(p.amount, p.currency)
		}
		out = append(out, e)
	}
	return out
}

// Payment is the sandbox's view of one payment, for tests.
type Payment struct {
	PaymentKey, OrderID, Status, Secret string
	Amount, Balance                     pg.Money
	Approvals                           int
	Cancels                             []Cancel
}

// Cancel is one applied cancel.
type Cancel struct {
	TransactionKey string
	Amount         pg.Money
	Reason         string
	CanceledAt     time.Time
}

// Payments returns every payment, in creation order.
func (s *Sandbox) Payments() []Payment {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.opts.Now()
	out := make([]Payment, 0, len(s.payments))
	for _, p := range s.payments {
		s.expireLocked(p, now)
		v := Payment{PaymentKey: p.key, OrderID: p.orderID, Status: p.status, Secret: p.secret,
			Amount: mustMoney(p.amount, p.currency), Balance: mustMoney(p.balance, p.currency), Approvals: p.approvals}
		for _, c := range p.cancels {
			v.Cancels = append(v.Cancels, Cancel{TransactionKey: c.txKey, Amount: mustMoney(c.amount, p.currency), Reason: c.reason, CanceledAt: c.at})
		}
		out = append(out, v)
	}
	return out
}

// Transactions returns every approval and cancel, in the order they happened.
func (s *Sandbox) Transactions() []pg.Transaction {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]pg.Transaction, 0, len(s.txs))
	for _, t := range s.txs {
		out = append(out, pg.Transaction{TransactionKey: t.key, PaymentKey: t.paymentKey, OrderID: t.orderID,
			Method: pg.MethodCard, Status: pgStatus(t.status), Amount: mustMoney(t.amount, t.currency), Cancel: t.cancel, At: t.at})
	}
	return out
}

// pgStatus is the sandbox's own reading of Toss statuses as pg statuses,
// kept apart from the adapter's so that a mapping bug shows up as a
// mismatch.
func pgStatus(s string) pg.Status {
	switch s {
	case "DONE":
		return pg.StatusApproved
	case "CANCELED":
		return pg.StatusCanceled
	case "PARTIAL_CANCELED":
		return pg.StatusPartialCanceled
	case "ABORTED":
		return pg.StatusFailed
	case "EXPIRED":
		return pg.StatusExpired
	case "WAITING_FOR_DEPOSIT":
		return pg.StatusWaitingForDeposit
	default:
		return pg.StatusPending
	}
}

func mustMoney(d decimal.Decimal, c pg.Currency) pg.Money {
	m, err := pg.NewMoney(d, c)
	if err != nil {
		// Amounts only come from validated Money and subtractions bounded by
		// the balance check.
		panic(fmt.Sprintf("tosspaytest: invariant broken: %v", err))
	}
	return m
}

// validOrderID is the rule of Toss's payment window (its SDK refuses
// anything else): 6 to 64 ASCII letters, digits, '-' or '_'.
func validOrderID(id string) bool {
	if len(id) < 6 || len(id) > 64 {
		return false
	}
	for _, r := range id {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return false
		}
	}
	return true
}

// validIssuedOrderID is what the sandbox accepts as the orderId of a
// virtual account issued through POST /v1/virtual-accounts. Live Toss
// accepted "71" there (sent as a JSON number), so the window's 6-character
// minimum does not apply: 1 to 64 ASCII letters, digits, '-' or '_'.
func validIssuedOrderID(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	for _, r := range id {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return false
		}
	}
	return true
}

func randomDigits(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = '0' + b[i]%10
	}
	return string(b)
}

func randomID(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	s := base64.RawURLEncoding.EncodeToString(b)
	s = strings.NewReplacer("-", "a", "_", "b").Replace(s)
	return s[:n]
}
